"""Cross-check against R's survey package: calibrated weights, shares with re-calibrated jackknife and
with Taylor SEs (FPC, calibration residuals), logit CIs, class contrasts and svyglm.

R starts from the processed respondents and the register file and makes its own size
classes, regions, base weights, calibration (``calibrate(calfun = "raking")`` on the design
to the counts by population band and region and to ln(population) by size class, so its
variance sweeps out the calibration), log size and index. R is a test oracle only (installed by .ci/run:
r-base-core, r-cran-survey, r-cran-mass). Agreement is required to at least 6 significant
digits. Without Rscript the test is skipped locally and fails in CI.
What the built site publishes is compared with R in ``tests/test_site.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import r_oracle, r_oracle_many

from analysis import config, estimates, models, trends, weights

CASES = [(2019, "etterutdanning_ikt"), (2015, "handlingsplan"), (2017, "barriere_endringsvilje")]


@pytest.fixture(scope="module")
def oracle(ingested, weighted, tmp_path_factory):
    """R's estimates of every case, from one R session."""
    tmp = tmp_path_factory.mktemp("r")
    return r_oracle_many(tmp, ingested.respondents, weighted, CASES)


@pytest.fixture(scope="module", params=CASES, ids=lambda p: f"{p[0]}-{p[1]}")
def case(request, oracle, weighted):
    """R starts from the processed respondents and the register file; Python's respondents
    come from ``analysis.load`` (derived variables and calibrated weights)."""
    year, var = request.param
    r = oracle[year, var]
    d = weighted[weighted["year"] == year].reset_index(drop=True)
    return d, var, r, weighted


def test_calibrated_weights_agree_with_r(case):
    """R calibrates its own base weights to its own register totals: the same weights."""
    d, _, r, _ = case
    rw = {k.split(".", 1)[1]: v for k, v in r.items() if k.startswith("weight.")}
    assert len(rw) == len(d)
    for kommunenr, w in zip(d["kommunenr"], d["w"], strict=True):
        assert w == pytest.approx(rw[kommunenr], rel=1e-9), kommunenr


def test_shares_ses_and_logit_intervals_agree_with_r(case):
    """The published shares: re-calibrated JKn replicate SEs (R: calibrate() on as.svrepdesign(type =
    "JKn")) and the logit interval on the domain's degrees of freedom."""
    d, var, r, _ = case
    py = estimates.by_size_class(d, var, share=True).set_index("group")
    assert set(py["method"]) == {estimates.METHOD_SHARE}
    compared = 0
    for group in ("all", *config.SIZE_CLASSES):
        for col in ("estimate", "se", "ci_low", "ci_high"):
            assert py.loc[group, col] == pytest.approx(r[f"{group}.{col}"], rel=1e-6), (group, col)
            compared += 1
    assert compared == 16


def test_taylor_shares_agree_with_r(case):
    """The linearised variance (svy, calibration residuals swept out; R: calibrate() on the svydesign,
    svyciprop): what the coverage study compares the jackknife with."""
    d, var, r, _ = case
    py = estimates.by_size_class(d, var, share=True, variance="taylor").set_index("group")
    assert set(py["method"]) == {estimates.METHOD_SHARE_TAYLOR}
    for group in ("all", *config.SIZE_CLASSES):
        for col in ("estimate", "se", "ci_low", "ci_high"):
            want = r[f"taylor.{group}.{col}"]
            assert py.loc[group, col] == pytest.approx(want, rel=1e-6), (group, col)


def test_jackknife_replicates_are_calibrated_to_the_totals(case):
    """Every replicate deletes one respondent and meets every total of the full sample's
    calibration (counts by band and region cell, ln(population) by size class) to 1e-10;
    the scales are (1 - f_h)(n_h - 1)/n_h. (What R makes of them is compared above.)"""
    from analysis import replication

    d, _, _, _ = case
    reps, scales, unmet = replication.jackknife(d)
    assert reps.shape == (len(d), len(d)) and unmet == 0
    assert (reps.diagonal() == 0).all() and (reps[~np.eye(len(d), dtype=bool)] > 0).all()
    x = weights._aux(d)  # every auxiliary column, those the calibration drops included
    assert x.shape[1] == d["cal_size"].nunique() + d["cal_region"].nunique() + 3
    assert np.abs(reps @ x / (d["w"].to_numpy() @ x) - 1).max() < 1e-10
    n_h = d["size_class"].astype(str).map(d["size_class"].astype(str).value_counts())
    want = (1 - n_h / d["N_h"]) * (n_h - 1) / n_h
    assert scales == pytest.approx(want.to_numpy(), rel=1e-12)


@pytest.mark.parametrize("variance", ["jackknife", "taylor"])
def test_survey_weighted_logistic_regression_agrees_with_r(case, variance):
    """M1, refitted in every re-calibrated JKn replicate (published; R: svyglm on the replicate
    design) and linearised (R: svyglm on the calibrated svydesign)."""
    d, var, r, _ = case
    fit = models.svyglm(f"{var} ~ ln_pop_c + cri_c", d, "binomial", variance=variance)
    assert ("JKn" in fit.method) == (variance == "jackknife")
    c = fit.coefs().set_index("term")
    pre = "" if variance == "jackknife" else "taylor."
    names = {"Intercept": "(Intercept)", "ln_pop_c": "ln_pop_c", "cri_c": "cri_c"}
    for term, rname in names.items():
        assert c.loc[term, "estimate"] == pytest.approx(r[f"{pre}glm.{rname}.coef"], rel=1e-6), term
        assert c.loc[term, "se"] == pytest.approx(r[f"{pre}glm.{rname}.se"], rel=1e-6), term


