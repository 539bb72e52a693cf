"""Experiment for issue 9, item 8 (not used by the pipeline): does calibrating on log
population within the size classes remove the bias that raking to population bands leaves?

The surveys are those of ``coverage_simulation.py --study shares`` (same finite population,
same response model, same seeds). Each is weighted as the pipeline does (``weights.weight_year``:
bands and region cells) and, beside it, by generalised raking (w = d exp(x'lambda), Newton's
method) to the same band and region counts plus the register's total of ln(population) in
each size class. Only the point estimates are compared: the bias of the shares against the
finite population's, with its Monte Carlo SE.

Usage:

    .venv/bin/python scripts/calibration_experiment.py --reps 2000
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
import coverage_simulation as cs  # noqa: E402

from analysis import config, derive, weights  # noqa: E402
from analysis.register import load_register, size_class  # noqa: E402


def generalised_raking(d: np.ndarray, x: np.ndarray, totals: np.ndarray) -> tuple[np.ndarray, bool]:
    """w = d exp(x lambda) with x'w = totals (Newton; least squares for redundant columns)."""
    lam = np.zeros(x.shape[1])
    for _ in range(200):
        w = d * np.exp(x @ lam)
        gap = x.T @ w - totals
        if np.max(np.abs(gap) / np.maximum(np.abs(totals), 1)) < 1e-12:
            return w, True
        lam -= np.linalg.lstsq(x.T @ (w[:, None] * x), gap, rcond=None)[0]
    return w, False


def one_survey(seed: int, year: int = 2019) -> list[dict]:
    reg = cs._WORKER.setdefault("register", load_register(config.default_register_snapshot()))
    th = config.SizeThresholds()
    pop = cs._WORKER.setdefault(("population", year), cs.finite_population(reg, year))
    d = cs._respondents(pop, year, seed)  # the share study's draw
    w = weights.weight_year(derive.add_derived(d, th), reg.year(year), th).data
    w = w.reset_index(drop=True)
    regy = reg.year(year)
    bands = weights.band_labels(regy["population"], weights.band_edges(w["population"], th))
    cols, totals = [], []
    for b in sorted(w["size_band"].unique()):
        cols.append((w["size_band"] == b).to_numpy(float))
        totals.append(float((bands == b).sum()))
    for c in sorted(w["region_cell"].unique()):
        cols.append((w["region_cell"] == c).to_numpy(float))
        totals.append(float(regy["region"].isin(c.split("+")).sum()))
    ln_pop, reg_ln_pop = np.log(w["population"].astype(float)), np.log(regy["population"])
    cls, reg_cls = w["size_class"].astype(str), size_class(regy["population"], th).astype(str)
    for h in config.SIZE_CLASSES:
        cols.append((ln_pop * (cls == h)).to_numpy())
        totals.append(float(reg_ln_pop[reg_cls == h].sum()))
    calibrated, met = generalised_raking(
        w["w_base"].to_numpy(float), np.column_stack(cols), np.array(totals)
    )
    pop_cls = size_class(pop["population"], th).astype(str).to_numpy()
    rows = []
    for item in cs.POPULATION_ITEMS:
        y = w[item].to_numpy(float)
        truth = {"all": pop[item].mean(), **pop[item].groupby(pop_cls).mean().to_dict()}
        for g in ("all", *config.SIZE_CLASSES):
            m = ~np.isnan(y) & ((cls == g).to_numpy() | (g == "all"))
            for kind, wt in (
                ("bands", w["w"].to_numpy()),
                ("bands + ln(pop) by class", calibrated),
            ):
                err = float(np.average(y[m], weights=wt[m]) - truth[g])
                rows.append({"item": item, "group": g, "weights": kind, "error": err, "met": met})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=2000)
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    with ProcessPoolExecutor(a.jobs) as pool:
        parts = pool.map(one_survey, range(1, a.reps + 1), chunksize=8)
        df = pd.DataFrame([r for part in parts for r in part])
    s = df.groupby(["item", "group", "weights"])["error"].agg(bias="mean", sd="std", n="count")
    s["mc_se"] = s["sd"] / np.sqrt(s["n"])
    print(s.round(4).to_string())
    print(f"calibration met in {df['met'].mean():.1%} of surveys")


if __name__ == "__main__":
    main()
