"""Data safety and security of the build (issue 25): the build never deletes or overwrites what
is not its own, parameters are data and never shell words, staleness follows content, and
text from a delivery or a codebook never runs in a page or in the printer.

The quick tests check each rule on its own; ``test_a_hostile_delivery_...`` builds one
delivery through ``make report`` with a space, quotes and a semicolon in every path, a script
in a column header, a codebook label, a question wording, a file name and a municipality name,
and then corrects an export with an old file time and cleans up."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

from analysis import build, config, graph, publish, render

ROOT = config.PROJECT_ROOT


def _make(*args: str, dry: bool = False) -> subprocess.CompletedProcess:
    cmd = ["make", "-s", *(["-n"] if dry else []), *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)


# ---------------------------------------------------------------- parameters are data


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("YEARS", "2019;touch {f}", "YEARS must be survey years"),
        ("YEARS", "$(shell touch {f})", "YEARS must be survey years"),
        ("MEDIUM", "1;touch {f}", "MEDIUM must be a whole number"),
        ("MEDIUM", "5000.5", "MEDIUM must be a whole number"),
        ("LARGE", "`touch {f}`", "LARGE must be a whole number"),
        ("LANG_REPORT", "nb;touch {f}", "language must be one of"),
        ("RAW_DIR", "data/raw;touch {f}", "is not a folder"),
        ("CODEBOOK", "x.yml';touch {f};'", "not found"),
        ("JOBS", "2;touch {f}", "JOBS must be a whole number"),
    ],
)
@pytest.mark.parametrize("dry", [False, True])
def test_make_variables_never_reach_a_shell(tmp_path, variable, value, message, dry):
    """Each refused in one line before anything runs, ``make -n`` included; no file appears
    (before issue 25 ``YEARS='2019;touch F'`` created F, even under ``make -n``)."""
    f = tmp_path / "F"
    r = _make("report", f"{variable}={value.format(f=f)}", dry=dry)
    assert not f.exists() and not list(ROOT.glob("lang=*"))
    if not dry:
        lines = [ln for ln in r.stderr.splitlines() if not ln.startswith("make: ***")]
        assert r.returncode != 0 and message in lines[0] and "Traceback" not in r.stderr, r.stderr
        assert lines[0].startswith("make report failed: ")


def test_parameters_are_checked_in_one_place():
    p = build.parameters(years="2019, 2018", medium="4000", large=" 25000 ")
    assert p.years == (2018, 2019) and (p.medium, p.large) == (4000, 25000)
    for kwargs, message in (
        ({"years": "2019;2018"}, "YEARS must be survey years"),
        ({"years": "19"}, "YEARS must be survey years"),
        ({"medium": "20000", "large": "5000"}, "0 < medium < large"),
        ({"medium": "-1"}, "MEDIUM must be a whole number"),
        ({"lang": "de"}, "language must be one of"),
        ({"raw_dir": "no/such/folder"}, "is not a folder"),
    ):
        with pytest.raises(build.BuildError, match=message):
            build.parameters(**kwargs)


def test_make_sees_no_path_of_the_users(tmp_path):
    """Paths with spaces, quotes, $ and ; are the user's business: make gets the build folder
    (a slug and a digest under the checkout) and the checkout's own relative paths."""
    odd = tmp_path / "mine 'a' \"b\"; $c"
    p = build.parameters(reports_dir=odd / "reports", processed_dir=odd / "processed")
    cmd = build.make_command(p)
    assert all(build.MAKE_SAFE.fullmatch(a.split("=", 1)[1] or "x") for a in cmd if "=" in a)
    assert str(odd) not in " ".join(cmd)
    assert p.build_dir.parent == config.BUILD_DIR and p.build_dir.name.startswith("reports-")


# ---------------------------------------------------------------- output folders


@pytest.fixture
def layout(tmp_path):
    """A user's folders: a delivery, a register copy, documents, a sibling with a sheet."""
    (tmp_path / "delivery").mkdir()
    (tmp_path / "delivery" / "kommuneundersokelsen_2019.csv").write_text("a;b\n")
    (tmp_path / "register").mkdir()
    (tmp_path / "Documents" / "thesis").mkdir(parents=True)
    (tmp_path / "Documents" / "notes.txt").write_text("mine")
    (tmp_path / "Documents" / "thesis" / "chapter1.tex").write_text("mine")
    (tmp_path / "codebook.yml").write_text("x")
    return tmp_path


