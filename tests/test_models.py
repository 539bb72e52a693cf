"""Models written as formulas: parsing, term ids, marginal effects as total derivatives,
predictions, separation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from conftest import poststratified

from analysis import models, results


@pytest.fixture(scope="module")
def y2019(weighted):
    return weighted[weighted["year"] == 2019].reset_index(drop=True)


def test_formula_terms_become_svy_features(y2019):
    outcome, terms, intercept = models.parse_formula(
        "etterutdanning_ikt ~ ln_pop_c * cri_c + C(region, Treatment('Østlandet')) + rolle", y2019
    )
    assert outcome == "etterutdanning_ikt" and intercept
    factors = [[f[:2] for f in t.factors] for t in terms]
    assert factors == [
        [("ln_pop_c", None)],
        [("cri_c", None)],
        [("ln_pop_c", None), ("cri_c", None)],
        [("region", "Østlandet")],
        [("rolle", None)],
    ]
    assert [f[2] for t in terms for f in t.factors] == [False, False, False, False, True, True]
    with pytest.raises(ValueError, match="not a column"):
        models.parse_formula("etterutdanning_ikt ~ nope", y2019)


def test_term_ids_are_the_same_for_svy_and_statsmodels(y2019):
    f = "etterutdanning_ikt ~ C(size_class, Treatment('small')) + cri_c"
    svy_terms = set(models.svyglm(f, y2019).coefs()["term"])
    d = y2019.dropna(subset=["etterutdanning_ikt", "cri_c"])
    sm_terms = set(models.tidy_statsmodels(smf.logit(f, d).fit(disp=False))["term"])
    assert (
        svy_terms == sm_terms == {"Intercept", "size_class[medium]", "size_class[large]", "cri_c"}
    )


def test_marginal_effects_are_total_derivatives_through_the_interaction(y2019):
    """AMEs of M4 against finite differences of the fitted probabilities, weighted by w."""
    fit = models.svyglm("etterutdanning_ikt ~ ln_pop_c * cri_c", y2019)
    b = fit.coefs().set_index("term")["estimate"]
    d = y2019.dropna(subset=["etterutdanning_ikt", "ln_pop_c", "cri_c"])
    x, z, w = d["ln_pop_c"].to_numpy(), d["cri_c"].to_numpy(), d["w"].to_numpy()

    def p(x, z):
        eta = b["Intercept"] + b["ln_pop_c"] * x + b["cri_c"] * z + b["ln_pop_c:cri_c"] * x * z
        return 1 / (1 + np.exp(-eta))

    h = 1e-6
    fd = {
        "ln_pop_c": np.average((p(x + h, z) - p(x - h, z)) / (2 * h), weights=w),
        "cri_c": np.average((p(x, z + h) - p(x, z - h)) / (2 * h), weights=w),
    }
    ame = fit.ame().set_index("term")["estimate"]
    for t in fd:
        assert ame[t] == pytest.approx(fd[t], rel=1e-6), t
    # the main-effect-only shortcut b * p(1 - p) would be a different number here
    naive = np.average(b["cri_c"] * p(x, z) * (1 - p(x, z)), weights=w)
    assert abs(naive - ame["cri_c"]) > 1e-3


def test_predictions_stay_in_range_and_grow_with_size(y2019):
    fit = models.svyglm("etterutdanning_ikt ~ C(size_class, Treatment('small')) + cri_c", y2019)
    grid = pd.DataFrame({"cri_c": [0.0, 0.0], "size_class": ["small", "large"]})
    pred = fit.predict(grid)
    assert ((pred["ci_low"] >= 0) & (pred["ci_high"] <= 1)).all()
    assert (pred["ci_low"] < pred["estimate"]).all() and (pred["estimate"] < pred["ci_high"]).all()


def test_separated_terms_are_not_identified_and_not_published():
    rng = np.random.default_rng(1)
    n = 60
    d = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "g": ["a"] * 50 + ["b"] * 10,
            "size_class": ["small"] * 30 + ["large"] * 30,
            "w": 2.0,
            "N_h": 60.0,
        }
    )
    d = poststratified(d.assign(kommunenr=[f"{i:04d}" for i in range(n)]))
    d["y"] = (rng.random(n) < 0.5).astype(float)
    d.loc[d["g"] == "b", "y"] = 1.0  # group b always answers yes: quasi-complete separation
    fit = models.svyglm("y ~ x + g", d)
    c = fit.coefs().set_index("term")
    assert not c.loc["g[b]", "identified"] and c.loc["x", "identified"]
    assert fit.warnings, "the separation warning is kept"
    rows = results.tidy(
        fit.coefs().assign(outcome="y", n=fit.n, method=fit.method), year=2099, section="s"
    )
    assert rows.set_index("term").loc["g[b]", "suppressed"] and np.isnan(
        rows.set_index("term").loc["g[b]", "estimate"]
    )


def _ordinal_data(n: int, slopes_by_cut: list[float], seed: int) -> pd.DataFrame:
    """Answers 1-4 from cumulative logits P(y > k) = expit(a_k + b_k x), one slope per cut
    (equal slopes: proportional odds), drawn by inverting the cumulative probabilities."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    cuts = np.array([1.5, 0.0, -1.5])
    above = 1 / (1 + np.exp(-(cuts[None, :] + np.outer(x, slopes_by_cut))))
    above = np.minimum.accumulate(above, axis=1)  # P(y > k) falls with k
    u = rng.uniform(size=n)
    y = 1 + (u[:, None] < above).sum(axis=1)
    d = pd.DataFrame(
        {
            "kommunenr": [f"{i:04d}" for i in range(n)],
            "y": y.astype(float),
            "x": x,
            "size_class": np.where(np.arange(n) % 2, "small", "large"),
            "w": 1.0,
            "N_h": n,
        }
    )
    return poststratified(d)


def test_ordered_logit_recovers_its_slope_and_the_odds_check_tells_holding_from_not():
    holds = _ordinal_data(600, [1.0, 1.0, 1.0], seed=3)
    fit = models.svyolr("y ~ x", holds)
    c = fit.coefs().set_index("term")
    assert fit.converged and c.loc["x", "ci_low"] < 1.0 < c.loc["x", "ci_high"]
    check = models.proportional_odds(fit, holds)
    assert check["p_adj"].min() > 0.05 and check["converged"].all()
    assert fit.df == 600 - 2 + 1 - 4  # PSUs - strata + 1 - (1 slope + 3 cuts), as R's svyglm
    broken = _ordinal_data(600, [0.2, 1.0, 2.5], seed=3)
    check = models.proportional_odds(models.svyolr("y ~ x", broken), broken)
    assert (check["p_adj"] < 0.05).any()
    assert list(check["cut"]) == [">1", ">2", ">3"]
