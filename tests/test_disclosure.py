"""The whole site is scanned for suppressed values that could be recovered from published ones.

A delivery is made where only 3 large municipalities answered in 2018, and the barometer is
built from it (fixture ``changed_site``: the session's full site built again, which redoes 2018,
2019 with its change from 2018, and the trends and pooled models). The true value
of every suppressed class share and mean is computed from the processed data; no published
number in any ``results.csv`` of the site, no sum or difference of two published numbers of the
same outcome, and no solve of the 'all' estimate from the published classes, may equal it.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
import pytest

from analysis import config, estimates, load, results

pytestmark = pytest.mark.slow

TOL = 1e-8  # results.csv keeps 10 significant digits; real leaks agree to about 1e-10


def _candidates(rows: pd.DataFrame) -> np.ndarray:
    """Every number derivable from one outcome's published rows in one or two steps."""
    vals = rows[["estimate", "ci_low", "ci_high"]].to_numpy(float).ravel()
    vals = vals[np.isfinite(vals)]
    diff = vals[:, None] - vals[None, :]
    out = [vals, (vals[:, None] + vals[None, :]).ravel(), diff[diff != 0]]  # a - a tells nothing
    by_class = rows[rows["section"].isin(["headline", "descriptives", "indices"])]
    for _key, g in by_class.groupby(["year", "section", "term"], dropna=False):
        # all = sum of N_c share_c / N: solve for one class from 'all' and the other two
        g = g.set_index("group")
        if "all" not in g.index or not np.isfinite(g.loc["all", "estimate"]):
            continue
        classes = [c for c in config.SIZE_CLASSES if c in g.index]
        for a, b in combinations(classes, 2):
            (c,) = set(classes) - {a, b}
            rest = g.loc["all", "N"] * g.loc["all", "estimate"]
            rest -= g.loc[a, "N"] * g.loc[a, "estimate"] + g.loc[b, "N"] * g.loc[b, "estimate"]
            out.append(np.array([rest / g.loc[c, "N"]]))
    out = np.concatenate(out)
    return out[np.isfinite(out)]


def _leaks(published: pd.DataFrame, secrets: pd.DataFrame) -> list[tuple]:
    found = []
    for outcome, s in secrets.groupby("outcome"):
        cand = np.sort(_candidates(published[published["outcome"] == outcome]))
        for row in s.itertuples():
            i = np.searchsorted(cand, row.value)
            near = cand[max(i - 1, 0) : i + 1]
            if len(near) and np.min(np.abs(near - row.value)) < TOL:
                found.append((outcome, row.year, row.group, row.value))
    return found


@pytest.fixture(scope="module")
def three_large(changed_site):
    published = pd.concat(
        [results.read_csv(p) for p in sorted((changed_site / "reports").glob("*/results.csv"))],
        ignore_index=True,
    )
    d = load.survey(changed_site / "processed").year(2018)
    assert (d["size_class"] == "large").sum() == 3
    hidden = published[
        (published["year"] == "2018")
        & published["suppressed"]
        & published["section"].isin(["headline", "descriptives", "indices"])
        & published["group"].isin(config.SIZE_CLASSES)
    ]
    secrets = []
    for outcome, rows in hidden.groupby("outcome"):
        share = set(d[outcome].dropna().unique()) <= {0, 1}
        est = estimates.by_size_class(d, outcome, share=share).set_index("group")
        for g in sorted(set(rows["group"])):
            secrets.append({"outcome": outcome, "year": "2018", "group": g, "value": est.loc[g, "estimate"]})  # fmt: skip
    return published, pd.DataFrame(secrets), changed_site


def test_suppressed_cells_cannot_be_recovered_from_the_site(three_large):
    published, secrets, out = three_large
    # every site that shows 2018's answers was scanned: the year's, the next year's (its change
    # from 2018) and the pooled years'
    assert {"2018", "2019", "pooled"} <= set(published["year"])
    assert set(secrets["group"]) >= {"large"} and len(secrets) >= 20, secrets
    assert _leaks(published, secrets) == []


def test_the_scan_finds_the_leak_the_review_reported(three_large):
    """A published 'large - small' difference next to the small share gives the large share."""
    published, secrets, _ = three_large
    s = secrets[secrets["group"] == "large"].iloc[0]
    small = published[
        (published["year"] == "2018")
        & (published["section"] == "headline")
        & (published["outcome"] == s["outcome"])
        & (published["group"] == "small")
    ]
    assert len(small) == 1 and not small["suppressed"].iloc[0]
    leak = small.assign(
        section="class differences",
        group="all",
        contrast="large-small",
        estimate=s["value"] - small["estimate"].iloc[0],
        ci_low=np.nan,
        ci_high=np.nan,
    )
    assert _leaks(pd.concat([published, leak]), secrets[secrets.index == s.name]) != []
