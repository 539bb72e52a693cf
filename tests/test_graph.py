"""The build graph for real: one changed export rebuilds that year, the next and the pooled
site, and nothing else; the pages it did not rebuild are those of the full build before the
change. (That those are also the numbers of a cold build of the changed delivery is checked in
``test_build_faults.py``: its build of 2017 from this delivery gives the site's bytes.)"""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import BUILD_TIME, snapshot

pytestmark = pytest.mark.slow


def _site(reports, name):
    return {
        k: BUILD_TIME.sub(b"", v) if k.suffix == ".html" else v
        for k, v in snapshot(reports / name).items()
        if k.name != "provenance.json"  # its commit and checksums may differ
    }


def test_one_changed_export_rebuilds_that_year_the_next_and_the_pooled_site(site, changed_site):
    """``changed_site``: the full site, copied, and built again from a delivery whose 2018
    export lost 26 rows."""
    assert (changed_site / "build.log").read_text().splitlines() == [
        "ingest: built",
        "2018: built",
        "2019: built",
        "pooled: built",
        "2015: up to date",
        "2016: up to date",
        "2017: up to date",
    ]
    out = changed_site / "reports"
    for y in ("2015", "2016", "2017"):
        assert _site(out, y) == _site(site, y), y  # results.csv included
    r18 = pd.read_csv(out / "2018" / "results.csv")
    old18 = pd.read_csv(site / "2018" / "results.csv")
    assert not r18.empty and not r18.equals(old18)  # the change reached 2018's numbers
