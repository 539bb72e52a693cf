"""The build graph for real: one changed export rebuilds that year, the next and the pooled
site, and nothing else; the pages it did not rebuild are those of the full build before the
change. (That those are also the numbers of a cold build of the changed delivery is checked in
``test_build_faults.py``: its build of 2017 from this delivery gives the site's bytes.)"""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
from conftest import BUILD_TIME, build_into, changed_delivery, snapshot

pytestmark = pytest.mark.slow


def _site(root, name):
    return {
        k: BUILD_TIME.sub(b"", v) if k.suffix == ".html" else v
        for k, v in snapshot(root / "reports" / name).items()
        if k.name != "provenance.json"  # its commit and checksums may differ
    }


def test_one_changed_export_rebuilds_that_year_the_next_and_the_pooled_site(site, tmp_path):
    """On a copy of the session's full site (file times kept, as make needs them)."""
    raw = changed_delivery(tmp_path / "raw")  # one answer of 2018's first respondent
    out = tmp_path / "incremental"
    for sub in ("reports", "processed", "build"):
        shutil.copytree(site.parent / sub, out / sub, symlinks=True)
    before = {y: _site(out, y) for y in ("2015", "2016", "2017")}

    assert build_into(out, raw) == [
        "ingest: built",
        "2018: built",
        "2019: built",
        "pooled: built",
        "2015: up to date",
        "2016: up to date",
        "2017: up to date",
    ]
    assert {y: _site(out, y) for y in before} == before  # results.csv included
    r18 = pd.read_csv(out / "reports" / "2018" / "results.csv")
    old18 = pd.read_csv(site / "2018" / "results.csv")
    assert not r18.empty and not r18.equals(old18)  # the changed answer reached 2018's numbers
