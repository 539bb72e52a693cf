"""Shared fixtures: the register snapshot, codebook, an ingested demo and built sites."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from analysis import config, ingest, load
from analysis.codebook import load_codebook
from analysis.register import load_register

#: Test files in the order pytest-xdist hands them out (``make test`` runs ``--dist loadfile
#: --no-loadscope-reorder``): the longest first, each worker starting on a build of its own,
#: and the files that read the shared site after it, so that the quick files fill the end.
#: (xdist's own order, by number of tests, left the R comparison running alone for 25 s.)
FIRST = [
    *("test_site.py", "test_build.py", "test_notebooks.py", "test_graph.py", "test_browser.py"),
    *("test_build_faults.py", "test_safety.py", "test_sparse.py", "test_claims.py"),
    *("test_site_r.py", "test_disclosure.py"),
    "test_warm.py",
]


def pytest_sessionfinish(session, exitstatus):
    """The builds of the tests keep their working folders under the checkout's build/
    (``analysis.build.build_dir_for``): those of this session's temporary folders go with
    them (on the controller, after every worker; a worker's basetemp lies inside its)."""
    import json

    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None:
        return
    base = str(factory.getbasetemp())
    for params in config.BUILD_DIR.glob("*/params.json"):
        try:
            reports = json.loads(params.read_text())["reports_dir"]
        except (OSError, ValueError, KeyError):
            continue
        if reports.startswith(base + os.sep):
            shutil.rmtree(params.parent, ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(FIRST)))  # stable within a file


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
def weighted(ingested, reg):
    """Weighted respondents of every demo year (as ``load.Survey.all_years``)."""
    allw, _ = load.weight_all(ingested.respondents, reg, config.SizeThresholds())
    return allw


RSCRIPT = shutil.which("Rscript")
R_ORACLE = Path(__file__).parent / "r" / "oracle.R"