@pytest.mark.parametrize(
    ("reports", "processed", "message"),
    [
        ("delivery", "p", "REPORTS_DIR .* is or lies inside the delivery"),
        ("r", "delivery", "PROCESSED_DIR .* is or lies inside the delivery"),
        ("delivery/site", "p", "lies inside the delivery"),
        (".", "p", "contains the delivery"),
        ("register/out", "p", "lies inside the register"),
        ("Documents", "p", r"holds files that the build did not make \(such as notes.txt\)"),
        ("r", "Documents", r"PROCESSED_DIR .* holds files that the build did not make"),
        ("r", "r", "must be two separate folders"),
        ("r", "r/processed", "must be two separate folders"),
        ("r/reports", "r", "must be two separate folders"),
    ],
)
def test_output_folders_that_are_not_the_builds_are_refused(layout, reports, processed, message):
    before = {p: p.read_bytes() for p in layout.rglob("*") if p.is_file()}
    with pytest.raises(publish.OutputFolderError, match=message):
        publish.check_outputs(
            layout / reports,
            layout / processed,
            layout / "delivery",
            layout / "codebook.yml",
            layout / "register",
        )
    assert {p: p.read_bytes() for p in layout.rglob("*") if p.is_file()} == before


def test_a_codebook_inside_an_output_folder_is_refused(layout):
    (layout / "kb").mkdir()
    (layout / "kb" / "codebook.yml").write_text("x")
    with pytest.raises(publish.OutputFolderError, match="contains the codebook"):
        publish.check_outputs(
            layout / "kb", layout / "x", layout / "delivery", layout / "kb" / "codebook.yml",
            layout / "register",
        )  # fmt: skip


def test_empty_new_and_own_folders_are_accepted_and_a_stray_file_is_not(layout):
    args = (layout / "delivery", layout / "codebook.yml", layout / "register")
    (layout / "empty").mkdir()
    publish.check_outputs(layout / "empty", layout / "new" / "p", *args)
    own = layout / "own"
    (own / "2019").mkdir(parents=True)
    (own / "2019" / "index.html").write_text("page")
    publish.mark(own)
    (own / "README.md").write_text("kept")
    publish.check_outputs(own, layout / "p", *args)
    (own / "2019" / "mine.txt").write_text("a user's")
    with pytest.raises(publish.OutputFolderError, match=r"2019/mine.txt"):
        publish.check_outputs(own, layout / "p", *args)


def test_processed_tables_written_by_the_notebook_itself_are_the_builds():
    from analysis import processed

    names = (processed.RESPONDENTS_FILE, processed.LOG_FILE, processed.ITEM_MISSING_FILE)
    assert set(publish.INGEST_TABLES) == {*names, processed.META_FILE}


def test_clean_removes_only_what_the_build_made(layout):
    own = layout / "my reports"
    (own / "2019").mkdir(parents=True)
    (own / "2019" / "index.html").write_text("page")
    publish.mark(own)
    (own / "notes.txt").write_text("added later by the user")
    sibling = layout / "my"  # what an unquoted "my reports" split into
    sibling.mkdir()
    (sibling / "sheet.xlsx").write_text("a user's")
    assert "removed the 1 files" in publish.clean_folder(own)
    assert not (own / "2019").exists() and (own / "notes.txt").read_text()
    assert (sibling / "sheet.xlsx").is_file()
    assert "left alone" in publish.clean_folder(layout / "Documents")
    assert (layout / "Documents" / "notes.txt").is_file()


def test_make_clean_with_a_space_leaves_the_sibling_folder(layout):
    """``make clean`` passed REPORTS_DIR unquoted to rm: "my reports" removed "my" too."""
    own = layout / "my reports"
    (own / "2019").mkdir(parents=True)
    (own / "2019" / "index.html").write_text("page")
    publish.mark(own)
    (layout / "my").mkdir()
    (layout / "my" / "sheet.xlsx").write_text("a user's")
    gone = f"RAW_DIR={layout / 'no such delivery'}"  # make clean reads no input
    r = _make("clean", f"REPORTS_DIR={own}", f"PROCESSED_DIR={layout / 'my processed'}", gone)
    assert r.returncode == 0, r.stderr
    assert (layout / "my" / "sheet.xlsx").read_text() == "a user's"
    assert not own.exists() and (layout / "Documents" / "notes.txt").is_file()


# ---------------------------------------------------------------- staleness from content


