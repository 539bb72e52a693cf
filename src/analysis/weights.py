"""Weights and design: calibrating each year's respondents to the register.

Design of one survey year: strata = size classes, stratum population N_h = the register's
number of municipalities in the class (finite-population correction), base weight N_h / n_h.
The base weights are calibrated by generalised raking (:func:`calibrate`, R's
``calibrate(calfun = "raking")``) to the register's municipality counts by population band
(:data:`BAND_EDGES` inside the size classes) and by region, and to its total of
ln(population) within each size class; a region with fewer than ``MIN_REGION_RESPONDENTS``
respondents is merged with a bordering one. Variance honours the calibration: :func:`design`
gives svy the calibration's auxiliary matrix, so its Taylor linearisation sweeps it out, and
:mod:`analysis.replication` calibrates every jackknife replicate again."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis import config
from analysis.calibration import calibrate
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
#: Bounds on the calibration factor g = final weight / base weight (an assumption of this
#: project; the demo's factors were 0.33-2.52). A factor outside them, or totals the
#: calibration cannot meet at all, means that a cell has too few respondents for the
#: municipalities it stands for: a region is merged with a bordering region and the base
#: weights are calibrated again (:func:`weight_year`).
G_BOUNDS = (0.25, 4.0)


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


#: The calibration's columns (:func:`calibration_matrix`), added to the respondents by
#: :func:`weight_year` and read by the variance designs.
CALIBRATION_COLUMNS = ("cal_size", "cal_region", "cal_class", "cal_lnpop")


def _aux(d: pd.DataFrame) -> np.ndarray:
    """Every auxiliary column: an indicator per level of ``cal_size`` and of ``cal_region``,
    and ``cal_lnpop`` within each level of ``cal_class``."""
    blocks = [pd.get_dummies(d[c], dtype=float).to_numpy() for c in ("cal_size", "cal_region")]
    lnpop = pd.get_dummies(d["cal_class"], dtype=float).to_numpy()
    blocks.append(lnpop * d["cal_lnpop"].to_numpy(float)[:, None])
    return np.column_stack(blocks)


def _independent(x: np.ndarray) -> np.ndarray:
    """Indices of linearly independent columns of ``x`` that span it (pivoted QR)."""
    from scipy.linalg import qr

    r, piv = qr(x, mode="r", pivoting=True)
    diag = np.abs(np.diag(r))
    return np.sort(piv[: int((diag > 1e-10 * diag[0]).sum())]) if len(diag) else piv[:0]


def calibration_matrix(d: pd.DataFrame) -> np.ndarray:
    """The auxiliary matrix of the calibration of the rows of ``d`` (the columns of
    :data:`CALIBRATION_COLUMNS`), without columns that the others span: the indicators of the
    population bands and of the region cells (each year's sum to one), and ln(population)
    within each size class. Its totals under the final weights ``w`` are the register's."""
    x = _aux(d)
    return x[:, _independent(x)]


def _calibrate(out: pd.DataFrame, frame: pd.DataFrame) -> tuple[pd.Series, bool]:
    """The base weights of ``out`` calibrated (:func:`calibrate`) to the totals of the
    register's municipalities ``frame`` (both with :data:`CALIBRATION_COLUMNS`); whether every
    total, including those of the columns :func:`calibration_matrix` drops, was met."""
    both = _aux(pd.concat([out[list(CALIBRATION_COLUMNS)], frame[list(CALIBRATION_COLUMNS)]]))
    x, totals = both[: len(out)], both[len(out) :].sum(axis=0)
    keep = _independent(x)
    w, _ = calibrate(out["w_base"].to_numpy(float), x[:, keep], totals[keep])
    achieved = w[0] @ x
    met = bool(np.all(np.abs(achieved - totals) <= 1e-10 * np.maximum(np.abs(totals), 1)))
    return pd.Series(w[0], index=out.index), met


def weight_year(
    d: pd.DataFrame,
    reg_year: pd.DataFrame,
    thresholds: config.SizeThresholds,
    rake: bool = True,
    bands: bool = True,
    ln_pop: bool = True,
) -> Weighting:
    """Base weights N_h/n_h, then calibration (generalised raking, :func:`calibrate`) to the
    register's municipality counts by population band (finer than the size classes;
    ``bands=False``: the size classes) and by region, and to its total of ln(population) in
    each size class (``ln_pop=False``: counts only, which is raking). While a factor
    g = w / w_base falls outside :data:`G_BOUNDS` or the totals cannot be met, the region of
    the calibration falls back, keeping what it can: regions are merged one at a time (the
    region of the most extreme factor, or the one whose merging comes closest to the totals)
    while some remain; then ln(population) is left out with the regions restored, and they
    are merged again only if that does not fit either; when nothing fits, the year stops. The summary
    says what was tried and why each step failed (the method and the methods page too)."""
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
    classes = [float(thresholds.medium), float(thresholds.large)]
    edges = band_edges(out["population"], thresholds) if bands else classes
    out["size_band"] = band_labels(out["population"], edges)
    frame = pd.DataFrame(
        {
            "size_band": band_labels(reg_year["population"], edges).to_numpy(),
            "size_class": size_class(reg_year["population"], thresholds).astype(str).to_numpy(),
            "population": reg_year["population"].to_numpy(float),
        }
    )
    band_n = frame["size_band"].value_counts()
    margins["size_band"] = band_n.reindex(
        sorted(band_n.index, key=lambda b: int(b.split("-")[0].rstrip("+")))
    )
    for f in (out, frame):
        f["cal_size"] = year + ":" + f["size_band"]
        f["cal_class"] = year + ":" + f["size_class"]

    def attempt(merge: list[str], ln_pop: bool) -> tuple[bool, dict[str, str]]:
        """Calibrate with the regions of ``merge`` merged; whether every total was met."""
        cells = region_cells(reg_n, tuple(merge))
        use_region = len(set(cells.values())) > 1
        out["region_cell"] = out["region"].map(cells)
        out["cal_region"] = year + ":" + (out["region_cell"] if use_region else "*")
        frame["cal_region"] = year + ":" + (frame["region"].map(cells) if use_region else "*")
        for f in (out, frame):
            f["cal_lnpop"] = np.log(f["population"].astype(float)) if ln_pop else 0.0
        out["w"], met = _calibrate(out, frame) if rake else (out["w_base"], True)
        return met, cells

    def fits(merge: list[str], with_ln: bool) -> tuple[bool, bool, dict[str, str]]:
        """Calibrate; whether it is accepted (totals met, factors within G_BOUNDS), met."""
        met, cells = attempt(merge, with_ln)
        return met and (out["w"] / out["w_base"]).between(*G_BOUNDS).all(), met, cells

    def closest(merge: list[str], with_ln: bool) -> str:
        """The region whose merging brings the calibration closest to its totals and bounds."""

        def spread(r: str) -> tuple[bool, float]:
            met, _ = attempt([*merge, r], with_ln)
            return not met, float(np.abs(np.log(out["w"] / out["w_base"])).max())

        with np.errstate(divide="ignore"):
            return min(sorted(reg_n.index), key=spread)

    frame["region"] = reg_year["region"].to_numpy()

    def merging(with_ln: bool, keep_regions: bool) -> tuple[list[str], bool] | None:
        """Regions merged one at a time (the region of the most extreme factor, or the one
        whose merging comes closest to the totals) until the calibration fits; with
        ``keep_regions``, not down to one cell."""
        extreme: list[str] = []
        while True:
            ok, met, cells = fits(extreme, with_ln)
            one = len(set(cells.values())) == 1
            if ok and not (one and keep_regions and extreme):
                return extreme, with_ln
            if one:  # fits only without any region (kept as the last resort), or not at all
                tried.append(
                    ("all", with_ln, "no regions" if ok else "factors" if met else "totals")
                )
                return None
            if met:
                g = (out["w"] / out["w_base"]).to_numpy()
                with np.errstate(divide="ignore"):
                    extreme.append(str(out.iloc[int(np.argmax(np.abs(np.log(g))))]["region"]))
            else:
                extreme.append(closest(extreme, with_ln))

    # The fallbacks keep what they can: ln(population) with regions merged one at a time while
    # some regions remain, then the regions as they are without ln(population), then regions
    # merged without it (tried: what failed and why). ln(population) is never dropped while
    # it fits with some regions, and regions are restored when it is dropped.
    tried: list[tuple[str, bool, str]] = []  # (regions merged, ln(population), reason)
    chosen: tuple[list[str], bool] | None = ([], False) if not rake else None
    for with_ln in ([True] if ln_pop else []) + [False] if rake else []:
        ok, met, _cells = fits([], with_ln)
        if ok:
            chosen = ([], with_ln)
            break
        tried.append(("", with_ln, "factors" if met else "totals"))
        chosen = merging(with_ln, keep_regions=with_ln)  # with ln(population): some regions
        if chosen is not None:
            break
    if chosen is None:
        g = out["w"] / out["w_base"]
        with np.errstate(divide="ignore"):
            i = int(np.argmax(np.abs(np.log(g.to_numpy()))))
        worst = out.iloc[i]
        raise ValueError(
            f"the calibration in {year} cannot meet its margins within factors {G_BOUNDS[0]}-"
            f"{G_BOUNDS[1]} even with the regions in one cell and without ln(population): kommunenr "
            f"{worst['kommunenr']} (population band {worst['size_band']}) gets "
            f"{g.iloc[i]:.3g} times its base weight. Its band has too few respondents for "
            "the municipalities it stands for; check the delivery"
        )
    extreme, ln_used = chosen
    met, cells = attempt(extreme, ln_used)  # the chosen calibration, in out
    use_region = rake and len(set(cells.values())) > 1
    dropped = ln_pop and rake and not ln_used
    ln_reason = next((why for m, ln, why in tried if m == "" and ln), "") if dropped else ""
    region_reason = [why for m, _ln, why in tried if m == ""][-1] if extreme else ""
    ln_pop = ln_used
    margins["region_cell"] = reg_year["region"].map(cells).value_counts().sort_index()
    out = out.reset_index(drop=True)
    merged = sorted({c for c in cells.values() if "+" in c})
    margins = {k: margins[k] for k in ("size_class", "size_band", "region_cell")}
    if rake:
        method = (
            "calibrated (generalised raking) to register counts by population band "
            f"({len(margins['size_band'])} bands within the size classes)"
            + (" and region" if use_region else "")
            + (
                " and to the total of ln(population) in each size class"
                if ln_pop
                else "; ln(population) left out: with it the "
                + ("factors left " if ln_reason == "factors" else "totals could not be met within ")
                + f"{G_BOUNDS[0]}-{G_BOUNDS[1]}"
                if dropped
                else ""
            )
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
        out["cal_region"], out["cal_lnpop"] = year + ":*", 0.0
    rows = []
    for margin, target in margins.items():
        for level, tgt in target.items():
            m = out[margin] == level
            rows.append(
                {
                    "margin": "region" if margin == "region_cell" else margin,
                    "level": level,
                    "target": float(tgt),
                    "respondents": int(m.sum()),
                    "achieved_base": float(out.loc[m, "w_base"].sum()),
                    "achieved": float(out.loc[m, "w"].sum()),
                }
            )
    for h in config.SIZE_CLASSES if rake and ln_pop else ():
        m, reg_m = out["size_class"] == h, frame["size_class"] == h
        x = out.loc[m, "cal_lnpop"]
        rows.append(
            {
                "margin": "ln_population",
                "level": h,
                "target": float(np.log(frame.loc[reg_m, "population"]).sum()),
                "respondents": int(m.sum()),
                "achieved_base": float((out.loc[m, "w_base"] * x).sum()),
                "achieved": float((out.loc[m, "w"] * x).sum()),
            }
        )
    n_eff, deff_w = kish(out["w"].to_numpy())
    summary = {
        "n": len(out),
        "N": int(N_h.sum()),
        "weight_min": float(out["w"].min()),
        "weight_max": float(out["w"].max()),
        "weight_ratio": float(out["w"].max() / out["w"].min()),
        "adjustment_min": float((out["w"] / out["w_base"]).min()),  # calibration factor g
        "adjustment_max": float((out["w"] / out["w_base"]).max()),
        "kish_n_eff": n_eff,
        "kish_deff": deff_w,
        "method": method,
        "raked_on_region": use_region,
        "calibrated_on_ln_population": bool(rake and ln_pop),
        "ln_population_dropped": dropped,
        "ln_population_reason": ln_reason,  # factors | totals: why it was left out
        "region_cells_merged": merged,
        "regions_merged_for_factors": extreme,
        "regions_merged_reason": region_reason,  # factors | totals: why regions were merged
        "fallbacks_tried": [
            {"regions_merged": m, "ln_population": ln, "failed": why} for m, ln, why in tried
        ],
        "factor_bounds": G_BOUNDS,
    }
    return Weighting(out, pd.DataFrame(rows), method, summary)


#: Columns :func:`design` needs besides those of the estimate.
DESIGN_COLUMNS = ("size_class", "N_h", "w_base", "w", *CALIBRATION_COLUMNS)


def design(
    df: pd.DataFrame,
    cols: list[str],
    *,
    fpc: bool = True,
    psu: str | None = None,
):
    """The svy design of ``df`` with calibration-aware variance, for the columns ``cols``.

    The base weights ``w_base`` are calibrated again (:func:`calibrate`) to the totals of the
    final weights ``w`` on :func:`calibration_matrix` (which are the register's: ``w`` was
    calibrated to them); the result must be ``w`` (checked to 1e-9 relative). The design
    carries the calibration as svy's record (``WgtAdjustment``: base weight, final weight,
    auxiliary columns), so svy's Taylor linearisation takes the residuals of the
    base-weighted regression on the auxiliaries (as R's ``calibrate()``). ``psu=None``:
    strata = size class (with the register's counts as FPC when ``fpc``);
    ``psu="panel_id"``: municipality as PSU, no strata (pooled over years, with replacement).
    """
    import polars as pl
    import svy

    keep = list(dict.fromkeys(["kommunenr", *DESIGN_COLUMNS, *([psu] if psu else []), *cols]))
    missing = [c for c in keep if c not in df]
    if missing:
        raise ValueError(
            f"the design needs column(s) {missing}: use the respondents from analysis.load"
        )
    data = df[keep].reset_index(drop=True)
    data["size_class"] = data["size_class"].astype(str)
    x = calibration_matrix(data)
    w = data["w"].to_numpy(float)
    again, _ = calibrate(data["w_base"].to_numpy(float), x, w @ x)
    off = ~np.isclose(again[0], w, rtol=1e-9, atol=0)
    if off.any():
        first = data.loc[off].iloc[0]
        raise ValueError(
            f"calibrating the base weights again did not give the published weights "
            f"({int(off.sum())} rows, first kommunenr {first['kommunenr']}: w {first['w']:.6g}, "
            f"calibrated again {again[0][off][0]:.6g}): a weight column was changed after "
            "analysis.load weighted the respondents"
        )
    aux = [f"_cal{j}" for j in range(x.shape[1])]
    frame = pd.concat(
        [data.drop(columns=list(CALIBRATION_COLUMNS)), pd.DataFrame(x, columns=aux)], axis=1
    )
    record = svy.WgtAdjustment(kind="calibration", prev_wgt="w_base", new_wgt="w", aux=tuple(aux))
    if psu:
        sv = svy.Design(psu=psu, wgt="w", wgt_adjustment=record)
    else:
        sv = svy.Design(
            stratum="size_class",
            wgt="w",
            pop_size="N_h" if fpc else None,
            wgt_adjustment=record,
        )
    return svy.Sample(pl.from_pandas(frame), sv)
