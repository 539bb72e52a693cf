"""Cross-check against R's survey package: shares, SEs with FPC, logit CIs and svyglm.

R is a test oracle only (installed by .ci/run: r-base-core, r-cran-survey). Agreement is
required to at least 6 significant digits. Without Rscript the test is skipped locally and
fails in CI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from analysis import config, derive, estimates, models, weights

RSCRIPT = shutil.which("Rscript")
ORACLE = Path(__file__).parent / "r" / "oracle.R"


def _require_r():
    if RSCRIPT is None:
        if os.environ.get("CI"):
            pytest.fail("Rscript not found in CI: .ci/run must install r-base-core r-cran-survey")
        pytest.skip("Rscript not installed (apt-get install r-base-core r-cran-survey)")


@pytest.fixture(
    scope="module",
    params=[(2019, "etterutdanning_ikt"), (2015, "handlingsplan")],
    ids=lambda p: f"{p[0]}-{p[1]}",
)
def case(request, ingested, reg, tmp_path_factory):
    _require_r()
    year, var = request.param
    th = config.SizeThresholds()
    d = derive.add_derived(ingested.respondents[ingested.respondents["year"] == year], th)
    d = weights.weight_year(d, reg.year(year), th).data
    d["y"] = d[var]
    tmp = tmp_path_factory.mktemp("r")
    d[["kommunenr", "size_class", "N_h", "w", "y", "ln_pop_c", "cri_c"]].astype(
        {"size_class": str}
    ).to_csv(tmp / "data.csv", index=False, float_format="%.17g")
    subprocess.run(
        [RSCRIPT, str(ORACLE), str(tmp / "data.csv"), str(tmp / "out.csv")],
        check=True,
        capture_output=True,
    )
    r = pd.read_csv(tmp / "out.csv").set_index("name")["value"].to_dict()
    return d, var, r


def test_shares_ses_and_logit_intervals_agree_with_r(case):
    d, var, r = case
    py = estimates.by_size_class(d, var, share=True).set_index("group")
    compared = 0
    for group in ("all", *config.SIZE_CLASSES):
        for col in ("estimate", "se", "ci_low", "ci_high"):
            assert py.loc[group, col] == pytest.approx(r[f"{group}.{col}"], rel=1e-6), (group, col)
            compared += 1
    assert compared == 16


def test_survey_weighted_logistic_regression_agrees_with_r(case):
    d, var, r = case
    fit = models.svyglm(f"{var} ~ ln_pop_c + cri_c", d, "binomial").coefs().set_index("term")
    names = {"Intercept": "(Intercept)", "ln_pop_c": "ln_pop_c", "cri_c": "cri_c"}
    for term, rname in names.items():
        assert fit.loc[term, "estimate"] == pytest.approx(r[f"glm.{rname}.coef"], rel=1e-6), term
        assert fit.loc[term, "se"] == pytest.approx(r[f"glm.{rname}.se"], rel=1e-6), term


def test_interaction_model_agrees_with_r(case):
    """M4 with the interaction written as a formula term (``ln_pop_c * cri_c``)."""
    d, var, r = case
    fit = models.svyglm(f"{var} ~ ln_pop_c * cri_c", d, "binomial").coefs().set_index("term")
    names = {
        "Intercept": "(Intercept)",
        "ln_pop_c": "ln_pop_c",
        "cri_c": "cri_c",
        "ln_pop_c:cri_c": "ln_pop_c:cri_c",
    }
    for term, rname in names.items():
        assert fit.loc[term, "estimate"] == pytest.approx(r[f"glm4.{rname}.coef"], rel=1e-6), term
        assert fit.loc[term, "se"] == pytest.approx(r[f"glm4.{rname}.se"], rel=1e-6), term
