"""Design-based estimators (svy): the documented design, intervals, weights, back-tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import config, derive, estimates, published, tables, weights


def _design(y, s, N_h):
    df = pd.DataFrame({"kommunenr": [f"{i:04d}" for i in range(len(y))], "v": y, "size_class": s})
    n_h = df["size_class"].value_counts()
    df["N_h"] = df["size_class"].map(N_h).astype(float)
    df["w"] = df["size_class"].map(pd.Series(N_h) / n_h).astype(float)
    return df


def test_stratified_share_matches_the_textbook_formula():
    """Equal weights N_h/n_h within strata: svy must give the stratified SRS estimator with FPC."""
    y = np.array([1, 0, 1, 1, 0, 0, 1, 0, 0, 0], dtype=float)
    s = ["small"] * 4 + ["large"] * 6
    t = estimates.by_size_class(_design(y, s, {"small": 20, "large": 60}), "v", share=True)
    e = t.set_index("group").loc["all"]
    pa, pb = 3 / 4, 1 / 6
    assert e["estimate"] == pytest.approx(0.25 * pa + 0.75 * pb)
    va = (1 - 4 / 20) * (4 / 3 * pa * (1 - pa)) / 4
    vb = (1 - 6 / 60) * (6 / 5 * pb * (1 - pb)) / 6
    assert e["se"] == pytest.approx(np.sqrt(0.25**2 * va + 0.75**2 * vb), rel=1e-9)
    assert e["n"] == 10 and e["N"] == 80 and e["df"] == 8
    assert 0 < e["ci_low"] < e["estimate"] < e["ci_high"] < 1


def test_census_has_zero_standard_error():
    t = estimates.by_size_class(
        _design(np.array([1.0, 0, 1]), ["small"] * 3, {"small": 3}), "v", share=False
    )
    assert t.set_index("group").loc["all", "se"] == pytest.approx(0, abs=1e-12)


def test_interval_at_zero_percent_stays_in_range():
    t = estimates.by_size_class(
        _design(np.zeros(12), ["small"] * 12, {"small": 100}), "v", share=True
    )
    e = t.set_index("group").loc["all"]
    assert e["estimate"] == 0 and e["ci_low"] == pytest.approx(0) and 0 < e["ci_high"] < 0.4
    assert "Clopper-Pearson" in e["method"]


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
def weighted(ingested, reg):
    th = config.SizeThresholds()
    out = {}
    for year in (2015, 2017, 2019):
        d = derive.add_derived(ingested.respondents[ingested.respondents["year"] == year], th)
        out[year] = weights.weight_year(d, reg.year(year), th)
    return out


def test_raking_hits_every_register_margin(weighted):
    for w in weighted.values():
        assert w.summary["raked_on_region"]
        t = w.targets
        assert np.allclose(t["achieved"], t["target"], rtol=1e-5)  # svy rake tolerance
        assert w.summary["kish_n_eff"] < w.summary["n"] and w.summary["weight_min"] > 0


def test_backtest_2019_published_figures_within_intervals(weighted):
    """Back-test: the demo reproduces every published 2019 figure within its 95 % interval."""
    long = tables.headline_estimates(weighted[2019].data, 2019)
    checked = 0
    for r in long.itertuples():
        pub = published.published(r.variable, 2019, r.group)
        if pub is None:
            continue
        assert r.ci_low <= pub <= r.ci_high, (r.variable, r.group, r.estimate, pub)
        checked += 1
    assert checked == 4  # 68 % barrier; 22/34/45 % further education by size class


def test_backtest_2015_2017_trends(weighted):
    for year in (2015, 2017):
        long = tables.headline_estimates(weighted[year].data, year)
        for r in long[long["group"] == "all"].itertuples():
            pub = published.published(r.variable, year, "all")
            if pub is not None:
                assert r.ci_low <= pub <= r.ci_high, (year, r.variable, r.estimate, pub)


def test_unweighted_sensitivity_differs_from_weighted(weighted):
    d = weighted[2019].data
    w = estimates.by_size_class(d, "handlingsplan", share=True).set_index("group")
    u = estimates.by_size_class(d, "handlingsplan", share=True, weighted=False).set_index("group")
    assert w.loc["all", "n"] == u.loc["all", "n"]
    assert w.loc["all", "estimate"] != pytest.approx(u.loc["all", "estimate"], abs=1e-6)
    assert "unweighted" in u.loc["all", "method"]


def test_class_differences_and_fdr(weighted):
    diff = estimates.class_differences(weighted[2019].data, "etterutdanning_ikt")
    assert list(diff["comparison"]) == ["large - small", "large - medium", "medium - small"]
    assert (diff["ci_low"] < diff["difference"]).all()
    adj = estimates.adjust_fdr(diff["p_value"])
    assert (adj >= diff["p_value"] - 1e-12).all() and (adj <= 1).all()


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


def test_cronbach_alpha_known_value():
    # two items perfectly correlated -> alpha 1; independent items -> about 0
    df = pd.DataFrame({"a": [1, 2, 3, 4, 5], "b": [1, 2, 3, 4, 5]})
    assert derive.cronbach_alpha(df, ("a", "b"))[0] == pytest.approx(1.0)
    df = pd.DataFrame({"a": [1, 2, 3, 4], "b": [2, 4, 1, 3], "c": [3, 1, 4, 2]})
    k, iv, tv = 3, df.var().sum(), df.sum(axis=1).var()
    assert derive.cronbach_alpha(df, ("a", "b", "c"))[0] == pytest.approx(
        k / (k - 1) * (1 - iv / tv)
    )
