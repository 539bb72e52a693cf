"""Coverage of 95 % intervals over many simulated surveys (not a CI test; slow).

For each replicate seed, the demo's data-generating process draws a new survey year
(respondents and answers, including item non-response in the change-resistance items),
the pipeline's weights and models are fitted, and we record whether each interval covers
the replicate's true slope. Usage:

    .venv/bin/python scripts/coverage_simulation.py --reps 200 --year 2019 [--jobs N]

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

from analysis import config, derive, models, weights
from analysis.register import load_register
from demo import generate as demo

OUTCOMES = ("etterutdanning_ikt", "barriere_endringsvilje", "evaluerer_effekt")
TERMS = {"ln_pop_c": "b_log_population", "cri_c": "b_change_resistance_index"}


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
            "design": models.svyglm(formula, d).coefs(),
            "model": models.tidy_statsmodels(
                smf.logit(formula, complete).fit(disp=False, cov_type="HC1")
            ),
        }
        for kind, coefs in fits.items():
            c = coefs.set_index("term")
            for term, key in TERMS.items():
                true = truth[outcome][key]
                rows.append(
                    {
                        "seed": seed,
                        "outcome": outcome,
                        "kind": kind,
                        "term": term,
                        "estimate": c.loc[term, "estimate"],
                        "true": true,
                        "covered": bool(c.loc[term, "ci_low"] <= true <= c.loc[term, "ci_high"]),
                    }
                )
    return rows


_WORKER: dict = {}


def _init_worker() -> None:
    _WORKER["reg"], _WORKER["th"] = load_register(), config.SizeThresholds()


def _replicate(task: tuple[int, int]) -> list[dict]:
    year, seed = task
    return replicate(_WORKER["reg"], year, seed, _WORKER["th"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--year", type=int, default=2019)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    a = ap.parse_args()
    t0 = time.time()
    seeds = range(a.first_seed, a.first_seed + a.reps)
    # one replicate per task; each worker loads the register once; results in seed order
    with ProcessPoolExecutor(a.jobs, initializer=_init_worker) as pool:
        parts = pool.map(_replicate, [(a.year, seed) for seed in seeds], chunksize=4)
        rows = [r for part in parts for r in part]
    df = pd.DataFrame(rows)
    g = df.groupby(["outcome", "kind", "term"])
    summary = g.agg(
        coverage=("covered", "mean"),
        reps=("covered", "size"),
        mean_bias=("estimate", lambda s: float(np.mean(s - df.loc[s.index, "true"]))),
    ).reset_index()
    summary["mc_se"] = np.sqrt(summary["coverage"] * (1 - summary["coverage"]) / summary["reps"])
    print(summary.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(f"{a.reps} replicates in {time.time() - t0:.0f} s on {a.jobs} worker(s)")
    out = config.BUILD_DIR / f"coverage_{a.year}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(summary.to_json(orient="records", indent=2))


if __name__ == "__main__":
    main()
