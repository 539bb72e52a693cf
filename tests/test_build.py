"""End to end: ingest and one year's notebook executed by Papermill, rendered to HTML."""

from __future__ import annotations

import errno
import os
import re
import shutil

import nbformat
import pandas as pd
import pytest
from conftest import site_snapshot as _site_snapshot
from conftest import snapshot as _snapshot

from analysis import build, config, publish, results, steps

pytestmark = pytest.mark.slow


def small_build(out, raw=config.RAW_DIR, **overrides):
    """Ingest and the 2019 report with non-default thresholds (4 000 / 25 000) into ``out``."""
    return build.build(
        **{
            "raw_dir": raw,
            "codebook": config.CODEBOOK_PATH,
            "reports_dir": out / "reports",
            "processed_dir": out / "processed",
            "register_snapshot": None,
            "medium": 4000,
            "large": 25000,
            "lang": "nb",
            "years": [2019],
            **overrides,
        }
    )


def _leftovers(out):
    """Staging copies and backups left beside the reports and processed folders."""
    return [p.name for p in out.iterdir() if p.name.startswith(".") and "-" in p.name]


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """Two deliveries built at once from one checkout (``python -m analysis.build``, as make
    report runs), into two report folders that share the checkout's warm server: ``a``, the
    full delivery's 2019 with non-default thresholds (4 000 / 25 000), and ``b``, a delivery of
    the 2018 export alone. Each: its root (reports/, processed/, build/) and what it printed."""
    import subprocess
    import sys

    root = tmp_path_factory.mktemp("build")
    (root / "raw_b").mkdir()
    shutil.copy(config.RAW_DIR / "kommuneundersokelsen_2018.csv", root / "raw_b")
    runs = {
        "a": [str(config.RAW_DIR), "--medium", "4000", "--large", "25000", "--years", "2019"],
        "b": [str(root / "raw_b")],
    }
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-m", "analysis.build", "--raw-dir", *args]
            + ["--reports-dir", str(root / name / "reports")]
            + ["--processed-dir", str(root / name / "processed")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, args in runs.items()
    }
    done = {}
    for name, p in procs.items():
        stdout, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-2000:]
        done[name] = (root / name, stdout.splitlines())
    return done


@pytest.fixture(scope="module")
def built(both):
    """Ingest and the 2019 report at 4 000 / 25 000 (delivery ``a`` of :func:`both`)."""
    return both["a"]


def test_build_writes_pages_results_and_index(built):
    out, printed = built
    assert re.fullmatch(r"built: ingest \(\d+ s\), 2019 \(\d+ s\)", printed[0]), printed
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


def test_rerun_is_up_to_date(built, capsys):
    out, _ = built
    log = small_build(out)
    assert log == ["ingest: up to date", "2019: up to date"]
    capsys.readouterr()
    args = ["--reports-dir", str(out / "reports"), "--processed-dir", str(out / "processed")]
    assert build.main([*args, "--medium", "4000", "--large", "25000", "--years", "2019"]) == 0
    printed = capsys.readouterr()
    lines = printed.out.splitlines()
    assert printed.err == "" and lines[:2] == ["built: nothing", "up to date: ingest, 2019"]
    assert re.fullmatch(r"site: .*reports/index\.html \(\d+ s\)", lines[2]) and len(lines) == 3


def test_two_builds_from_one_checkout_at_once_keep_their_own_numbers(both, tmp_path):
    """The two deliveries built at once (fixture ``both``) each count their own respondents
    (that a build gives the same bytes again is tested with the interrupted build, in
    tests/test_build_faults.py)."""
    from analysis import ingest, load

    for name, year in (("a", "2019"), ("b", "2018")):
        built_line = both[name][1][0]
        assert re.fullmatch(rf"built: ingest \(\d+ s\), {year} \(\d+ s\)", built_line), both[name]
    raw_b = both["b"][0].parent / "raw_b"
    rep = both["b"][0] / "reports"
    assert sorted(p.name for p in rep.iterdir() if p.is_dir()) == ["2018", "ingest"]
    ingest.run_ingest(
        raw_b, config.CODEBOOK_PATH, None, tmp_path / "check", config.SizeThresholds()
    )
    d = load.survey(tmp_path / "check").year(2018)
    expected = int(d.loc[d["size_class"] == "large", "etterutdanning_ikt"].notna().sum())
    r = results.read_csv(rep / "2018" / "results.csv")
    row = r[
        (r["section"] == "headline")
        & (r["outcome"] == "etterutdanning_ikt")
        & (r["group"] == "large")
    ]
    assert int(row["n"].iloc[0]) == expected, (int(row["n"].iloc[0]), expected)


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
    assert (
        build.build_dir_for(out / "reports") / "failed" / "ingest" / "01_ingest.ipynb"
    ).is_file()


