"""Parameter recovery: models fitted to the demo data cover the true parameters.

The demo's true parameters (``data/demo_truth/parameters.json``) are read by the tests only.
Slopes are common to all years in the data-generating process, so the pooled models (year
effects; design-based with the municipality as PSU, model-based clustered by municipality)
are checked for every binary outcome; the ordered logit for the 1-5 success item; and one
single-year fit. A slower coverage study over many simulated surveys is
``scripts/coverage_simulation.py``.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
import statsmodels.formula.api as smf
from statsmodels.miscmodels.ordinal_model import OrderedModel

from analysis import config, models

TRUTH = json.loads((config.DEMO_TRUTH_DIR / "parameters.json").read_text(encoding="utf-8"))["years"]
TERMS = {"ln_pop_c": "b_log_population", "cri_c": "b_change_resistance_index"}
BINARY = [
    "etterutdanning_ikt",
    "barriere_endringsvilje",
    "evaluerer_effekt",
    "handlingsplan",
    "forventer_kvalitet",
    "forventer_forenkling",
]
POOLED = "{y} ~ ln_pop_c + cri_c + C(year)"


def _misses(coefs: pd.DataFrame, truth: dict) -> dict:
    c = coefs.set_index("term")
    return {
        t: (c.loc[t, "ci_low"], truth[k], c.loc[t, "ci_high"])
        for t, k in TERMS.items()
        if not c.loc[t, "ci_low"] <= truth[k] <= c.loc[t, "ci_high"]
    }


@pytest.mark.parametrize("outcome", BINARY)
def test_pooled_design_based_logit_covers_true_slopes(weighted, outcome):
    fit = models.svyglm(POOLED.format(y=outcome), weighted, design=models.DESIGN_POOLED)
    assert fit.n > 350
    assert _misses(fit.coefs(), TRUTH["2019"][outcome]) == {}


@pytest.mark.parametrize("outcome", BINARY)
def test_pooled_model_based_logit_covers_true_slopes(weighted, outcome):
    d = weighted.dropna(subset=[outcome, "ln_pop_c", "cri_c"])
    res = smf.logit(POOLED.format(y=outcome), d).fit(
        disp=False, cov_type="cluster", cov_kwds={"groups": pd.factorize(d["panel_id"])[0]}
    )
    assert _misses(models.tidy_statsmodels(res), TRUTH["2019"][outcome]) == {}


def test_ordered_logit_covers_true_slopes(weighted):
    d = weighted.dropna(subset=["suksess_tjenester", "ln_pop_c", "cri_c"]).copy()
    later = sorted(d["year"].unique())[
        1:
    ]  # year effects as dummies: no constant in an ordered logit
    for y in later:
        d[f"y{y}"] = (d["year"] == y).astype(float)
    res = OrderedModel.from_formula(
        "suksess_tjenester ~ 0 + ln_pop_c + cri_c + " + " + ".join(f"y{y}" for y in later),
        d,
        distr="logit",
    ).fit(
        method="bfgs",
        disp=False,
        maxiter=2000,
        cov_type="cluster",
        cov_kwds={"groups": pd.factorize(d["panel_id"])[0]},
    )
    assert res.mle_retvals["converged"]
    assert _misses(models.tidy_statsmodels(res), TRUTH["2019"]["suksess_tjenester"]) == {}


def test_single_year_fits_cover_truth_at_the_nominal_rate(weighted):
    """10 intervals (2 slopes x 5 years), each missing with probability about 5 % if coverage
    is nominal: three or more misses have probability about 1.2 %, so that fails the test.
    Measured on the committed demo: two misses (change resistance in 2015 and 2019); the
    pooled fits above cover."""
    misses = []
    for year in sorted(weighted["year"].unique()):
        d = weighted[weighted["year"] == year]
        fit = models.svyglm("etterutdanning_ikt ~ ln_pop_c + cri_c", d)
        misses += [(year, t) for t in _misses(fit.coefs(), TRUTH[str(year)]["etterutdanning_ikt"])]
    assert len(misses) <= 2, misses


def test_true_interaction_is_zero_and_covered(weighted):
    fit = models.svyglm(
        "etterutdanning_ikt ~ ln_pop_c * cri_c + C(year)", weighted, design=models.DESIGN_POOLED
    )
    c = fit.coefs().set_index("term")
    assert c.loc["ln_pop_c:cri_c", "ci_low"] <= 0 <= c.loc["ln_pop_c:cri_c", "ci_high"]
