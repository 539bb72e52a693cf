"""Trends over the survey years, across the municipal reforms.

Municipalities are followed through the register's code changes to the codes of a target
year (the last survey year): a merged municipality's earlier answers map to its successor.
A split (e.g. Stokke 2017, Snillfjord and Tysfjord 2020, Ålesund 2024) maps to the successor
with the same name if there is one, otherwise to the successor with the largest population
in the target year; such mappings are flagged. The resulting ``panel_id`` clusters the
answers of one municipality across years.

Year-over-year changes are design-based contrasts between two years' estimates on a design
whose PSU is the municipality (``panel_id``), calibrated to each year's totals (the variance
sweeps out the calibration, :func:`analysis.weights.design`), so the covariance of
municipalities that answer in both years enters the standard error. The two years are
treated as with-replacement samples (no FPC).
"""

from __future__ import annotations

import pandas as pd

from analysis.register import Register

METHOD_CHANGE = (
    "design-based contrast of two years (svy, Taylor with calibration residuals); PSU = "
    "municipality across reforms, calibrated to each year's totals, with replacement; t CI"
)


def panel_map(reg: Register, year: int, target_year: int) -> pd.DataFrame:
    """Code valid in ``year`` -> code in ``target_year`` (``panel_id``) and how it was mapped."""
    if target_year < year:
        raise ValueError("target_year must not be before year")
    target = reg.year(target_year).set_index("kommunenr")
    rows = []
    for code, name in reg.year(year)[["kommunenr", "name"]].itertuples(index=False):
        succ = reg.successors(code, year, target_year)
        if len(succ) == 1:
            rows.append(
                {
                    "kommunenr": code,
                    "panel_id": succ[0],
                    "mapping": "same" if succ[0] == code else "merged or renumbered",
                }
            )
            continue
        same_name = [
            s for s in succ if target.loc[s, "name"].split(" - ")[-1] == name.split(" - ")[-1]
        ]
        pick = (
            same_name[0]
            if len(same_name) == 1
            else max(succ, key=lambda s: target.loc[s, "population"])
        )
        rows.append(
            {
                "kommunenr": code,
                "panel_id": pick,
                "mapping": f"split into {', '.join(succ)}: mapped to {pick}",
            }
        )
    return pd.DataFrame(rows)


def add_panel_id(resp: pd.DataFrame, reg: Register, target_year: int | None = None) -> pd.DataFrame:
    """Add ``panel_id`` and ``panel_mapping`` to a multi-year respondent table."""
    target_year = target_year or int(resp["year"].max())
    parts = []
    for year, g in resp.groupby("year"):
        m = panel_map(reg, int(year), target_year)
        parts.append(
            g.merge(
                m.rename(columns={"mapping": "panel_mapping"}),
                on="kommunenr",
                how="left",
                validate="many_to_one",
            )
        )
    return pd.concat(parts).sort_index()


def year_over_year(df: pd.DataFrame, var: str, years: list[int]) -> pd.DataFrame:
    """Change in ``var`` between consecutive survey years in ``years`` (design-based).

    One row per pair: ``contrast`` "2019-2018", estimate (later minus earlier), SE, 95 % CI,
    p, ``n`` (the smaller year's valid answers), ``in_both_years`` (municipalities that
    answered in both, whose covariance enters the SE through the shared PSU). Each pair is
    estimated on the design of its own two years, so a change is the same number on the trends
    page as on the year's summary page (with all years in one design, the PSUs of the other
    years changed its SE by about 0.1 %).
    """
    import svy

    from analysis import weights

    d = df[df["year"].isin(years)].copy()
    if d[var].notna().sum() == 0:
        return pd.DataFrame()
    d["year"] = d["year"].astype(str)
    present = sorted(int(y) for y in d.loc[d[var].notna(), "year"].unique())
    share = set(d[var].dropna().unique()) <= {0.0, 1.0}
    rows = []
    for y0, y1 in zip(present, present[1:], strict=False):
        pair = d[d["year"].isin([str(y0), str(y1)])]
        res = weights.design(pair, ["year", var], psu="panel_id").estimation
        res = res.mean(var, by="year", drop_nulls=True)
        c = res.contrast(svy.estd(str(y1)) - svy.estd(str(y0))).to_polars().to_pandas().iloc[0]
        valid = d[d[var].notna()]
        a, b = valid[valid["year"] == str(y0)], valid[valid["year"] == str(y1)]
        rows.append(
            {
                "outcome": var,
                "group": "all",
                "contrast": f"{y1}-{y0}",
                "from": y0,
                "to": y1,
                "estimate": float(c["est"]),
                "se": float(c["se"]),
                "ci_low": float(c["lci"]),
                "ci_high": float(c["uci"]),
                "p": float(c["p_value"]),
                "n": int(min(len(a), len(b))),
                "in_both_years": len(set(a["panel_id"]) & set(b["panel_id"])),
                "scale": "share difference" if share else "mean difference",
                "method": METHOD_CHANGE,
            }
        )
    return pd.DataFrame(rows)


#: A survey year whose register has more than this share more or fewer municipalities than the
#: survey year before breaks every series: its shares are of another population of
#: municipalities (the 2020 reform: 422 to 356). The few mergers of 2017 and 2018 (428 to 426
#: to 422) do not.
FRAME_BREAK_SHARE = 0.05


def frame_breaks(reg: Register, years: list[int]) -> dict[int, tuple[int, int, int]]:
    """Survey years whose frame changed: year -> (survey year before, its N, this year's N)."""
    years = sorted(years)
    out = {}
    for prev, y in zip(years, years[1:], strict=False):
        a, b = len(reg.year(prev)), len(reg.year(y))
        if abs(b - a) > FRAME_BREAK_SHARE * a:
            out[y] = (prev, a, b)
    return out


def series_breaks(codebook, reg: Register, years: list[int]) -> dict[str, list[int]]:
    """Variable -> the survey years that break its series: its wording changed (the codebook)
    or the frame changed (:func:`frame_breaks`, every variable). Variables without a break
    have an empty list."""
    from analysis.estimates import DERIVED_SHARES, HEADLINE_SHARES

    wording = codebook.series_breaks()
    frame = set(frame_breaks(reg, years))
    names = {*codebook.variables, *HEADLINE_SHARES, *DERIVED_SHARES, *wording}
    return {v: sorted(set(wording.get(v, [])) | frame) for v in sorted(names)}
