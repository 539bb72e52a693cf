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
    """The demo delivery (no manifest) in a folder and files named with spaces and "ø", with
    2015's large municipalities cut to one and 2018's to three, who all say "Ja" to the
    ICT-training programme, 2018's Nord-Norge cut to two respondents besides those (a sparse
    region), and a 2021 export after the 2020 reform (2018's answers dated 2021, linked with the
    2021 register)."""
    raw.mkdir(parents=True)
    for src in config.RAW_DIR.iterdir():
        if src.name != "MANIFEST.sha256":
            shutil.copy2(
                src, raw / src.name.replace("kommuneundersokelsen_", "Kommuneundersøkelsen ")
            )
    resp = pd.read_csv(processed / "respondents.csv", dtype=str)
    export = raw / "Kommuneundersøkelsen 2018.csv"
    text = export.read_bytes().decode("cp1252")
    (raw / "Kommuneundersøkelsen 2021.csv").write_bytes(
        text.replace(".2018 ", ".2021 ").encode("cp1252")
    )
    for year, keep in ((2015, 1), (2018, 3)):
        large = resp[(resp["year"] == str(year)) & (resp["size_class"] == "large")]
        export = raw / f"Kommuneundersøkelsen {year}.csv"
        lines = export.read_bytes().decode("cp1252").split("\n")
        rows = sorted(int(r) - 1 for r in large["source_row"])  # source_row: header is row 1
        gone = set(rows[keep:])
        if year == 2018:  # Nord-Norge's other respondents go too
            north = resp[(resp["year"] == "2018") & (resp["region"] == "Nord-Norge")]
            north = sorted(int(r) - 1 for r in north["source_row"])
            gone |= set(north[2:]) - set(rows[:keep])
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
    """One run: names with spaces, a sparse class, a sparse region, a post-reform year."""
    raw = sparse_delivery(tmp_path / "levering med mellomrom", site.parent / "processed")
    log = build_into(tmp_path, raw, years=[2015, 2018, 2021])
    assert log[:4] == ["ingest: built", "2015: built", "2018: built", "2021: built"], log
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
    weighting = text(reports / "2018" / "metode.html")  # the sparse region, and why
    assert re.search(
        r"Nord-Norge og \w+ er slått sammen i kalibreringen: færre enn 5 svar", weighting
    )
    assert "Kommuneregisteret har 356 kommuner i 2021 mot 422 i 2019" in text(
        reports / "2021" / "index.html"
    )
