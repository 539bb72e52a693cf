"""Coverage of 95 % intervals over many simulated surveys (not a CI test; slow).

For each replicate seed, the demo's data-generating process draws a new survey year
(every municipality's answers, including item non-response in the change-resistance items,
and the respondents, whose response rises with population within each size class).

* ``--study slopes``: the pipeline's weights and M1 models are fitted (logistic with the
  re-calibrated jackknife variance the pages publish and with the Taylor variance, model-based
  HC1, and the survey-weighted ordered logit of success with tailored services), and we
  record whether each interval covers the replicate's true slope.
* ``--study misspecified``: a finite population M1 does not describe (change resistance
  measured with error by the index, a squared term in log population, response rising with
  size within classes); M1's design-based intervals (jackknife and Taylor) against the census
  parameter (M1 fitted to every municipality) and against the structural slopes.
* ``--study shares``: the pipeline's design-based shares by size class (re-calibrated jackknife,
  as published, and Taylor, both raking-aware) are compared with the finite-population shares
  of that replicate: bias, the SE against the spread over replicates, and coverage.
* ``--study changes``: the change from the year before (``--year`` and the year before it),
  from two surveys of fixed finite populations whose answers persist from year to year: the
  pipeline's panel-aware interval against the finite-population change, beside the same
  estimate with the years treated as independent samples.

Usage:

    .venv/bin/python scripts/coverage_simulation.py --study shares --reps 300 --year 2019

Replicates run in parallel worker processes (``--jobs``, default: all cores); each replicate
depends only on its seed, so the result does not depend on the number of workers.

Prints a table of coverage (share of intervals covering) with its Monte Carlo SE and writes
``build/coverage_<year>.json``.
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf

from analysis import config, derive, estimates, models, replication, weights
from analysis.register import load_register, size_class
from demo import generate as demo

OUTCOMES = ("etterutdanning_ikt", "barriere_endringsvilje", "evaluerer_effekt")
SHARES = ("etterutdanning_ikt", "barriere_endringsvilje", "evaluerer_effekt", "handlingsplan")
TERMS = {"ln_pop_c": "b_log_population", "cri_c": "b_change_resistance_index"}


def _row(seed: int, outcome: str, kind: str, term: str, est, true: float) -> dict:
    """One interval of one replicate: ``est`` has estimate, se, ci_low and ci_high."""
    return {
        "seed": seed,
        "outcome": outcome,
        "kind": kind,
        "term": term,
        "estimate": est["estimate"],
        "se": est["se"],
        "true": true,
        "covered": bool(est["ci_low"] <= true <= est["ci_high"]),
    }


def replicate(reg, year: int, seed: int, th: config.SizeThresholds) -> list[dict]:
    """Simulate one survey year and fit the M1 models; one row per (outcome, kind, term)."""
    sample, truth = demo.simulate_year(reg, year, seed)
    frame = reg.year(year)[["kommunenr", "population", "county_nr", "region"]]
    d = sample.merge(frame, on="kommunenr", how="left")
    d["year"] = year
    d = derive.add_derived(d, th)
    d["cri_c"] = d["_cri_true"] - 3  # the observed index (items with item non-response)
    d = weights.weight_year(d, reg.year(year), th).data
    rows = []
    for outcome in OUTCOMES:
        formula = f"{outcome} ~ ln_pop_c + cri_c"
        complete = d.dropna(subset=[outcome, "ln_pop_c", "cri_c"])
        fits = {
            "design (Taylor)": models.svyglm(formula, d, variance="taylor").coefs(),
            "design, re-calibrated JKn": models.svyglm(formula, d).coefs(),
            "model": models.tidy_statsmodels(
                smf.logit(formula, complete).fit(disp=False, cov_type="HC1")
            ),
        }
        unmet = replication.replicates(d, fpc=False)[
            2
        ]  # replicates whose raking kept its last iterate
        for kind, coefs in fits.items():
            c = coefs.set_index("term")
            for term, key in TERMS.items():
                row = _row(seed, outcome, kind, term, c.loc[term], truth[outcome][key])
                rows.append({**row, "unmet_replicates": unmet} if "JKn" in kind else row)
    # the ordered logit of success with tailored services (1-5), as published (models.svyolr)
    fit = models.svyolr("suksess_tjenester ~ ln_pop_c + cri_c", d)
    c = fit.coefs().set_index("term")
    for term, key in TERMS.items():
        true = truth["suksess_tjenester"][key]
        rows.append(_row(seed, "suksess_tjenester", "design (svyolr)", term, c.loc[term], true))
    return rows


#: Finite population of the share study: (b_x, b_c, population share) of each binary item.
POPULATION_ITEMS = {
    "etterutdanning_ikt": (0.60, -0.35, 0.30),
    "barriere_endringsvilje": (-0.10, 1.10, 0.68),
    "evaluerer_effekt": (0.50, -0.30, 0.40),
    "handlingsplan": (0.40, -0.20, 0.78),
}
POPULATION_SEED = 20260101


def finite_population(reg, year: int) -> pd.DataFrame:
    """Every municipality's answers, drawn once (independent Bernoulli answers; not the demo's
    systematic draws, which fix the respondents' totals and leave no sampling variance)."""
    from scipy import optimize, special

    rng = np.random.default_rng([POPULATION_SEED, year])
    pop = reg.year(year)[["kommunenr", "population", "county_nr", "region"]].copy()
    x = np.log(pop["population"].to_numpy(float)) - derive.LN_POP_CENTRE
    cri_c = -0.15 * x + rng.normal(0, 0.8, len(pop))
    pop["cri_c_true"] = cri_c
    for item, (bx, bc, share) in POPULATION_ITEMS.items():
        lin = bx * x + bc * cri_c
        a = optimize.brentq(lambda a, lin=lin, t=share: special.expit(a + lin).mean() - t, -15, 15)
        pop[item] = (rng.uniform(size=len(pop)) < special.expit(a + lin)).astype(float)
    return pop