def test_a_failure_after_ingest_leaves_the_whole_site_old(built, tmp_path):
    """New thresholds rerun ingest; a year notebook then fails (a copy of the notebooks with a
    failing cell): the reports and the processed tables are both the last good ones."""
    out, _ = built
    before = _site_snapshot(out)
    notebooks = tmp_path / "notebooks"
    shutil.copytree(config.NOTEBOOKS_DIR, notebooks)
    nb = nbformat.read(notebooks / "10_summary.ipynb", as_version=4)
    first = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")  # the parameters
    nb.cells.insert(first + 1, nbformat.v4.new_code_cell("raise RuntimeError('a failing cell')"))
    nbformat.write(nb, notebooks / "10_summary.ipynb")
    with pytest.raises(build.BuildError, match=r"10_summary.ipynb failed in cell \d+ \(Runtime"):
        small_build(out, medium=6000, large=30000, notebooks_dir=notebooks)
    assert _site_snapshot(out) == before
    assert _leftovers(out) == []


def _kill_inside_commit(pub, monkeypatch, after_commit_point):
    """Run ``pub.commit`` until a SIGKILL would stop it: before or after the staging rename."""
    real_rename, real_rmtree = type(pub.stage).rename, shutil.rmtree

    def rename(self, target):
        if self == pub.stage and not after_commit_point:
            raise KeyboardInterrupt("killed between the two renames")
        return real_rename(self, target)

    def rmtree(path, *a, **k):
        raise KeyboardInterrupt("killed before the backups were removed")

    monkeypatch.setattr(type(pub.stage), "rename", rename)
    monkeypatch.setattr(publish.shutil, "rmtree", rmtree)
    with pytest.raises(KeyboardInterrupt):
        pub.commit()
    monkeypatch.undo()
    assert real_rmtree is shutil.rmtree


@pytest.mark.parametrize("after_commit_point", [False, True])
def test_a_kill_inside_the_site_swap_leaves_one_whole_site(
    built, monkeypatch, tmp_path, after_commit_point
):
    out, _ = built
    before = _site_snapshot(out)
    for sub in ("reports", "processed"):
        shutil.copytree(out / sub, tmp_path / sub, symlinks=True)
    new_site, new_tables = tmp_path / "site", tmp_path / "tables"
    shutil.copytree(out / "reports", new_site)
    shutil.copytree(out / "processed", new_tables)
    (new_site / "2019" / "index.html").write_text("new")
    (new_tables / "respondents.csv").write_text("new")
    pub = publish.Publication(out / "reports", out / "processed")
    pub.__enter__()  # a SIGKILL skips __exit__, so the context manager is not used here
    pub.stage_site(new_site, ["ingest", "2019"])
    pub.stage_tables(new_tables)
    _kill_inside_commit(pub, monkeypatch, after_commit_point)
    notes = publish.recover(out / "reports", out / "processed")
    after = _site_snapshot(out)
    if after_commit_point:  # the new site was published: it stays, with its processed tables
        assert notes == []
        assert after[("processed", "respondents.csv")] == b"new"
        assert after[("reports", "2019", "index.html")] == b"new"
        for sub in ("reports", "processed"):  # put the fixture's site back for later tests
            shutil.rmtree(out / sub)
            shutil.copytree(tmp_path / sub, out / sub, symlinks=True)
        assert _site_snapshot(out) == before
    else:
        assert notes == [
            "processed: restored the processed tables of the last good build",
            "reports: restored the last good site",
        ]
        assert after == before
    assert _leftovers(out) == []


@pytest.mark.parametrize(
    "where, err, message",
    [
        (
            "copytree",
            errno.EROFS,
            r"^make report failed: cannot write .*\S* \(Read-only file system\)\. Make the "
            r"reports folder and the folder it is in writable, or choose another with "
            r"REPORTS_DIR=\.\.\.; nothing was published\.$",
        ),
        (
            "copy2",
            errno.ENOSPC,
            r"^make report failed: no space left on the device while writing .*index\.html\. "
            r"Free some space and run make report again; the last good reports and processed "
            r"tables are unchanged\.$",
        ),
    ],
)
def test_a_read_only_folder_or_a_full_disk_is_one_line(
    built, monkeypatch, capsys, where, err, message
):
    """Running as root, chmod does not stop writes, so the OS error is injected where it would
    arise when publishing: copying a site, or the landing page, into the staging folder."""
    out, _ = built
    before = _site_snapshot(out)

    def fail(src, dst, *a, **k):
        raise OSError(err, os.strerror(err), str(dst))

    monkeypatch.setattr(publish.shutil, where, fail)
    b = build.build_dir_for(out / "reports")
    rc = steps.main(
        [
            "publish", "--build-dir", str(b), "--sites", "ingest 2019",
            "--reports-dir", str(out / "reports"), "--processed-out", str(out / "processed"),
        ]
    )  # fmt: skip
    monkeypatch.undo()
    assert rc == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and re.match(message, lines[0]), lines
    assert _site_snapshot(out) == before
    assert _leftovers(out) == []


def test_a_build_with_other_class_limits_says_them_everywhere(built):
    """The claims audit (tests/claims.py) on the build at 4 000 / 25 000: the main model and
    the methods page name the build's limits, the sensitivity model other ones (the page
    used to print "5 000 og 20 000" whatever the build used)."""
    from claims import audit

    out, _lines = built
    assert audit(out / "reports", 4000, 25000) == []