@pytest.mark.parametrize("variance", ["jackknife", "taylor"])
def test_interaction_model_agrees_with_r(case, variance):
    """M4 with the interaction written as a formula term (``ln_pop_c * cri_c``)."""
    d, var, r, _ = case
    fit = models.svyglm(f"{var} ~ ln_pop_c * cri_c", d, "binomial", variance=variance)
    c = fit.coefs().set_index("term")
    pre = "" if variance == "jackknife" else "taylor."
    names = {
        "Intercept": "(Intercept)",
        "ln_pop_c": "ln_pop_c",
        "cri_c": "cri_c",
        "ln_pop_c:cri_c": "ln_pop_c:cri_c",
    }
    for term, rname in names.items():
        assert c.loc[term, "estimate"] == pytest.approx(r[f"{pre}glm4.{rname}.coef"], rel=1e-6), (
            term
        )
        assert c.loc[term, "se"] == pytest.approx(r[f"{pre}glm4.{rname}.se"], rel=1e-6), term


def test_class_contrasts_agree_with_r(case):
    """Differences between size classes, jackknife (published) and Taylor: R refits the
    saturated linear model on the replicate design and on the linearised design."""
    d, var, r, _ = case
    for variance, prefix in (("jackknife", ""), ("taylor", "taylor.")):
        py = estimates.class_differences(d, var, variance=variance).set_index("contrast")
        assert len(py) == 3
        for contrast, row in py.iterrows():
            for col in ("estimate", "se"):
                want = r[f"{prefix}{contrast}.{col}"]
                assert row[col] == pytest.approx(want, rel=1e-6), (variance, contrast, col)


def test_variance_is_not_the_fixed_weight_variance(case):
    """The oracle can tell: with the calibrated weights taken as fixed, SEs differ from R's."""
    d, var, r, _ = case
    import polars as pl
    import svy

    data = d[["size_class", "N_h", "w", var]].astype({"size_class": str})
    fixed = svy.Sample(
        pl.from_pandas(data), svy.Design(stratum="size_class", wgt="w", pop_size="N_h")
    )
    se = fixed.estimation.mean(var, drop_nulls=True).to_polars()["se"][0]
    assert abs(se / r["taylor.all.se"] - 1) > 1e-6 and abs(se / r["all.se"] - 1) > 1e-6


def test_change_from_the_year_before_agrees_with_r(case):
    """Year-over-year change on one design with the municipality as PSU across both years,
    calibrated to each year's totals (R: calibrate() on the pooled design, then svyglm)."""
    d, var, r, weighted = case
    year = int(d["year"].iloc[0])
    if year - 1 not in set(weighted["year"]):
        assert "change.estimate" not in r
        return
    both = weighted[weighted["year"].isin([year - 1, year])]
    ch = trends.year_over_year(both, var, [year - 1, year]).iloc[0]
    assert ch["contrast"] == f"{year}-{year - 1}" and ch["in_both_years"] > 0
    assert ch["estimate"] == pytest.approx(r["change.estimate"], rel=1e-6)
    assert ch["se"] == pytest.approx(r["change.se"], rel=1e-6)


def test_survey_weighted_ordered_logit_agrees_with_r(case):
    """svyolr, with R's optimiser (optim BFGS inside svyolr) run to a relative change of
    1e-15: at its default (1e-8) R's slopes are good to about 4 digits (measured: 1.3e-4)."""
    d, _, r, _ = case
    fit = models.svyolr("suksess_tjenester ~ ln_pop_c + cri_c", d)
    assert fit.converged
    c = fit.coefs().set_index("term")
    for term in ("ln_pop_c", "cri_c"):
        assert c.loc[term, "estimate"] == pytest.approx(r[f"olr.{term}.coef"], rel=1e-6), term
        assert c.loc[term, "se"] == pytest.approx(r[f"olr.{term}.se"], rel=1e-6), term


def test_a_thin_region_is_merged_the_same_way_as_in_r(ingested, reg, tmp_path):
    """Only 2 respondents in Sørlandet in 2019: both merge it with a neighbour before calibrating."""
    from analysis import load

    resp = ingested.respondents[ingested.respondents["year"].isin([2018, 2019])]
    south = resp[(resp["year"] == 2019) & (resp["region"] == "Sørlandet")].index
    resp = resp.drop(south[2:])
    weighted, diag = load.weight_all(resp, reg, config.SizeThresholds())
    assert diag[2019].summary["region_cells_merged"]
    r = r_oracle(tmp_path, resp, weighted, 2019, "etterutdanning_ikt")
    d = weighted[weighted["year"] == 2019]
    for kommunenr, w in zip(d["kommunenr"], d["w"], strict=True):
        assert w == pytest.approx(r[f"weight.{kommunenr}"], rel=1e-9), kommunenr
    py = estimates.by_size_class(d, "etterutdanning_ikt", share=True).set_index("group")
    assert py.loc["all", "se"] == pytest.approx(r["all.se"], rel=1e-6)