def test_input_tokens_follow_content_not_file_time(tmp_path, monkeypatch):
    raw = tmp_path / "raw"
    raw.mkdir()
    export = raw / "kommuneundersokelsen_2019.csv"
    export.write_text("a;b\n1;2\n")
    out = tmp_path / "inputs"
    args = (out, raw, config.CODEBOOK_PATH, config.default_register_snapshot())
    assert set(graph.write_input_tokens(*args)) == {"raw", "codebook", "register", "environment"}
    os.utime(export, (1e9, 1e9))  # touched, same bytes: nothing changes
    assert graph.write_input_tokens(*args) == []
    export.write_text("a;b\n1;3\n")  # corrected, with an old time (as cp -p and unzip leave it)
    os.utime(export, (1e9, 1e9))
    assert graph.write_input_tokens(*args) == ["raw"]
    monkeypatch.setattr(graph, "environment", lambda: "python 3.11\nnumpy-9.9.dist-info\n")
    assert graph.write_input_tokens(*args) == ["environment"]


def test_the_environment_names_every_installed_distribution():
    env = graph.environment()
    assert re.search(r"^pandas-[0-9.]+\.dist-info$", env, re.M)
    assert re.search(r"^requirements.lock [0-9a-f]{64}$", env, re.M)


# ---------------------------------------------------------------- text stays text


def _page(tmp_path, outputs) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x", outputs=outputs)]
    executed = tmp_path / "nb.ipynb"
    nbformat.write(nb, executed)
    return executed


def test_markdown_from_data_is_text_in_the_page(tmp_path):
    md = "Kommune **<script>alert(1)</script>** og <img src=x onerror=alert(2)>, p < 0,001"
    out = nbformat.v4.new_output("display_data", data={"text/markdown": md})
    html = render.render(_page(tmp_path, [out]), tmp_path / "p.html", render.Page("T", "nb"))
    html = html.read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script" not in html.lower()
    assert "onerror=" not in re.sub(r"&lt;img[^<]*", "", html)
    assert f'content="{render.csp()}"' in html and "script-src" not in render.csp()
    assert "default-src 'none'" in render.csp()


@pytest.mark.parametrize(
    "fragment",
    [
        "<script>alert(1)</script>",
        '<img src="x" onerror="alert(1)">',
        '<a href="javascript:alert(1)">x</a>',
        '<iframe src="https://example.org"></iframe>',
        '<meta http-equiv="refresh" content="0;url=https://example.org">',
    ],
)
def test_a_page_with_active_content_is_not_written(tmp_path, fragment):
    out = nbformat.v4.new_output("display_data", data={"text/html": f"<p>{fragment}</p>"})
    target = tmp_path / "p.html"
    with pytest.raises(render.ActiveContent, match="active content"):
        render.render(_page(tmp_path, [out]), target, render.Page("T", "nb"))
    assert not target.exists()


# ---------------------------------------------------------------- the warm server's socket


def test_the_warm_socket_lives_in_a_folder_of_this_user_alone(tmp_path, monkeypatch):
    import socket
    import tempfile

    from analysis import warm_client

    short = Path(tempfile.mkdtemp(prefix="kbw", dir="/tmp"))  # a socket path has ~107 bytes
    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(short))
    sock = warm_client.socket_path()
    assert sock.startswith(str(short))
    d = Path(sock).parent
    assert d.stat().st_mode & 0o777 == 0o700 and d.stat().st_uid == os.getuid()
    d.chmod(0o777)  # another user could bind the path: no warm server then
    assert warm_client.socket_path() == ""
    a, b = socket.socketpair(socket.AF_UNIX)
    assert warm_client.same_user(a)
    a.close()
    b.close()
    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path / ("x" * 120)))
    assert warm_client.socket_path() == ""  # too long for a Unix socket: no warm server
    shutil.rmtree(short)


# ---------------------------------------------------------------- a hostile delivery, built


def _hostile(root: Path) -> tuple[Path, Path]:
    """A delivery and a codebook carrying scripts: 2017 as delivered; 2018 with an extra column
    headed by a script, a municipality named like an image with an error handler, and a file
    name with an event handler; a codebook label and a 2018 wording with scripts."""
    deliv = root / "levering 'x' \"y\"; z"
    deliv.mkdir(parents=True)
    shutil.copy(config.RAW_DIR / "kommuneundersokelsen_2017.sav", deliv)
    lines = (config.RAW_DIR / "kommuneundersokelsen_2018.csv").read_bytes().split(b"\n")
    lines = [ln.rstrip(b"\r") + (b";x" if i else b";<script>alert(1)</script>") for i, ln in
             enumerate(lines) if ln.strip()]  # fmt: skip
    cells = lines[5].split(b";")
    cells[1] = b"<img src=x onerror=alert(3)>"
    lines[5] = b";".join(cells)
    name = "kommuneundersokelsen_2018 <b onmouseover=alert(4)>.csv"
    (deliv / name).write_bytes(b"\n".join(lines) + b"\n")
    text = config.CODEBOOK_PATH.read_text(encoding="utf-8")
    text = text.replace(
        "nb: Respondentens rolle\n", "nb: Respondentens rolle <script>alert(7)</script>\n"
    )
    text = text.replace(
        "question: Hva er din rolle i kommunen?\n      2019:",
        "question: Hva er din rolle <script>document.title='HACKED'</script> i kommunen?\n      2019:",
    )
    assert text.count("alert(7)") == 1 and text.count("HACKED") == 1
    codebook = root / "kodebok 'k'.yml"
    codebook.write_text(text, encoding="utf-8")
    return deliv, codebook


