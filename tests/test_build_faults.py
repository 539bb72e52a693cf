"""Build faults run as a user would meet them: bad input through make report, a killed build,
two builds at once, bad parameters. Each builds into its own folders (no shared fixture)."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
from conftest import site_snapshot

from analysis import build, config, publish, results

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


def test_interrupted_build_recovers(tmp_path):
    """Kill a build midway; the rerun completes and nothing half-written is published."""
    import os
    import signal
    import subprocess
    import time

    args = _cli(tmp_path, "--years", "2019")
    proc = subprocess.Popen(
        args, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 120
    made = tmp_path / "build" / "r" / "processed" / "respondents.csv"  # ingest's, in the build
    while time.time() < deadline and not made.exists():
        time.sleep(0.5)
    time.sleep(3)  # now inside the year notebooks (or finishing ingest)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "r").exists() and not (tmp_path / "p").exists()  # nothing published
    r = subprocess.run(args, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".") and "-" in p.name]
    assert leftovers == [] and not list((tmp_path / "r").glob(".staging-*"))
    res = pd.read_csv(tmp_path / "r" / "2019" / "results.csv")
    assert len(res) > 100 and (tmp_path / "r" / "index.html").is_file()


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


def test_two_builds_from_one_checkout_at_once_keep_their_own_numbers(tmp_path):
    """Two deliveries built concurrently into two report folders: each site has its own data."""
    import subprocess
    import sys

    from analysis import ingest, load

    procs, dirs = [], {}
    for year, name in ((2019, "a"), (2018, "b")):
        raw = tmp_path / f"raw_{name}"
        raw.mkdir()
        src = next(config.RAW_DIR.glob(f"kommuneundersokelsen_{year}.*"))
        shutil.copy(src, raw / src.name)
        dirs[name] = (raw, year)
        args = [
            "--raw-dir",
            str(raw),
            "--reports-dir",
            str(tmp_path / name / "reports"),
            "--processed-dir",
            str(tmp_path / name / "processed"),
        ]
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "analysis.build", *args],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-2000:]
    for name, (raw, year) in dirs.items():
        rep = tmp_path / name / "reports"
        assert sorted(p.name for p in rep.iterdir() if p.is_dir()) == sorted(["ingest", str(year)])
        ingest.run_ingest(
            raw, config.CODEBOOK_PATH, None, tmp_path / f"check_{name}", config.SizeThresholds()
        )
        d = load.survey(tmp_path / f"check_{name}").year(year)
        expected = int(d.loc[d["size_class"] == "large", "etterutdanning_ikt"].notna().sum())
        r = results.read_csv(rep / str(year) / "results.csv")
        row = r[
            (r["section"] == "headline")
            & (r["outcome"] == "etterutdanning_ikt")
            & (r["group"] == "large")
        ]
        assert int(row["n"].iloc[0]) == expected, (name, int(row["n"].iloc[0]), expected)
    # each site equals its own solo build (same paths, built alone after the concurrent run)
    for name, (raw, _year) in dirs.items():
        concurrent = site_snapshot(tmp_path / name)
        shutil.rmtree(tmp_path / name)
        build.build(
            raw_dir=raw,
            codebook=config.CODEBOOK_PATH,
            reports_dir=tmp_path / name / "reports",
            processed_dir=tmp_path / name / "processed",
            register_snapshot=None,
            medium=config.DEFAULT_SIZE_THRESHOLDS[0],
            large=config.DEFAULT_SIZE_THRESHOLDS[1],
        )
        assert site_snapshot(tmp_path / name) == concurrent, name


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
        assert time.time() - t0 < 30 and not (tmp_path / "build").exists()
