"""Shared pipeline steps used by the notebooks, tests and scripts: weighted respondent tables."""

from __future__ import annotations

import pandas as pd

from analysis import config, derive, trends, weights
from analysis.register import Register


def weighted_years(
    resp: pd.DataFrame, reg: Register, thresholds: config.SizeThresholds, rake: bool = True
) -> tuple[pd.DataFrame, dict[int, weights.Weighting]]:
    """Derived variables, design columns and raked weights for every year, plus ``panel_id``."""
    parts, diag = [], {}
    for year in sorted(resp["year"].unique()):
        d = derive.add_derived(resp[resp["year"] == year], thresholds)
        w = weights.weight_year(d, reg.year(int(year)), thresholds, rake=rake)
        parts.append(w.data)
        diag[int(year)] = w
    allw = trends.add_panel_id(pd.concat(parts, ignore_index=True), reg)
    return allw, diag