def r_oracle(tmp, respondents, panel, year: int, var: str) -> dict[str, float]:
    """R's estimates for one survey year and outcome (``tests/r/oracle.R``), from the processed
    respondents, the register file and the panel ids (year, kommunenr, panel_id). Without
    Rscript the test is skipped locally and fails in CI."""
    if RSCRIPT is None:
        if os.environ.get("CI"):
            pytest.fail("Rscript not found in CI: .ci/run must install r-base-core r-cran-survey")
        pytest.skip("Rscript not installed (apt-get install r-base-core r-cran-survey r-cran-mass)")
    respondents.to_csv(tmp / "respondents.csv", index=False, float_format="%.17g")
    panel[["year", "kommunenr", "panel_id"]].to_csv(tmp / "panel.csv", index=False)
    register_file = config.default_register_snapshot() / "municipalities_population.csv"
    args = [tmp / "respondents.csv", register_file, year, var, tmp / "out.csv", tmp / "panel.csv"]
    done = subprocess.run([RSCRIPT, str(R_ORACLE), *map(str, args)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return pd.read_csv(tmp / "out.csv").set_index("name")["value"].to_dict()


def r_oracle_many(tmp, respondents, panel, jobs) -> dict[tuple[int, str], dict[str, float]]:
    """:func:`r_oracle` for several (year, outcome) pairs in one R session
    (``tests/r/batch.R``: R and its packages load once)."""
    if RSCRIPT is None:
        return {job: r_oracle(tmp, respondents, panel, *job) for job in jobs}  # skips or fails
    respondents.to_csv(tmp / "respondents.csv", index=False, float_format="%.17g")
    panel[["year", "kommunenr", "panel_id"]].to_csv(tmp / "panel.csv", index=False)
    register_file = config.default_register_snapshot() / "municipalities_population.csv"
    table = pd.DataFrame(
        [
            {
                "respondents": tmp / "respondents.csv",
                "register": register_file,
                "year": year,
                "outcome": var,
                "out": tmp / f"out-{year}-{var}.csv",
                "panel": tmp / "panel.csv",
            }
            for year, var in jobs
        ]
    )
    table.to_csv(tmp / "jobs.csv", index=False)
    batch = [RSCRIPT, str(R_ORACLE.with_name("batch.R")), str(tmp / "jobs.csv")]
    done = subprocess.run(batch, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return {
        (year, var): pd.read_csv(tmp / f"out-{year}-{var}.csv").set_index("name")["value"].to_dict()
        for year, var in jobs
    }


def poststratified(df):
    """A made-up respondent table with the design columns of ``analysis.weights.design``:
    its weights ``w`` taken as post-stratified by size class (no region margin)."""
    out = df.copy()
    out["w_base"] = out["w"]
    out["cal_size"] = "0:" + out["size_class"].astype(str)
    out["cal_region"] = "0:*"
    out["cal_class"] = "0:" + out["size_class"].astype(str)
    out["cal_lnpop"] = 0.0  # no ln(population) total
    return out


def build_into(out, raw=config.RAW_DIR, lang="nb", years=None, pooled=None):
    """Build a delivery into ``out/reports`` and ``out/processed`` (default thresholds);
    returns the build's lines per site, without their times."""
    from analysis import build

    log = build.build(
        raw_dir=raw,
        codebook=config.CODEBOOK_PATH,
        reports_dir=out / "reports",
        processed_dir=out / "processed",
        register_snapshot=None,
        medium=5000,
        large=20000,
        lang=lang,
        years=years,
        pooled=pooled,
    )
    return [re.sub(r" in \d+ s$", "", x) for x in log]


def changed_delivery(raw: Path, processed: Path) -> Path:
    """The demo delivery copied to ``raw`` as a new delivery comes (no checksum manifest), with
    one export changed: 2018's keeps only its first three large municipalities (the others'
    26 rows go, and a duplicate submission of one of them).
    ``processed``: the demo's processed tables, which say where each respondent's row is."""
    raw.mkdir(parents=True)
    for src in config.RAW_DIR.iterdir():
        if src.name != "MANIFEST.sha256":
            shutil.copy2(src, raw / src.name)
    resp = pd.read_csv(processed / "respondents.csv", dtype=str)
    large = resp[(resp["year"] == "2018") & (resp["size_class"] == "large")]
    assert set(large["source_file"]) == {"kommuneundersokelsen_2018.csv"} and len(large) > 20
    export = raw / "kommuneundersokelsen_2018.csv"
    lines = export.read_bytes().split(b"\n")  # source_row counts the header as row 1
    gone = {int(r) for r in large["source_row"].iloc[3:]}
    log = pd.read_csv(processed / "cleaning_log.csv", dtype=str).fillna("")
    log = log[log["file"] == export.name]
    kept = log["note"].str.extract(r"^kept row (\d+)", expand=False).astype(float)
    gone |= set(log.loc[kept.isin(gone), "row"].astype(int))  # their earlier submissions too
    gone = {r - 1 for r in gone}
    export.write_bytes(b"\n".join(x for i, x in enumerate(lines) if i not in gone))
    return raw


@pytest.fixture(scope="session")
def changed_site(site, tmp_path_factory) -> Path:
    """The session's full site (``site``) copied with its file times (make decides from them)
    and built again from :func:`changed_delivery`, once per session: its root (raw/,
    reports/, processed/, build/) and ``build.log``, the build's lines. ``test_graph`` checks
    what was rebuilt; ``test_disclosure`` scans the site for the suppressed cells of 2018's
    three large municipalities."""

    def make(out):
        raw = changed_delivery(out / "raw", site.parent / "processed")
        from analysis import build

        for sub in ("reports", "processed"):
            shutil.copytree(site.parent / sub, out / sub, symlinks=True)
        b = build.build_dir_for(out / "reports")
        shutil.rmtree(b, ignore_errors=True)
        shutil.copytree(build.build_dir_for(site), b, symlinks=True)
        (out / "build.log").write_text("\n".join(build_into(out, raw)) + "\n")

    return shared_build(tmp_path_factory, "changed", make)


def _build(out, lang, years=None, pooled=None):
    build_into(out, lang=lang, years=years, pooled=pooled)
    return out / "reports"


def shared_build(tmp_path_factory, name: str, make) -> Path:
    """``make(out)`` once per test session, shared by every pytest-xdist worker: the first
    worker to ask builds into a folder beside the workers' own, under a file lock; the others
    wait for it and reuse it. Tests never change a shared build's reports, processed tables or
    working files (a test that would, copies them)."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    out = root / f"shared-{name}"
    with FileLock(str(root / f"shared-{name}.lock")):
        done = out / ".complete"
        if not done.is_file():
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            make(out)
            done.touch()
    return out


WARM_CLIENT = config.PROJECT_ROOT / "src" / "analysis" / "warm_client.py"


def start_warm_server(tmp: Path) -> str:
    """Start the warm server (analysis.warm; ``KB_WARM_KEY`` picks which) as a build's first
    step does, and wait until it listens; its socket."""
    import sys
    import time

    from analysis.warm_client import socket_path

    sock = socket_path()
    step = [sys.executable, "-S", str(WARM_CLIENT), "--kind", "step", "--"]
    subprocess.run([*step, "dictionary", "--build-dir", str(tmp)], check=True)
    deadline = time.time() + 60
    while not os.path.exists(sock):
        assert time.time() < deadline, "the warm server did not start"
        time.sleep(0.2)
    return sock


@contextlib.contextmanager
def warm_server(tmp: Path):
    """Kernels started inside are forked from the checkout's warm server."""
    sock = start_warm_server(tmp)
    before = os.environ.get("KB_WARM_SOCKET")
    os.environ["KB_WARM_SOCKET"] = sock
    try:
        yield sock
    finally:
        if before is None:
            os.environ.pop("KB_WARM_SOCKET")
        else:
            os.environ["KB_WARM_SOCKET"] = before


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """The whole barometer in Bokmål: every year, the pooled site and the index (built once
    per test session, see :func:`shared_build`)."""
    return shared_build(tmp_path_factory, "site", lambda out: _build(out, "nb")) / "reports"


@pytest.fixture(scope="session")
def site_en(tmp_path_factory):
    """The English barometer for 2019 with the pooled site (built once per test session)."""
    return (
        shared_build(
            tmp_path_factory, "site_en", lambda out: _build(out, "en", years=[2019], pooled=True)
        )
        / "reports"
    )


@pytest.fixture(scope="session")
def default_processed():
    """A lock on ``data/processed``, which 01_ingest writes on its default parameters: tests that
    write or read it there hold it, so that pytest-xdist workers do not meet half-way."""
    from filelock import FileLock

    lock = config.PROJECT_ROOT / "build" / ".data-processed.test.lock"
    lock.parent.mkdir(exist_ok=True)
    return FileLock(str(lock))


BUILD_TIME = re.compile(rb"(Bygd|Built) \d{4}-\d\d-\d\dT[\d:]+\+00:00")


def snapshot(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def site_snapshot(root):
    """Reports and processed tables of a build, with the build time taken out of the pages."""
    snap = {}
    for sub in ("reports", "processed"):
        for k, v in snapshot(root / sub).items():
            snap[(sub, *k.parts)] = BUILD_TIME.sub(b"", v) if k.suffix == ".html" else v
    return snap
