"""End to end: ingest and one year's notebook executed by Papermill, rendered to HTML."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from analysis import build, config, results


def small_build(out, raw=config.RAW_DIR):
    """Ingest and the 2019 report with non-default thresholds (4 000 / 25 000) into ``out``."""
    return build.build(
        raw_dir=raw,
        codebook=config.CODEBOOK_PATH,
        reports_dir=out / "reports",
        processed_dir=out / "processed",
        register_snapshot=None,
        medium=4000,
        large=25000,
        lang="nb",
        years=[2019],
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    log = small_build(out)
    return out, log


def test_build_writes_pages_results_and_index(built):
    out, log = built
    assert log == ["ingest: built", "2019: built"]
    rep = out / "reports"
    for p in (
        "index.html",
        "ingest/index.html",
        "2019/index.html",
        "2019/analyst-index.html",
        "2019/regresjoner.html",
        "2019/results.csv",
        "2019/provenance.json",
    ):
        assert (rep / p).is_file(), p
    res = pd.read_csv(rep / "2019" / "results.csv")
    assert list(res.columns) == list(results.COLUMNS)
    head = res[res["section"] == "headline"]
    assert head["method"].notna().all() and (head["n"] > 0).all()
    page = (rep / "2019" / "index.html").read_text()
    assert "Syntetiske data" in page
    assert "Små (under 4\xa0000)" in page  # the small thresholds reached the notebook
    assert (
        not (rep / "pooled").exists()
        and 'href="2018/index.html"' not in (rep / "index.html").read_text()
    )


def test_rerun_is_up_to_date(built):
    out, _ = built
    log = small_build(out)
    assert log == ["ingest: up to date", "2019: up to date"]


def test_reviewer_pages_have_no_code_and_no_personal_data(built):
    out, _ = built
    raw = pd.concat([pd.read_excel(p, dtype=str) for p in config.RAW_DIR.glob("*.xlsx")])
    emails = set(raw["E-postadresse"].dropna()) | set(raw.get("E-post", pd.Series()).dropna())
    comments = set(raw.filter(like="ommentar").stack().dropna())
    for page in (out / "reports").rglob("*.html"):
        text = page.read_text()
        assert not re.search(r"[\w.]+@[\w.]+\.no", text), page
        for c in comments:
            assert c not in text, page
        assert not any(e in text for e in emails)
        assert "<script" not in text.lower(), page  # self-contained, no scripts
        if not page.name.startswith("analyst-"):
            assert "import " not in text and "load.survey" not in text, page


def _snapshot(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


BUILD_TIME = re.compile(rb"(Bygd|Built) \d{4}-\d\d-\d\dT[\d:]+\+00:00")


def test_two_builds_from_clean_publish_identical_numbers(built):
    """Determinism: rebuilt from clean, results are byte-identical and HTML differs only in build time."""
    import shutil

    out, _ = built
    first = {
        **{("r",) + k.parts: v for k, v in _snapshot(out / "reports").items()},
        **{("p",) + k.parts: v for k, v in _snapshot(out / "processed").items()},
    }
    shutil.rmtree(out / "reports")
    shutil.rmtree(out / "processed")
    small_build(out)
    second = {
        **{("r",) + k.parts: v for k, v in _snapshot(out / "reports").items()},
        **{("p",) + k.parts: v for k, v in _snapshot(out / "processed").items()},
    }
    assert first.keys() == second.keys()
    for k in first:
        if k[-1].endswith(".html"):
            assert BUILD_TIME.sub(b"", first[k]) == BUILD_TIME.sub(b"", second[k]), k
        else:
            assert first[k] == second[k], k


def test_failed_build_leaves_last_good_reports_intact(built, tmp_path):
    out, _ = built
    before = _snapshot(out / "reports")
    processed_before = _snapshot(out / "processed")
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "kommuneundersokelsen_2019.csv").write_bytes(b"Kommune;Status\nOslo;Fullf\xf8rt\n")
    with pytest.raises(build.BuildError, match=r"01_ingest.ipynb failed in cell \d+ \(IngestError"):
        small_build(out, raw)
    assert _snapshot(out / "reports") == before
    assert _snapshot(out / "processed") == processed_before
    assert (out / "build" / "reports" / "failed" / "ingest" / "01_ingest.ipynb").is_file()


def test_make_report_exit_code_and_message(tmp_path):
    import subprocess
    import sys

    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "kommuneundersokelsen_2019.csv").write_text("")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "analysis.build",
            "--raw-dir",
            str(raw),
            "--reports-dir",
            str(tmp_path / "r"),
            "--processed-dir",
            str(tmp_path / "p"),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 1
    assert "make report failed" in r.stderr and "Traceback" not in r.stderr


def test_interrupted_build_recovers(tmp_path):
    """Kill a build midway; the rerun completes and nothing half-written is published."""
    import os
    import signal
    import subprocess
    import sys
    import time

    args = [
        sys.executable,
        "-m",
        "analysis.build",
        "--reports-dir",
        str(tmp_path / "r"),
        "--processed-dir",
        str(tmp_path / "p"),
        "--years",
        "2019",
    ]
    proc = subprocess.Popen(
        args, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 120
    while time.time() < deadline and not (tmp_path / "p" / "respondents.csv").exists():
        time.sleep(0.5)
    time.sleep(3)  # now inside the year notebook (or finishing ingest)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (
        not (tmp_path / "r" / "2019" / "results.csv").exists()
        or (tmp_path / "r" / "2019" / ".build-key").exists()
    )
    r = subprocess.run(args, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert not list((tmp_path / "r").glob(".staging-*")) and not list(
        (tmp_path / "r").glob(".old-*")
    )
    res = pd.read_csv(tmp_path / "r" / "2019" / "results.csv")
    assert len(res) > 100 and (tmp_path / "r" / "index.html").is_file()


def test_missing_codebook_is_a_clear_error(tmp_path):
    import subprocess
    import sys

    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "analysis.build",
            "--codebook",
            str(tmp_path / "nope.yml"),
            "--reports-dir",
            str(tmp_path / "r"),
            "--processed-dir",
            str(tmp_path / "p"),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 1
    assert "codebook" in r.stderr and "nope.yml" in r.stderr and "Traceback" not in r.stderr