def replicate_shares(reg, year: int, seed: int, th: config.SizeThresholds) -> list[dict]:
    """Draw the respondents of one survey from the fixed finite population; the pipeline's
    shares by size class against the population's.

    Response as in the demo: a weighted draw without replacement with weights
    exp(0.45 ln(population) + 1.3 v), v drawn anew for each survey, so response is random and
    rises with population within each size class (missing at random given population)."""
    pop = _WORKER.setdefault(("population", year), finite_population(reg, year))
    d = derive.add_derived(_respondents(pop, year, seed), th)
    pop_class = size_class(pop["population"], th).astype(str).to_numpy()
    rows = []
    for kind, bands, ln_pop in (
        ("raked: size class", False, False),
        ("raked: bands", True, False),
        ("calibrated: bands + ln(pop)", True, True),  # the pipeline's weights
    ):
        w = weights.weight_year(d, reg.year(year), th, bands=bands, ln_pop=ln_pop).data
        rows += _share_rows(w, pop, pop_class, seed, kind)
    rows += _jackknife_rows(w, pop, pop_class, seed, "calibrated: bands + ln(pop), JKn")
    return rows


def _jackknife_rows(d, pop, pop_class, seed: int, kind: str) -> list[dict]:
    """The same shares with re-calibrated JKn replicate variance, as the pages publish them
    (estimates.by_size_class; logit interval, exact at 0 or 100 %, as the Taylor rows)."""
    d = d.reset_index(drop=True)
    unmet = replication.replicates(d)[2]
    rows = []
    for outcome in POPULATION_ITEMS:
        true = {"all": pop[outcome].mean(), **pop[outcome].groupby(pop_class).mean().to_dict()}
        for group, r in (
            estimates.by_size_class(d, outcome, share=True).set_index("group").iterrows()
        ):
            row = _row(seed, outcome, kind, group, r, true[group])
            rows.append({**row, "unmet_replicates": unmet})
    return rows


def _share_rows(d, pop, pop_class, seed: int, kind: str) -> list[dict]:
    """The shares with the linearised variance (svy, calibration residuals swept out)."""
    rows = []
    for outcome in POPULATION_ITEMS:
        est = estimates.by_size_class(d, outcome, share=True, variance="taylor").set_index("group")
        true = {"all": pop[outcome].mean(), **pop[outcome].groupby(pop_class).mean().to_dict()}
        for group, r in est.iterrows():
            rows.append(_row(seed, outcome, kind, group, r, true[group]))
    return rows


#: Changes study: the chance that a municipality gives the same answer as the year before.
PERSISTENCE = 0.6


