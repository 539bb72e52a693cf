"""The build graph for real: one changed export rebuilds that year, the next and the pooled
site, and nothing else; the pages it did not rebuild equal those of a cold build."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
from conftest import BUILD_TIME, build_into, snapshot

from analysis import config

pytestmark = pytest.mark.slow


def _site(root, name):
    return {
        k: BUILD_TIME.sub(b"", v) if k.suffix == ".html" else v
        for k, v in snapshot(root / "reports" / name).items()
        if k.name != "provenance.json"  # its commit and checksums may differ; checked below
    }


def test_one_changed_export_rebuilds_that_year_the_next_and_the_pooled_site(site, tmp_path):
    """On a copy of the session's full site (file times kept, as make needs them)."""
    raw = tmp_path / "raw"
    raw.mkdir()
    for src in config.RAW_DIR.iterdir():  # a new delivery: no checksum manifest to break
        if src.name != "MANIFEST.sha256":
            shutil.copy2(src, raw / src.name)
    out = tmp_path / "incremental"
    for sub in ("reports", "processed", "build"):
        shutil.copytree(site.parent / sub, out / sub, symlinks=True)
    before = {y: _site(out, y) for y in ("2015", "2016", "2017")}
    # one municipality's answer changes in the 2018 export (the first respondent's action plan)
    export = raw / "kommuneundersokelsen_2018.csv"
    lines = export.read_bytes().split(b"\n")
    assert b";Ja;" in lines[1]
    lines[1] = lines[1].replace(b";Ja;", b";Nei;", 1)
    export.write_bytes(b"\n".join(lines))

    assert build_into(out, raw) == [
        "ingest: built",
        "2018: built",
        "2019: built",
        "pooled: built",
        "2015: up to date",
        "2016: up to date",
        "2017: up to date",
    ]
    assert {y: _site(out, y) for y in before} == before
    # the numbers of a year it left alone are those of a cold build of the changed delivery
    # (its pages differ from a 2017-only build in one link, to the pooled site)
    cold = tmp_path / "cold"
    assert build_into(cold, raw, years=[2017]) == ["ingest: built", "2017: built"]
    results = "2017/results.csv"
    assert (cold / "reports" / results).read_bytes() == (out / "reports" / results).read_bytes()
    r18 = pd.read_csv(out / "reports" / "2018" / "results.csv")
    old18 = pd.read_csv(site / "2018" / "results.csv")
    assert not r18.empty and not r18.equals(old18)  # the changed answer reached 2018's numbers
