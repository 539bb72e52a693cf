"""Published reference figures (EVRY/NyAnalyse Kommuneundersøkelsen), for back-tests and reports.

Source: ``../shared/reference/published_figures.md`` (figures read in public pages; the
URLs are given there). Shares among responding municipalities.
"""

from __future__ import annotations

import pandas as pd

#: (variable, year, group) -> (published share, source)
PUBLISHED: dict[tuple[str, int, str], tuple[float, str]] = {
    ("forventer_kvalitet", 2015, "all"): (
        0.24,
        "Computerworld/Infotorg, Kommuneundersøkelsen 2017",
    ),
    ("forventer_kvalitet", 2017, "all"): (
        0.64,
        "Computerworld/Infotorg, Kommuneundersøkelsen 2017",
    ),
    ("forventer_forenkling", 2015, "all"): (
        0.23,
        "Computerworld/Infotorg, Kommuneundersøkelsen 2017",
    ),
    ("forventer_forenkling", 2017, "all"): (
        0.68,
        "Computerworld/Infotorg, Kommuneundersøkelsen 2017",
    ),
    ("handlingsplan", 2015, "all"): (0.68, "Computerworld/Infotorg, Kommuneundersøkelsen 2017"),
    ("handlingsplan", 2017, "all"): (0.76, "Computerworld/Infotorg, Kommuneundersøkelsen 2017"),
    ("barriere_endringsvilje", 2019, "all"): (0.68, "EVRY, Kommuneundersøkelsen 2019"),
    ("etterutdanning_ikt", 2019, "small"): (0.22, "EVRY, Kommuneundersøkelsen 2019"),
    ("etterutdanning_ikt", 2019, "medium"): (0.34, "EVRY, Kommuneundersøkelsen 2019"),
    ("etterutdanning_ikt", 2019, "large"): (0.45, "EVRY, Kommuneundersøkelsen 2019"),
}
#: Respondents published: 113 in 2015, 100 in 2019.
PUBLISHED_RESPONDENTS: dict[int, int] = {2015: 113, 2019: 100}


def published(variable: str, year: int, group: str) -> float | None:
    """The published share, if any."""
    hit = PUBLISHED.get((variable, year, group))
    return hit[0] if hit else None


def table(year: int) -> pd.DataFrame:
    """Published figures of ``year``: outcome, group, published (share), source."""
    rows = [
        {"outcome": v, "group": g, "published": val, "source": src}
        for (v, y, g), (val, src) in PUBLISHED.items()
        if y == year
    ]
    return pd.DataFrame(rows, columns=["outcome", "group", "published", "source"])