@pytest.mark.slow
def test_a_hostile_delivery_in_awkward_paths_builds_as_text_and_touches_nothing_else(tmp_path):
    root = tmp_path / "a b 'c' \"d\"; e"
    deliv, codebook = _hostile(root)
    (root / "my").mkdir()
    (root / "my" / "regneark.xlsx").write_text("a user's sheet")
    reports, processed = root / "my reports", root / "my processed"
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    args = [f"RAW_DIR={deliv}", f"CODEBOOK={codebook}", f"REPORTS_DIR={reports}"]
    args += [f"PROCESSED_DIR={processed}", "YEARS=2018"]
    r = _make("report", *args)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "built: ingest" in r.stdout
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    new = [p for p in after if p not in before]
    assert all(reports in p.parents or processed in p.parents for p in new), new
    assert {p: after[p] for p in before} == before  # every file outside the build's, as it was
    html = {p: p.read_text(encoding="utf-8") for p in reports.rglob("*.html")}
    assert len(html) >= 12
    for p, text in html.items():
        render.check_inert(text, p.name)
        assert f'content="{render.csp()}"' in text and "<script" not in text.lower(), p
    every = "\n".join(html.values())
    for shown in ("&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;script&gt;alert(7)&lt;/script&gt;"):
        assert shown in every, shown  # the header and the label, shown as written
    assert "onmouseover=alert(4)" in every and "<b onmouseover" not in every

    # an export corrected with an old file time is rebuilt (it used to be "up to date")
    old = pd_results(reports)
    export = next(deliv.glob("*2018*.csv"))
    stat = export.stat()
    export.write_bytes(b"\n".join(export.read_bytes().split(b"\n")[:60]) + b"\n")
    os.utime(export, ns=(stat.st_atime_ns, stat.st_mtime_ns - 10**13))
    before[export] = export.read_bytes()
    r = _make("report", *args)
    assert r.returncode == 0 and "built: ingest" in r.stdout and "2018 (" in r.stdout, r.stdout
    assert pd_results(reports) != old

    # the printable edition: scripts do not run (the wording's script would set the title)
    if shutil.which("chromium"):
        pdf = _make("pdf", *args)
        assert pdf.returncode == 0, pdf.stderr[-2000:]
        data = (reports / "2018" / "kommunebarometer-2018.pdf").read_bytes()
        assert b"HACKED" not in data and "HACKED".encode("utf-16-be") not in data

    r = _make("clean", f"REPORTS_DIR={reports}", f"PROCESSED_DIR={processed}")
    assert r.returncode == 0, r.stderr
    assert not reports.exists() and not processed.exists()
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def pd_results(reports: Path) -> bytes:
    return (reports / "2018" / "results.csv").read_bytes()


def test_a_build_of_some_years_says_which_it_no_longer_publishes(tmp_path):
    site, processed = tmp_path / "site", tmp_path / "processed_build"
    for f in ("index.html", "ordliste.html", "proveniens.html", "results_dictionary.csv"):
        (site / f).parent.mkdir(parents=True, exist_ok=True)
        (site / f).write_text("x")
    for s in ("ingest", "2018", "2019"):
        (site / s).mkdir()
        (site / s / "index.html").write_text(s)
    processed.mkdir()
    (processed / "respondents.csv").write_text("x")
    out, proc = tmp_path / "reports", tmp_path / "processed"
    assert publish.publish(site, processed, out, proc, ["ingest", "2018", "2019"]) == []
    notes = publish.publish(site, processed, out, proc, ["ingest", "2019"])
    assert notes == [
        "no longer published: 2018 (this build was asked for 2019; build without YEARS to "
        "publish every year)"
    ]
    assert not (out / "2018").exists() and (out / "2019" / "index.html").is_file()


def test_a_copy_that_failed_part_way_is_one_line():
    exc = shutil.Error([("a", "/r/2019/x.html", "[Errno 28] No space left on device")])
    msg = publish.os_error_message(exc, "reports")
    assert msg.startswith("no space left on the device while writing /r/2019/x.html.")
    assert "[(" not in msg
