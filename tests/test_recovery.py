"""Parameter recovery: models fitted to the demo data cover the true parameters.

The demo's true parameters (``data/demo_truth/parameters.json``) are read by the tests only.
Slopes are common to all years in the data-generating process, so the pooled models (year
effects, municipality-clustered SEs) are checked for every binary outcome, design-based and
model-based; the ordered logit for the 1-5 success item; and one single-year fit.
A slower coverage study over many simulated surveys is ``scripts/coverage_simulation.py``.
"""

from __future__ import annotations

import json

import pytest

from analysis import config, models, pipeline

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


@pytest.fixture(scope="module")
def pooled(ingested, reg):
    allw, _ = pipeline.weighted_years(ingested.respondents, reg, config.SizeThresholds())
    return allw


def _covers(fit, truth):
    c = fit.coefficients.set_index("term")
    return {
        t: (c.loc[t, "ci_low"], truth[k], c.loc[t, "ci_high"])
        for t, k in TERMS.items()
        if not c.loc[t, "ci_low"] <= truth[k] <= c.loc[t, "ci_high"]
    }


@pytest.mark.parametrize("outcome", BINARY)
@pytest.mark.parametrize("kind", ["design", "model"])
def test_pooled_logit_intervals_cover_true_slopes(pooled, outcome, kind):
    fit = (models.fit_design if kind == "design" else models.fit_model)(
        pooled, outcome, "M1", pooled=True
    )
    assert fit.n > 350
    assert _covers(fit, TRUTH["2019"][outcome]) == {}


def test_ordered_logit_covers_true_slopes(pooled):
    fit = models.fit_ordered(pooled, "suksess_tjenester", "M1", pooled=True)
    assert _covers(fit, TRUTH["2019"]["suksess_tjenester"]) == {}


def test_single_year_fits_cover_truth_at_the_nominal_rate(pooled):
    """10 intervals (2 slopes x 5 years), each missing with probability about 5 % if coverage
    is nominal: three or more misses have probability about 1.2 %, so that fails the test.
    Measured on the committed demo: two misses (change resistance in 2015, by 0.006, and in
    2019, design-based); the pooled fits above cover. Coverage over many simulated surveys:
    scripts/coverage_simulation.py."""
    misses = []
    for year in sorted(pooled["year"].unique()):
        d = pooled[pooled["year"] == year]
        fit = models.fit_design(d, "etterutdanning_ikt", "M1")
        misses += [(year, t) for t in _covers(fit, TRUTH[str(year)]["etterutdanning_ikt"])]
    assert len(misses) <= 2, misses


def test_true_interaction_is_zero_and_covered(pooled):
    fit = models.fit_design(pooled, "etterutdanning_ikt", "M4", pooled=True).coefficients.set_index(
        "term"
    )
    assert fit.loc["ln_pop_x_cri", "ci_low"] <= 0 <= fit.loc["ln_pop_x_cri", "ci_high"]