def panel_populations(reg, year: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The finite populations of ``year - 1`` and ``year`` (each as :func:`finite_population`),
    with persistent answers: a municipality keeps its answer of the year before (that of its
    predecessor, by ``panel_id``) with probability :data:`PERSISTENCE`."""
    from analysis import trends

    before, now = finite_population(reg, year - 1), finite_population(reg, year)
    before = before.merge(trends.panel_map(reg, year - 1, year), on="kommunenr")
    now["panel_id"] = now["kommunenr"]
    prev = before.drop_duplicates("panel_id").set_index("panel_id")
    rng = np.random.default_rng([POPULATION_SEED, year, 3])
    for item in POPULATION_ITEMS:
        keep = (rng.uniform(size=len(now)) < PERSISTENCE) & now["panel_id"].isin(prev.index)
        now.loc[keep, item] = prev.loc[now.loc[keep, "panel_id"], item].to_numpy()
    return before, now


def _respondents(pop: pd.DataFrame, year: int, seed: int) -> pd.DataFrame:
    """One survey's respondents (the draw of :func:`replicate_shares` and the changes study):
    weighted without replacement with weights exp(0.45 ln(population) + 1.3 v)."""
    rng = np.random.default_rng([seed, year, 2])
    v = rng.normal(size=len(pop))
    w = np.exp(0.45 * np.log(pop["population"].to_numpy(float)) + 1.3 * v)
    keys = rng.uniform(size=len(pop)) ** (1 / w)
    return pop.iloc[np.sort(np.argsort(-keys)[: demo.RESPONDENTS[year]])].assign(year=year)


def replicate_changes(reg, year: int, seed: int, th: config.SizeThresholds) -> list[dict]:
    """Two consecutive surveys from the fixed panel populations (response drawn anew each
    year, so large municipalities often answer in both); the pipeline's change from the year
    before (``trends.year_over_year``: municipality as PSU, each year raked to its register)
    against the change in the finite populations, and the same with the years treated as
    independent samples (no shared PSU)."""
    from analysis import trends

    pops = _WORKER.setdefault(("panel", year), panel_populations(reg, year))
    parts = []
    for y, pop in zip((year - 1, year), pops, strict=True):
        d = derive.add_derived(_respondents(pop.drop(columns="panel_id"), y, seed), th)
        parts.append(weights.weight_year(d, reg.year(y), th).data)
    d = trends.add_panel_id(pd.concat(parts, ignore_index=True), reg, year)
    apart = d.assign(panel_id=d["year"].astype(str) + ":" + d["kommunenr"])
    rows = []
    for item in POPULATION_ITEMS:
        true = pops[1][item].mean() - pops[0][item].mean()
        for kind, data in (("panel PSU", d), ("years independent", apart)):
            est = trends.year_over_year(data, item, [year - 1, year]).iloc[0]
            rows.append(_row(seed, item, kind, f"{year}-{year - 1}", est, true))
    return rows


#: The misspecified study: (intercept target share, b_x, b_x2, b_latent) of each binary item.
MISSPECIFIED = {
    "etterutdanning_ikt": (0.30, 0.60, 0.25, -0.45),
    "evaluerer_effekt": (0.40, 0.50, -0.30, -0.35),
}


def misspecified_population(reg, year: int) -> pd.DataFrame:
    """A finite population the analysis model (M1) does not describe: the answers depend on
    a latent change resistance that the index measures with error (three noisy 1-5 items,
    10 % item non-response each, index missing below two items), and on log population
    through a squared term as well. Drawn once; the same population for every survey."""
    from scipy import optimize, special

    rng = np.random.default_rng([POPULATION_SEED, year, 1])
    pop = reg.year(year)[["kommunenr", "population", "county_nr", "region"]].copy()
    x = np.log(pop["population"].to_numpy(float)) - derive.LN_POP_CENTRE
    latent = -0.15 * x + rng.normal(0, 0.8, len(pop))
    for item in derive.CHANGE_RESISTANCE_ITEMS:
        answer = 1 + np.searchsorted([-1.4, -0.5, 0.4, 1.3], latent + rng.normal(0, 0.6, len(pop)))
        pop[item] = np.where(rng.uniform(size=len(pop)) < 0.1, np.nan, answer.astype(float))
    for item, (share, bx, bx2, bl) in MISSPECIFIED.items():
        lin = bx * x + bx2 * (x**2 - np.mean(x**2)) + bl * latent
        a = optimize.brentq(lambda a, lin=lin, t=share: special.expit(a + lin).mean() - t, -15, 15)
        pop[item] = (rng.uniform(size=len(pop)) < special.expit(a + lin)).astype(float)
    return pop


def census_targets(reg, year: int, th: config.SizeThresholds) -> dict:
    """What M1 estimates under misspecification: M1 fitted to every municipality of the
    finite population (the census parameter), beside the structural slopes."""
    pop = derive.add_derived(misspecified_population(reg, year), th)
    out = {}
    for item, (_, bx, _, bl) in MISSPECIFIED.items():
        fit = smf.logit(f"{item} ~ ln_pop_c + cri_c", pop.dropna(subset=["cri_c"])).fit(disp=False)
        out[item] = {
            "census": {t: float(fit.params[t]) for t in TERMS},
            "structural": {"ln_pop_c": bx, "cri_c": bl},
        }
    return out


def replicate_misspecified(reg, year: int, seed: int, th: config.SizeThresholds) -> list[dict]:
    """One survey from the misspecified population (response as in the share study); M1's
    design-based intervals against the census and the structural slopes."""
    key = ("misspecified", year)
    if key not in _WORKER:
        _WORKER[key] = (misspecified_population(reg, year), census_targets(reg, year, th))
    pop, targets = _WORKER[key]
    rng = np.random.default_rng([seed, year, 2])
    w = np.exp(0.45 * np.log(pop["population"].to_numpy(float)) + 1.3 * rng.normal(size=len(pop)))
    keys = rng.uniform(size=len(pop)) ** (1 / w)
    d = pop.iloc[np.sort(np.argsort(-keys)[: demo.RESPONDENTS[year]])]
    d = weights.weight_year(derive.add_derived(d.assign(year=year), th), reg.year(year), th).data
    rows = []
    for item, target in targets.items():
        for variance in ("jackknife", "taylor"):
            fit = models.svyglm(f"{item} ~ ln_pop_c + cri_c", d, variance=variance)
            c = fit.coefs().set_index("term")
            for kind, truth in target.items():
                for term, true in truth.items():
                    rows.append(_row(seed, item, f"{kind}, {variance}", term, c.loc[term], true))
    return rows


_WORKER: dict = {}


def _init_worker() -> None:
    _WORKER["reg"], _WORKER["th"] = load_register(), config.SizeThresholds()


def _replicate(task: tuple[str, int, int]) -> list[dict]:
    study, year, seed = task
    fn = {
        "shares": replicate_shares,
        "misspecified": replicate_misspecified,
        "changes": replicate_changes,
    }.get(study, replicate)
    return fn(_WORKER["reg"], year, seed, _WORKER["th"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--study", choices=("slopes", "shares", "misspecified", "changes"), default="slopes"
    )
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--year", type=int, default=2019)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    a = ap.parse_args()
    t0 = time.time()
    seeds = range(a.first_seed, a.first_seed + a.reps)
    # one replicate per task; each worker loads the register once; results in seed order
    with ProcessPoolExecutor(a.jobs, initializer=_init_worker) as pool:
        tasks = [(a.study, a.year, seed) for seed in seeds]
        parts = pool.map(_replicate, tasks, chunksize=4)
        rows = [r for part in parts for r in part]
    df = pd.DataFrame(rows)
    g = df.groupby(["outcome", "kind", "term"])
    summary = g.agg(
        coverage=("covered", "mean"),
        reps=("covered", "size"),
        mean_bias=("estimate", lambda s: float(np.mean(s - df.loc[s.index, "true"]))),
    ).reset_index()
    summary["mc_se"] = np.sqrt(summary["coverage"] * (1 - summary["coverage"]) / summary["reps"])
    if "se" in df:  # mean SE against the spread of the estimation error over replicates
        err = df["estimate"] - df["true"]
        spread = err.groupby([df["outcome"], df["kind"], df["term"]]).std()
        summary["se_ratio"] = (g["se"].mean() / spread).to_numpy()
    if "unmet_replicates" in df:  # jackknife replicates whose raking kept its last iterate
        unmet = g["unmet_replicates"].agg(lambda s: int((s > 0).sum()))
        summary["surveys_unmet"] = unmet.to_numpy()
    print(summary.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(f"{a.reps} replicates in {time.time() - t0:.0f} s on {a.jobs} worker(s)")
    out = config.BUILD_DIR / f"coverage_{a.study}_{a.year}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(summary.to_json(orient="records", indent=2))


if __name__ == "__main__":
    main()
