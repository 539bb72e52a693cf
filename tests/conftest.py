"""Shared fixtures: the register snapshot, codebook and an ingested demo."""

from __future__ import annotations

import pytest

from analysis import config, ingest
from analysis.codebook import load_codebook
from analysis.register import load_register


@pytest.fixture(scope="session")
def reg():
    snap = config.default_register_snapshot()
    if snap is None:
        pytest.fail("no register snapshot: set REGISTER_SNAPSHOT or provide ../shared/reference")
    return load_register(snap)


@pytest.fixture(scope="session")
def codebook():
    return load_codebook(config.CODEBOOK_PATH)


@pytest.fixture(scope="session")
def ingested(reg, codebook):
    return ingest.ingest_all(config.RAW_DIR, codebook, reg, config.SizeThresholds())


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """The whole barometer built from the demo: every year, the pooled report and the index."""
    from analysis import build

    out = tmp_path_factory.mktemp("site")
    build.build(
        raw_dir=config.RAW_DIR,
        codebook=config.CODEBOOK_PATH,
        reports_dir=out / "reports",
        processed_dir=out / "processed",
        register_snapshot=None,
        medium=5000,
        large=20000,
        lang="nb",
    )
    return out / "reports"
