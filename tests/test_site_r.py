"""Every published number of the demo years against R's survey package (tests/r/oracle.R),
on the shared site of tests/test_site.py; a file of its own so that pytest-xdist runs it
beside the other site checks."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis import results

pytestmark = pytest.mark.slow

YEARS = [2015, 2016, 2017, 2018, 2019]


def test_published_results_agree_with_r_for_every_year(site, tmp_path):
    """What each year's results.csv publishes, against R started from the site's processed
    respondents and the register (tests/r/oracle.R): headline shares with SEs and intervals,
    class differences, M1 coefficients, the ordered logit and the change from the year before,
    for the two primary binary outcomes, every year; and every coefficient of M1-M4, every
    average marginal effect and M3's predicted shares of those outcomes, the same models of
    digital maturity (linear), the index means with their intervals, and the pooled model."""
    from conftest import r_oracle_many

    from analysis import load

    processed = site.parent / "processed"
    respondents = pd.read_csv(processed / "respondents.csv", dtype={"kommunenr": str})
    panel = load.survey(processed).all_years()
    pairs = []  # (what, published, R, relative tolerance)
    pooled_site = results.read_csv(site / "pooled" / "results.csv")
    trends = pooled_site[pooled_site["section"] == "trends"]
    changes = pooled_site[pooled_site["section"] == "trends (change)"]
    published = {}  # each year's unsuppressed rows, and the primary outcomes it asked
    for year in YEARS:
        pub = results.read_csv(site / str(year) / "results.csv")
        pub = pub[~pub["suppressed"]]
        asked = set(pub.loc[pub["section"] == "headline", "outcome"])
        published[year] = pub, [v for v in ("etterutdanning_ikt", "evaluerer_effekt") if v in asked]
    jobs = [(year, var) for year in YEARS for var in published[year][1]]
    oracle = r_oracle_many(tmp_path, respondents, panel, jobs)  # one R session
    for year in YEARS:
        pub, primary = published[year]
        for var in primary:
            r = oracle[year, var]
            rows = pub[pub["outcome"] == var]
            head = rows[rows["section"] == "headline"].set_index("group")
            for g in ("all", "small", "medium", "large"):
                for col in ("estimate", "se", "ci_low", "ci_high"):
                    pairs.append(((year, var, g, col), head.loc[g, col], r[f"{g}.{col}"], 1e-6))
            diffs = rows[rows["section"] == "class differences"].set_index("contrast")
            for c in ("large-small", "large-medium", "medium-small"):
                for col in ("estimate", "se"):
                    pairs.append(((year, var, c, col), diffs.loc[c, col], r[f"{c}.{col}"], 1e-6))
            m1 = rows[(rows["section"] == "regression") & (rows["model"] == "M1")].set_index("term")
            for term, rterm in (
                ("Intercept", "(Intercept)"),
                ("ln_pop_c", "ln_pop_c"),
                ("cri_c", "cri_c"),
            ):
                pairs.append(
                    ((year, var, term), m1.loc[term, "estimate"], r[f"glm.{rterm}.coef"], 1e-6)
                )
                pairs.append(
                    ((year, var, term, "se"), m1.loc[term, "se"], r[f"glm.{rterm}.se"], 1e-6)
                )
            # the trends page: the same share and change, the same estimators, against R
            trend = trends[(trends["outcome"] == var) & (trends["group"] == str(year))].iloc[0]
            for col in ("estimate", "se", "ci_low", "ci_high"):
                pairs.append(
                    ((year, var, "trend", col, "model"), trend[col], r[f"all.{col}"], 1e-6)
                )
            if "change.estimate" in r:
                ch = changes[
                    (changes["outcome"] == var) & (changes["contrast"] == f"{year}-{year - 1}")
                ]
                for col in ("estimate", "se"):
                    pairs.append(
                        (
                            (year, var, "trend change", col, "model"),
                            ch.iloc[0][col],
                            r[f"change.{col}"],
                            1e-6,
                        )
                    )
            if "change.estimate" in r:  # asked the year before
                ch = rows[rows["section"] == "change from last year"].iloc[0]
                pairs.append(((year, var, "change"), ch["estimate"], r["change.estimate"], 1e-6))
                pairs.append(((year, var, "change", "se"), ch["se"], r["change.se"], 1e-6))
            pairs += _models_against_r(year, pub, r, var, var, "y")
            pred = rows[(rows["section"] == "predicted shares")]
            assert len(pred) == 27, len(pred)  # 9 index values x 3 size classes
            for t in pred.itertuples():
                pre = ("taylor." if "Taylor" in t.method else "jk.") + "pred."
                pre += f"{t.group}.{t.term.removeprefix('cri_c=')}"
                for col in ("estimate", "se", "ci_low", "ci_high"):
                    pairs.append(
                        (
                            (year, var, t.group, t.term, col, "model"),
                            getattr(t, col),
                            r[f"{pre}.{col}"],
                            1e-6,
                        )
                    )
            if var == "etterutdanning_ikt":  # the same for every outcome R was called for
                pairs += _models_against_r(year, pub, r, "maturity", "maturity", "maturity")
                idx = pub[(pub["section"] == "indices") & pub["se"].notna()]
                assert len(idx) == 8, idx
                for t in idx.itertuples():
                    for col in ("estimate", "se", "ci_low", "ci_high"):
                        want = r[f"idx.{t.outcome}.{t.group}.{col}"]
                        pairs.append(((year, t.outcome, t.group, col), getattr(t, col), want, 1e-6))
            if year == YEARS[-1]:  # R fits the pooled model in its call for the last year
                pooled = pooled_site[
                    (pooled_site["model"] == "M1_pooled") & ~pooled_site["suppressed"]
                ]
                first = var == "etterutdanning_ikt"
                for o, k in ((var, "y"), *((("maturity", "maturity"),) if first else ())):
                    for t in pooled[
                        (pooled["section"] == "regression") & (pooled["outcome"] == o)
                    ].itertuples():
                        got = r[f"pooled.{k}.{t.term}.coef"], r[f"pooled.{k}.{t.term}.se"]
                        pairs.append((("pooled", o, t.term, "model"), t.estimate, got[0], 1e-6))
                        pairs.append((("pooled", o, t.term, "se", "model"), t.se, got[1], 1e-6))
        olr = pub[(pub["outcome"] == "suksess_tjenester") & (pub["model"] == "ordered_logit")]
        for t in olr.itertuples():
            pairs.append(((year, "ordered", t.term), t.estimate, r[f"olr.{t.term}.coef"], 1e-6))
            pairs.append(((year, "ordered", t.term, "se"), t.se, r[f"olr.{t.term}.se"], 1e-6))
    # further education every year, evaluation from 2016: 9 year-outcomes x 28 numbers, 7
    # changes x 2, the ordered logit's 2 slopes x 2 every year, and the index means (8 x 4)
    # every year; then (tagged "model" or "ame") every published coefficient of M1-M4 with its
    # SE (jackknife, or Taylor where the row says so) and every marginal effect, for those
    # outcomes and digital maturity, M3's predicted shares, the pooled model and the trends page
    models_ = [p for p in pairs if p[0][-1] in ("model", "ame")]
    assert len(pairs) - len(models_) == 9 * 28 + 7 * 2 + 5 * 4 + 5 * 8 * 4
    assert len(models_) >= 5 * 2 * 2 * (18 + 6), len(models_)  # 2 x (coefficients + AMEs)
    off = [(what, a, b) for what, a, b, rel in pairs if a != pytest.approx(b, rel=rel)]
    assert off == [], off[:5]


def _models_against_r(year, pub, r, outcome, label, key):
    """(what, published, R, tolerance) for every unsuppressed M1-M4 coefficient and SE and
    every marginal effect of ``outcome``; R's jackknife value, or its Taylor value where the
    published method says the fit fell back to Taylor (a replicate separates)."""
    rows = pub[(pub["outcome"] == outcome) & pub["model"].isin(["M1", "M2", "M3", "M4"])]
    out = []
    for t in rows[rows["section"] == "regression"].itertuples():
        pre = ("taylor." if "Taylor" in t.method else "jk.") + f"{key}.{t.model}.{t.term}"
        out.append(((year, label, t.model, t.term, "model"), t.estimate, r[f"{pre}.coef"], 1e-6))
        out.append(((year, label, t.model, t.term, "se", "model"), t.se, r[f"{pre}.se"], 1e-6))
    for t in rows[rows["section"] == "marginal effects"].itertuples():
        pre = ("taylor." if "Taylor" in t.method else "jk.") + f"{key}.{t.model}.ame.{t.term}"
        out.append(((year, label, t.model, t.term, "ame"), t.estimate, r[f"{pre}.estimate"], 1e-6))
        out.append(((year, label, t.model, t.term, "se", "ame"), t.se, r[f"{pre}.se"], 1e-6))
    return out
