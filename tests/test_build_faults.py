"""Build faults run as a user would meet them: bad input through make report, a killed build,
bad parameters. Each builds into its own folders; two builds at once are in ``test_build.py``.
The build that recovers from the kill is also the determinism check: a second build of one
year gives the numbers of the session's full site byte for byte."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import changed_delivery

from analysis import build, config, ingest, publish

pytestmark = pytest.mark.slow


def _cli(tmp_path, *extra: str) -> list[str]:
    """``python -m analysis.build`` into ``tmp_path/r`` and ``tmp_path/p`` (what make report runs)."""
    import sys

    out = ["--reports-dir", str(tmp_path / "r"), "--processed-dir", str(tmp_path / "p")]
    return [sys.executable, "-m", "analysis.build", *out, *extra]


def test_make_report_exit_code_and_message(tmp_path):
    import subprocess

    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "kommuneundersokelsen_2019.csv").write_text("")
    r = subprocess.run(_cli(tmp_path, "--raw-dir", str(raw)), capture_output=True, text=True)
    assert r.returncode == 1
    assert "make report failed" in r.stderr and "Traceback" not in r.stderr


def test_interrupted_build_recovers(tmp_path, site):
    """Kill a build midway; the rerun completes and nothing half-written is published.

    The rerun is also a second build of one year: 2017, from a delivery whose 2018 export
    changed (``conftest.changed_delivery``). Its 2017 numbers must be the bytes of the
    session's full build (``site``; its pages differ in their links to the other years), so a
    build is deterministic, and the 2017 pages that ``test_graph`` leaves alone after that
    change are those of a cold build. Its processed tables must be those of the library's
    ingest of the same delivery."""
    import os
    import signal
    import subprocess
    import time

    raw = changed_delivery(tmp_path / "raw", site.parent / "processed")
    args = _cli(tmp_path, "--raw-dir", str(raw), "--years", "2017")
    proc = subprocess.Popen(
        args, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 120
    made = build.build_dir_for(tmp_path / "r") / "processed" / "respondents.csv"  # ingest's
    while time.time() < deadline and not made.exists():
        time.sleep(0.5)
    time.sleep(1.5)  # now inside the year notebooks (or finishing ingest)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "r").exists() and not (tmp_path / "p").exists()  # nothing published
    r = subprocess.run(args, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".") and "-" in p.name]
    assert leftovers == [] and not list((tmp_path / "r").glob(".staging-*"))
    res = pd.read_csv(tmp_path / "r" / "2017" / "results.csv")
    assert len(res) > 100 and (tmp_path / "r" / "index.html").is_file()
    lib = tmp_path / "lib"
    ingest.run_ingest(raw, config.CODEBOOK_PATH, None, lib, config.SizeThresholds())
    pairs = [(tmp_path / "r" / "2017" / "results.csv", site / "2017" / "results.csv")]
    pairs += [(f, lib / f.name) for f in sorted((tmp_path / "p").glob("[!.]*"))]
    assert len(pairs) == 5, pairs
    for ours, theirs in pairs:
        assert ours.read_bytes() == theirs.read_bytes(), ours.name
    changed = pd.read_csv(tmp_path / "p" / "respondents.csv", dtype=str)
    before = pd.read_csv(site.parent / "processed" / "respondents.csv", dtype=str)
    gone = before[~before["respondent_id"].isin(changed["respondent_id"])]
    assert len(gone) == 26 and set(gone["year"]) == {"2018"}  # what changed, and nothing else
    kept = before[before["respondent_id"].isin(changed["respondent_id"])].reset_index(drop=True)
    assert kept.drop(columns="source_row").equals(changed.drop(columns="source_row"))


def test_a_second_build_into_the_same_folder_waits_and_says_so(tmp_path):
    import subprocess
    import sys
    import time

    code = (
        "import sys; from pathlib import Path; from analysis import publish\n"
        f"with publish.locked(Path({str(tmp_path / 'reports')!r})):\n"
        "    print('got the lock', flush=True)\n"
    )
    with publish.locked(tmp_path / "reports"):
        second = subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        time.sleep(3)
        assert second.poll() is None, "the second build must wait"
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0 and out.strip() == "got the lock"
    assert err.strip().splitlines() == [
        f"another build is writing to {(tmp_path / 'reports').resolve()}; waiting for it to finish"
    ]


def test_parameters_are_checked_before_any_notebook_runs(tmp_path):
    import subprocess
    import time

    for args, message in (
        (
            ["--medium", "30000", "--large", "20000"],
            "size thresholds must satisfy 0 < medium < large",
        ),
        (["--codebook", str(tmp_path / "nope.yml")], "nope.yml not found"),
    ):
        t0 = time.time()
        r = subprocess.run(_cli(tmp_path, *args), capture_output=True, text=True)
        assert r.returncode == 1 and message in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert time.time() - t0 < 30 and not build.build_dir_for(tmp_path / "r").exists()


def test_a_stopped_build_stops_its_steps_and_publishes_nothing(tmp_path):
    """SIGTERM to ``make report``'s front door alone (as ``kill`` sends it): make, its steps
    and their kernels stop with it, in one line, and nothing is published (they used to build
    and publish on while the next build waited)."""
    import os
    import signal
    import subprocess
    import time

    proc = subprocess.Popen(
        _cli(tmp_path), start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    made = build.build_dir_for(tmp_path / "r") / "processed" / "respondents.csv"
    deadline = time.time() + 120
    while time.time() < deadline and not made.exists():
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGTERM)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "make report stopped: nothing more is built or published" in err
    deadline = time.time() + 15
    while True:  # every process of the build's group is gone
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        assert time.time() < deadline, "a step of the stopped build is still running"
        time.sleep(0.2)
    assert not (tmp_path / "r").exists() and not (tmp_path / "p").exists()
