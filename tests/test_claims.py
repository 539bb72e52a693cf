"""Every sentence a reader sees is true (issue 26): one rule per family of tests, verdicts
stored with the numbers, series breaks from the codebook and the register, drawn in the
figures; and the claims audit (``tests/claims.py``) on the built demo site."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from claims import audit
from statsmodels.stats.multitest import multipletests

from analysis import config, findings, plots, results, trends
from analysis.codebook import load_codebook
from analysis.i18n import Lang
from analysis.register import load_register


def _family(p, estimate, scale="share difference"):
    return pd.DataFrame(
        {"outcome": "x", "estimate": estimate, "se": 0.01, "p": p, "scale": scale, "method": "m"}
    ).assign(n=50)


@pytest.mark.parametrize("family", list(findings.FAMILIES))
def test_each_family_adjusts_as_declared_and_states_the_rule(family):
    p = np.array([0.001, 0.01, 0.03, 0.2, 0.04])
    rows = findings.adjust(_family(p, [0.1, -0.2, 0.3, 0.1, -0.1]), family)
    how = findings.FAMILIES[family].adjustment
    assert np.allclose(rows["p_adj"], multipletests(p, method=how)[1])
    assert (rows["family"] == family).all()
    expected = ["above" if e > 0 else "below" for e in rows["estimate"]]
    assert list(rows["verdict"]) == [
        v if q < findings.ALPHA else "none" for v, q in zip(expected, rows["p_adj"], strict=True)
    ]
    assert rows["method"].str.contains(f"over the 5 tests of the family '{family}'").all()


def test_a_verdict_follows_the_adjusted_p_not_the_interval():
    """The 2019 case: an interval below zero, Holm p 0.146: not a finding."""
    rows = findings.adjust(_family([0.03, 0.001, 0.3], [-0.1, -0.2, 0.05]), "primary")
    assert list(rows["verdict"]) == ["none", "below", "none"]
    _ = Lang("nb")
    assert findings.verdict_words("none", _, 0.03).endswith("etter justering for flere tester")
    assert findings.verdict_words("none", _, 0.3) == "kan ikke skilles fra null"
    odds = findings.adjust(_family([0.001], [0.5], scale="odds ratio"), "linearity")
    assert list(odds["verdict"]) == ["below"]  # an odds ratio under 1


def test_results_refuse_a_verdict_that_is_not_the_rule():
    rows = findings.adjust(_family([0.001, 0.5], [0.1, 0.1]), "class-differences")
    res = results.Results(2019)
    res.add(rows, section="class differences", contrast=["large-small", "large-medium"])
    assert list(res.frame()["verdict"]) == ["none", "above"]  # sorted: large-medium first
    wrong = rows.assign(verdict=["none", "above"])
    res.add(wrong, section="class differences", contrast=["large-small", "large-medium"])
    with pytest.raises(Exception, match="not its family's rule"):
        res.frame()


def test_a_suppressed_row_has_its_verdict_withheld():
    rows = findings.adjust(_family([0.001], [0.3]).assign(n=3), "class-differences")
    out = results.tidy(rows, year="2019", section="class differences")
    assert out["suppressed"].all() and list(out["verdict"]) == ["withheld"]
    assert findings.rule_holds(out).all()


def test_the_2020_reform_breaks_every_series_and_the_small_mergers_do_not():
    reg = load_register(None)
    assert trends.frame_breaks(reg, [2015, 2016, 2017, 2018, 2019]) == {}
    assert trends.frame_breaks(reg, [2018, 2019, 2021]) == {2021: (2019, 422, 356)}
    book = load_codebook(config.CODEBOOK_PATH)
    breaks = trends.series_breaks(book, reg, [2018, 2019, 2021])
    assert all(2021 in ys for ys in breaks.values())
    assert breaks["barriere_endringsvilje"] == sorted(
        {*book.series_breaks()["barriere_endringsvilje"], 2021}
    )
    assert breaks["suksess_topp2"] == [2021]  # a derived indicator breaks with the frame too


def test_trend_figures_draw_every_break_in_its_own_panel():
    """Titles longer than the wrap width (the old code matched wrapped titles, and drew no
    line), a break with one year after it (its interval drawn as a bar, not lost)."""
    years = [2015, 2016, 2017, 2018, 2019, 2021]
    rows = pd.DataFrame(
        [
            {"outcome": o, "label": lab, "year": y, "estimate": 0.4, "ci_low": 0.3,
             "ci_high": 0.5, "suppressed": False}
            for o, lab in (("a", "Et langt navn på en indikator som brytes over flere linjer"),
                           ("b", "Kort"))
            for y in years
        ]
    )  # fmt: skip
    fig = plots.trend_panels(rows, {"a": [2019, 2021], "b": [2021]}, Lang("nb"), "Andel, %")
    lines = {
        i: sorted(ln.get_xdata()[0] for ln in ax.get_lines() if ln.get_gid() == "series-break")
        for i, ax in enumerate(fig.axes)
    }
    assert lines == {0: [2018.5, 2020.5], 1: [2020.5]}
    for ax in fig.axes:  # the lone 2021 point has its interval (a vertical bar from 30 to 50)
        bars = [c for c in ax.collections if c.__class__.__name__ == "LineCollection"]
        segs = [s for c in bars for s in c.get_segments()]
        assert any(np.allclose(s[:, 0], 2021) and np.allclose(s[:, 1], [30, 50]) for s in segs)


@pytest.mark.slow
def test_the_pages_say_what_the_numbers_say(site):
    assert audit(site, 5000, 20000) == []


def post_reform_delivery(raw):
    """The demo delivery (no manifest) and a 2021 export: 2018's answers dated 2021, its
    municipalities linked with the 2021 register (after the 2020 reform: 356 municipalities)."""
    import shutil

    raw.mkdir(parents=True)
    for src in config.RAW_DIR.iterdir():
        if src.name != "MANIFEST.sha256":
            shutil.copy2(src, raw / src.name)
    text = (config.RAW_DIR / "kommuneundersokelsen_2018.csv").read_bytes().decode("cp1252")
    (raw / "kommuneundersokelsen_2021.csv").write_bytes(
        text.replace(".2018 ", ".2021 ").encode("cp1252")
    )
    return raw


@pytest.mark.slow
def test_a_post_reform_year_says_its_frame_changed(tmp_path):
    """A delivery with a 2021 survey: the change from 2019 is headed so, every change is a
    series break (the frame went from 422 to 356 municipalities), and the audit passes."""
    from conftest import build_into

    raw = post_reform_delivery(tmp_path / "raw")
    log = build_into(tmp_path, raw, years=[2021])
    assert log[:2] == ["ingest: built", "2021: built"], log
    reports = tmp_path / "reports"
    assert audit(reports, 5000, 20000) == []
    summary = (reports / "2021" / "index.html").read_text()
    assert "Endring fra 2019" in summary and "Endring fra året før" not in summary
    assert "Kommuneregisteret har 356 kommuner i 2021 mot 422 i 2019" in summary
    assert "Ingen seriebrudd" not in summary
    methods = (reports / "2021" / "metode.html").read_text()
    assert (
        "Alle seriene brytes i 2021: kommuneregisteret har 356 kommuner mot 422 i 2019." in methods
    )
