"""Design-based estimators: hand-computed values, FPC, interval behaviour, back-tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import config, derive, estimates, published, tables


def test_stratified_share_matches_hand_computation():
    y = np.array([1, 0, 1, 1, 0, 0, 1, 0, 0, 0])
    s = np.array(["a"] * 4 + ["b"] * 6)
    N_h = pd.Series({"a": 20, "b": 60})
    e = estimates.stratified_mean(y, s, N_h, share=True)
    pa, pb = 3 / 4, 1 / 6
    assert e.estimate == pytest.approx(0.25 * pa + 0.75 * pb)
    va = (1 - 4 / 20) * (4 / 3 * pa * (1 - pa)) / 4
    vb = (1 - 6 / 60) * (6 / 5 * pb * (1 - pb)) / 6
    assert e.se == pytest.approx(np.sqrt(0.25**2 * va + 0.75**2 * vb))
    assert e.df == 8 and e.n == 10 and e.N == 80
    assert 0 < e.ci_low < e.estimate < e.ci_high < 1


def test_census_has_zero_standard_error():
    e = estimates.stratified_mean([1, 0, 1], ["a"] * 3, pd.Series({"a": 3}), share=False)
    assert e.se == 0


def test_interval_at_zero_percent_stays_in_range():
    e = estimates.stratified_mean([0] * 12, ["a"] * 12, pd.Series({"a": 100}), share=True)
    assert e.estimate == 0 and e.ci_low == 0 and 0 < e.ci_high < 0.35
    assert "Clopper-Pearson" in e.method


def test_more_respondents_than_municipalities_is_an_error():
    with pytest.raises(ValueError, match="only 2 municipalities"):
        estimates.stratified_mean([1, 0, 1], ["a"] * 3, pd.Series({"a": 2}))


def test_small_cells_are_suppressed():
    long = pd.DataFrame(
        {
            "variable": "v",
            "group": ["small", "all"],
            "estimate": [0.5, 0.4],
            "se": [0.1, 0.1],
            "ci_low": [0.2, 0.2],
            "ci_high": [0.8, 0.6],
            "n": [4, 40],
            "N": [10, 100],
            "df": [3, 39],
            "method": "m",
        }
    )
    out = tables.suppress(long)
    assert np.isnan(out.loc[0, "estimate"]) and out.loc[1, "estimate"] == 0.4


@pytest.fixture(scope="module")
def year2019(ingested, reg):
    th = config.SizeThresholds()
    d = derive.add_derived(ingested.respondents[ingested.respondents["year"] == 2019], th)
    return tables.headline_estimates(d, derive.frame_counts(reg.year(2019), th), 2019)


def test_backtest_2019_published_figures_within_intervals(year2019):
    """Back-test: the demo reproduces every published 2019 figure within its 95 % interval."""
    checked = 0
    for r in year2019.itertuples():
        pub = published.published(r.variable, 2019, r.group)
        if pub is None:
            continue
        assert r.ci_low <= pub <= r.ci_high, (r.variable, r.group, r.estimate, pub)
        checked += 1
    assert checked == 4  # 68 % barrier; 22/34/45 % further education by size class


def test_backtest_2015_2017_trends(ingested, reg):
    th = config.SizeThresholds()
    for year in (2015, 2017):
        d = derive.add_derived(ingested.respondents[ingested.respondents["year"] == year], th)
        long = tables.headline_estimates(d, derive.frame_counts(reg.year(year), th), year)
        for r in long[long["group"] == "all"].itertuples():
            pub = published.published(r.variable, year, "all")
            if pub is not None:
                assert r.ci_low <= pub <= r.ci_high, (year, r.variable, r.estimate, pub)


def test_change_resistance_index_needs_two_items():
    df = pd.DataFrame(
        {
            "endring_skeptiske": [5, 5, np.nan],
            "endring_rutiner": [3, np.nan, np.nan],
            "endring_ledere": [np.nan, np.nan, 1],
        }
    )
    cri = derive.item_mean(df, derive.CHANGE_RESISTANCE_ITEMS, 2)
    assert cri.iloc[0] == 4 and np.isnan(cri.iloc[1]) and np.isnan(cri.iloc[2])
