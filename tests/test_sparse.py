"""Sparse deliveries publish (issue 29): a year in which one size class has a single respondent,
a year in which it has three who all answer an item "Ja". Both stopped the whole barometer
before (a jackknife replicate could not fit M3: "'size_class_large' is collinear"; predicted
shares of a separated class had no SE and failed the results schema). Now the models fall back
to Taylor where a replicate cannot be fitted, estimates without a finite SE are withheld as
not identified, the page names what was withheld and why, and nothing resting on fewer than
five answers is published."""

from __future__ import annotations

import re
import shutil

import pandas as pd
import pytest
from claims import text
from conftest import build_into

from analysis import config, results

pytestmark = pytest.mark.slow


def sparse_delivery(raw, processed):
    """The demo delivery (no manifest) with 2015's large municipalities cut to one and 2018's to
    three, who all say "Ja" to the ICT-training programme."""
    raw.mkdir(parents=True)
    for src in config.RAW_DIR.iterdir():
        if src.name != "MANIFEST.sha256":
            shutil.copy2(src, raw / src.name)
    resp = pd.read_csv(processed / "respondents.csv", dtype=str)
    for year, keep in ((2015, 1), (2018, 3)):
        large = resp[(resp["year"] == str(year)) & (resp["size_class"] == "large")]
        export = raw / f"kommuneundersokelsen_{year}.csv"
        lines = export.read_bytes().decode("cp1252").split("\n")
        rows = sorted(int(r) - 1 for r in large["source_row"])  # source_row: header is row 1
        gone = set(rows[keep:])
        if year == 2018:
            col = lines[0].rstrip("\r").split(";").index("Etter- og videreutdanning IKT")
            for i in rows[:keep]:
                cells = lines[i].rstrip("\r").split(";")
                cells[col] = "Ja"
                lines[i] = ";".join(cells)
        kept = [x for i, x in enumerate(lines) if i not in gone]
        export.write_bytes("\n".join(kept).encode("cp1252"))
    return raw


def test_sparse_years_publish_what_they_support(site, tmp_path):
    raw = sparse_delivery(tmp_path / "raw", site.parent / "processed")
    log = build_into(tmp_path, raw, years=[2015, 2018])
    assert log[:3] == ["ingest: built", "2015: built", "2018: built"], log
    reports = tmp_path / "reports"
    for year, n in ((2015, 1), (2018, 3)):
        rows = results.read_csv(reports / str(year) / "results.csv")
        small = rows[rows["n"].lt(results.MIN_CELL)]
        assert len(small) and small["suppressed"].all()
        assert small[["estimate", "se", "ci_low", "ci_high", "p"]].isna().all().all()
        m3 = rows[(rows["model"] == "M3") & (rows["term"] == "size_class[large]")]
        assert len(m3) and m3["suppressed"].all() and (m3["n"] == n).all()
        page = text(reports / str(year) / "regresjoner.html")
        said = re.search(r"Ledd som bygger på færre enn 5 svar, publiseres ikke: ([^.]*)\.", page)
        assert said and f"(n = {n})" in said.group(1), page[:2000]
    rows = results.read_csv(reports / "2018" / "results.csv")
    withheld = rows[(rows["section"] == "predicted shares") & (rows["group"] == "large")]
    assert len(withheld) and withheld["suppressed"].all()  # no SE: not identified, not shown
    methods = rows["method"]
    assert methods.str.contains("a re-calibrated JKn replicate").any()
