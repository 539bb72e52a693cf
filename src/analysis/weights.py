"""Weights and design: raking each year's respondents to the register.

Design of one survey year: strata = size classes, stratum population N_h = the register's
number of municipalities in the class (finite-population correction), base weight N_h / n_h.
The base weights are raked (svy's ``weighting.rake``) to the register's municipality counts
by population band (:data:`BAND_EDGES` inside the size classes) and by region; a region with
fewer than ``MIN_REGION_RESPONDENTS`` respondents is merged with a bordering one. Variance
honours the raking: :func:`design` rakes the base weights again, so svy's Taylor
linearisation sweeps the margins out (as R's ``rake()``; cells ``cal_size``/``cal_region``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis import config
from analysis.register import size_class

#: A region with fewer respondents is merged with a neighbouring region (its raking cell).
MIN_REGION_RESPONDENTS = 5
#: Regions (landsdeler) that share a border.
REGION_NEIGHBOURS = {
    "Østlandet": ("Sørlandet", "Vestlandet", "Trøndelag"),
    "Sørlandet": ("Østlandet", "Vestlandet"),
    "Vestlandet": ("Sørlandet", "Østlandet", "Trøndelag"),
    "Trøndelag": ("Vestlandet", "Østlandet", "Nord-Norge"),
    "Nord-Norge": ("Trøndelag",),
}
#: Population edges inside the size classes. Response rises with population within a class,
#: and so do several outcomes: raking to these finer bands removes most of that bias
#: (measured by ``scripts/coverage_simulation.py --study shares``; docs/methods.md).
BAND_EDGES = (2_000, 10_000, 50_000)
#: A band with fewer respondents is merged with its neighbour in the same size class.
MIN_BAND_RESPONDENTS = 5
#: Bounds on the raking factor g = final weight / base weight (an assumption of this project;
#: the demo's factors were 0.46-1.72). A factor outside them, or margins the raking cannot meet
#: at all, means that a raking cell has too few respondents for the municipalities it stands
#: for: the region of the most extreme factor is merged with a bordering region and the base
#: weights are raked again (:func:`weight_year`).
G_BOUNDS = (0.25, 4.0)
RAKE_TOL = 1e-13  # svy raking convergence tolerance: every margin is met to 1e-10 (tested)
RAKE_MAX_ITER = 1000  # not converging within this: regions merged, else an error


@dataclass
class Weighting:
    """Respondents with design columns and the weighting diagnostics of one year."""

    data: pd.DataFrame  # adds N_h, w_base, w (final weight)
    targets: pd.DataFrame  # margin, level, target, achieved_base, achieved, respondents
    method: str
    summary: dict


def register_margins(
    reg_year: pd.DataFrame, thresholds: config.SizeThresholds
) -> dict[str, pd.Series]:
    """Municipality counts by size class and by region (the raking targets)."""
    cls = size_class(reg_year["population"], thresholds).astype(str).to_numpy()
    return {
        "size_class": pd.Series(cls)
        .value_counts()
        .reindex(list(config.SIZE_CLASSES), fill_value=0),
        "region": reg_year["region"].value_counts().sort_index(),
    }


def region_cells(respondents: pd.Series, merge: tuple[str, ...] = ()) -> dict[str, str]:
    """Raking cell of each region: while a cell has fewer than :data:`MIN_REGION_RESPONDENTS`
    respondents, the smallest cell (then the first by name) is merged with the bordering cell
    that has the fewest respondents; then the cell of each region in ``merge`` (in order) is
    merged the same way. ``respondents``: count per region. Cells are named by their regions
    joined with '+'."""
    cells = {r: (r,) for r in respondents.index}
    todo = list(merge)
    while len(set(cells.values())) > 1:
        counts = {c: int(sum(respondents[r] for r in c)) for c in set(cells.values())}
        small = sorted((n, c) for c, n in counts.items() if n < MIN_REGION_RESPONDENTS)
        if not small and not todo:
            break
        cell = small[0][1] if small else cells[todo.pop(0)]
        near = {cells[b] for r in cell for b in REGION_NEIGHBOURS.get(r, ()) if b in cells}
        near.discard(cell)
        other = min(near or set(counts) - {cell}, key=lambda c: (counts[c], c))
        merged = tuple(sorted(cell + other))
        cells = {r: merged if c in (cell, other) else c for r, c in cells.items()}
    return {r: "+".join(c) for r, c in cells.items()}


def band_edges(respondent_pop: pd.Series, thresholds: config.SizeThresholds) -> list[float]:
    """Edges of the population bands: the size-class thresholds and those of
    :data:`BAND_EDGES` inside a class, dropping an inner edge while a band beside it has fewer
    than :data:`MIN_BAND_RESPONDENTS` respondents (the smaller band goes first)."""
    classes = [thresholds.medium, thresholds.large]
    inner = [e for e in BAND_EDGES if e not in classes]
    pop = np.asarray(respondent_pop, dtype=float)
    while True:
        edges = sorted([*classes, *inner])
        counts = np.bincount(np.searchsorted(edges, pop, side="right"), minlength=len(edges) + 1)
        small = [
            (min(counts[i], counts[i + 1]), e)
            for i, e in enumerate(edges)
            if e in inner and min(counts[i], counts[i + 1]) < MIN_BAND_RESPONDENTS
        ]
        if not small:
            return [float(e) for e in edges]
        inner.remove(min(small)[1])


def band_labels(population: pd.Series, edges: list[float]) -> pd.Series:
    """Band of each population figure: ``"lo-hi"`` (hi exclusive) or ``"lo+"``."""
    bounds = [0.0, *edges]
    names = [f"{int(lo)}-{int(hi)}" for lo, hi in zip(bounds, edges, strict=False)]
    names.append(f"{int(bounds[-1])}+")
    idx = np.searchsorted(edges, np.asarray(population, dtype=float), side="right")
    return pd.Series(np.asarray(names)[idx], index=getattr(population, "index", None))


def kish(w: np.ndarray) -> tuple[float, float]:
    """Kish effective sample size and design effect due to unequal weights."""
    w = np.asarray(w, dtype=float)
    n_eff = w.sum() ** 2 / (w**2).sum()
    return float(n_eff), float(len(w) / n_eff)


def _rake(
    out: pd.DataFrame, margins: dict[str, pd.Series], use_region: bool
) -> tuple[pd.Series, bool]:
    """Base weights raked (svy) to the band margin and, with ``use_region``, the region cells;
    whether every margin was met (to 1e-10 relative; else the last iterate)."""
    import polars as pl
    import svy

    cols = ["kommunenr", "size_class", "size_band", "region_cell", "N_h", "w_base"]
    sample = svy.Sample(
        pl.from_pandas(out[cols]),
        svy.Design(stratum="size_class", wgt="w_base", pop_size="N_h"),
    )
    controls = {"size_band": {k: float(v) for k, v in margins["size_band"].items()}}
    if use_region:
        controls["region_cell"] = {k: float(v) for k, v in margins["region_cell"].items()}
    raked = sample.weighting.rake(
        controls=controls,
        wgt_name="w",
        tol=RAKE_TOL,  # svy's default (1e-4) met the size-class margins only to about 1e-6
        max_iter=RAKE_MAX_ITER,
        on_nonconvergence="ignore",  # margins no weights can meet: weight_year merges regions
    )
    w = raked.data.select(["kommunenr", "w"]).to_pandas().set_index("kommunenr")["w"]
    w = out["kommunenr"].map(w)
    met = all(
        np.allclose(w.groupby(out[m]).sum().reindex(list(c)), list(c.values()), rtol=1e-10, atol=0)
        for m, c in controls.items()
    )
    return w, met


def weight_year(
    d: pd.DataFrame,
    reg_year: pd.DataFrame,
    thresholds: config.SizeThresholds,
    rake: bool = True,
    bands: bool = True,
) -> Weighting:
    """Base weights N_h/n_h, then raking to the register's counts by population band (finer
    than the size classes, ``bands=False``: the size classes) and by region (svy). While a
    raking factor falls outside :data:`G_BOUNDS` or the margins cannot be met, the region of
    the most extreme factor is merged with a neighbour and the base weights are raked again."""
    out = d.copy()
    out["size_class"] = out["size_class"].astype(str)
    margins = register_margins(reg_year, thresholds)
    N_h = margins["size_class"]
    n_h = out["size_class"].value_counts()
    if (n_h.reindex(N_h.index, fill_value=0) > N_h).any():
        raise ValueError("more respondents than municipalities in a size class")
    empty = [c for c, N in N_h.items() if N > 0 and n_h.get(c, 0) == 0]
    if empty:
        year = int(out["year"].iloc[0]) if "year" in out and len(out) else "this year"
        raise ValueError(
            f"no municipality in the {', '.join(empty)} size class answered in {year} "
            f"({', '.join(str(int(N_h[c])) + ' in the register' for c in empty)}): the weights "
            "cannot stand for a class nobody answered for. Check the delivery, or choose size "
            f"thresholds (MEDIUM={thresholds.medium}, LARGE={thresholds.large}) that leave answers "
            "in every class"
        )
    year = str(int(out["year"].iloc[0])) if "year" in out and len(out) else "0"
    out["N_h"] = out["size_class"].map(N_h).astype(float)
    out["w_base"] = out["size_class"].map(N_h / n_h).astype(float)
    reg_n = out["region"].value_counts().reindex(margins["region"].index, fill_value=0)
    edges = band_edges(out["population"], thresholds) if bands else []
    out["size_band"] = band_labels(out["population"], edges)
    band_n = band_labels(reg_year["population"], edges).value_counts()
    margins["size_band"] = band_n.reindex(
        sorted(band_n.index, key=lambda b: int(b.split("-")[0].rstrip("+")))
    )
    extreme: list[str] = []  # regions merged because a raking factor left G_BOUNDS
    while True:
        cells = region_cells(reg_n, tuple(extreme))
        out["region_cell"] = out["region"].map(cells)
        use_region = rake and len(set(cells.values())) > 1
        margins["region_cell"] = reg_year["region"].map(cells).value_counts().sort_index()
        if not rake:
            out["w"] = out["w_base"]
            break
        out["w"], met = _rake(out, margins, use_region)
        g = out["w"] / out["w_base"]
        if met and g.between(*G_BOUNDS).all():
            break
        i = int(np.argmax(np.abs(np.log(g.to_numpy()))))
        worst = out.iloc[i]
        if not use_region:
            what = (
                f"gives factors outside {G_BOUNDS[0]}-{G_BOUNDS[1]}"
                if met
                else "cannot meet its margins (the last iteration shown)"
            )
            raise ValueError(
                f"the raking in {year} {what} even with the regions in one cell: kommunenr "
                f"{worst['kommunenr']} (population band {worst['size_band']}) gets "
                f"{g.iloc[i]:.3g} times its base weight. Its band has too few respondents for "
                "the municipalities it stands for; check the delivery"
            )
        extreme.append(str(worst["region"]))
    out = out.reset_index(drop=True)
    merged = sorted({c for c in cells.values() if "+" in c})
    margins = {k: margins[k] for k in ("size_class", "size_band", "region_cell")}
    if rake:
        method = (
            f"raked to register counts by population band ({len(margins['size_band'])} bands "
            "within the size classes)" + (" and region" if use_region else "") + " (svy rake)"
        )
        if merged:
            method += (
                f"; regions with fewer than {MIN_REGION_RESPONDENTS} respondents"
                + (
                    f" or margins the raking could not meet within factors {G_BOUNDS[0]}-"
                    f"{G_BOUNDS[1]}"
                    if extreme
                    else ""
                )
                + f" merged with a neighbour: {', '.join(merged)}"
            )
    else:
        method = "post-stratified to register counts by size class"
    out["cal_size"] = year + ":" + out["size_band"]
    out["cal_region"] = year + ":" + (out["region_cell"] if use_region else "*")
    rows = []
    for margin, target in margins.items():
        for level, tgt in target.items():
            m = out[margin] == level
            rows.append(
                {
                    "margin": "region" if margin == "region_cell" else margin,
                    "level": level,
                    "target": int(tgt),
                    "respondents": int(m.sum()),
                    "achieved_base": float(out.loc[m, "w_base"].sum()),
                    "achieved": float(out.loc[m, "w"].sum()),
                }
            )
    n_eff, deff_w = kish(out["w"].to_numpy())
    summary = {
        "n": len(out),
        "N": int(N_h.sum()),
        "weight_min": float(out["w"].min()),
        "weight_max": float(out["w"].max()),
        "weight_ratio": float(out["w"].max() / out["w"].min()),
        "adjustment_min": float((out["w"] / out["w_base"]).min()),  # raking factor g
        "adjustment_max": float((out["w"] / out["w_base"]).max()),
        "kish_n_eff": n_eff,
        "kish_deff": deff_w,
        "method": method,
        "raked_on_region": use_region,
        "region_cells_merged": merged,
        "regions_merged_for_factors": extreme,
        "factor_bounds": G_BOUNDS,
    }
    return Weighting(out, pd.DataFrame(rows), method, summary)


#: Columns :func:`design` needs besides those of the estimate.
DESIGN_COLUMNS = ("size_class", "N_h", "w_base", "w", "cal_size", "cal_region")


def design(
    df: pd.DataFrame,
    cols: list[str],
    *,
    fpc: bool = True,
    psu: str | None = None,
):
    """The svy design of ``df`` with raking-aware variance, for the columns ``cols``.

    Base weights ``w_base`` are raked to the totals of the final weights ``w`` in the cells
    ``cal_size`` and ``cal_region`` (which are the register's counts: ``w`` was raked to
    them). The result has the same weights as ``w`` (checked to 1e-9 relative) and svy's
    Taylor variance sweeps out the calibration. ``psu=None``: strata = size class (with the
    register's counts as FPC when ``fpc``); ``psu="panel_id"``: municipality as PSU, no strata
    (pooled over years, with replacement).
    """
    import polars as pl
    import svy

    keep = list(dict.fromkeys(["kommunenr", *DESIGN_COLUMNS, *([psu] if psu else []), *cols]))
    missing = [c for c in keep if c not in df]
    if missing:
        raise ValueError(
            f"the design needs column(s) {missing}: use the respondents from analysis.load"
        )
    data = df[keep].copy()
    data["size_class"] = data["size_class"].astype(str)
    if psu:
        sv = svy.Design(psu=psu, wgt="w_base")
    else:
        sv = svy.Design(stratum="size_class", wgt="w_base", pop_size="N_h" if fpc else None)
    sample = svy.Sample(pl.from_pandas(data.drop(columns=["w"])), sv)
    controls = {
        m: {k: float(v) for k, v in data.groupby(m)["w"].sum().items()}
        for m in ("cal_size", "cal_region")
    }
    raked = sample.weighting.rake(
        controls=controls, wgt_name="w", tol=RAKE_TOL, max_iter=RAKE_MAX_ITER
    )
    w = raked.data["w"].to_numpy()
    off = ~np.isclose(w, data["w"].to_numpy(), rtol=1e-9, atol=0)
    if off.any():
        first = data.loc[off].iloc[0]
        raise ValueError(
            f"re-raking the base weights did not give the published weights ({int(off.sum())} "
            f"rows, first kommunenr {first['kommunenr']}: w {first['w']:.6g}, re-raked "
            f"{w[off][0]:.6g}): a weight column was changed after analysis.load weighted the "
            "respondents"
        )
    return raked
