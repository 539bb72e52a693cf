"""Bounded resources (issue 29): each hostile or broken input is refused in one line naming the
file and the limit, before it is read (none of these runs long or fills memory)."""

from __future__ import annotations

import os
import subprocess
import sys
import unicodedata
import zipfile

import pytest

from analysis import config, limits, readers
from analysis.codebook import CodebookError, load_codebook


def test_a_yaml_alias_bomb_is_refused_before_it_expands(tmp_path):
    bomb = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    bomb += [
        f"{c}: &{c} [{', '.join(['*' + p] * 9)}]"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    ]
    cb = tmp_path / "codebook.yml"
    cb.write_text("\n".join(bomb) + "\n")
    with pytest.raises(CodebookError, match=r"line 1: YAML anchors and aliases"):
        load_codebook(cb)


def test_an_xlsx_zip_bomb_is_refused_from_its_directory(tmp_path):
    path = tmp_path / "kommuneundersokelsen_2019.xlsx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/worksheets/sheet1.xml", b"0" * 5_000_000)  # 5 MB of zeros: ~5 kB packed
    with pytest.raises(limits.LimitError, match=r"sheet1.xml: \d+ times its packed size"):
        readers.read_export(path, load_codebook(config.CODEBOOK_PATH))


def test_a_link_to_a_device_and_a_huge_file_are_refused(tmp_path):
    os.symlink("/dev/zero", tmp_path / "kommuneundersokelsen_2019.csv")
    with pytest.raises(limits.LimitError, match="not a regular file"):
        readers.discover_exports(tmp_path)
    os.unlink(tmp_path / "kommuneundersokelsen_2019.csv")
    big = tmp_path / "kommuneundersokelsen_2019.csv"
    with open(big, "wb") as fh:
        fh.truncate(30 * 1024 * 1024)  # sparse: 30 MB on paper, nothing on disk
    with pytest.raises(limits.LimitError, match=r"30 MB, more than the 25 MB"):
        readers.discover_exports(tmp_path)


def test_an_export_with_too_many_rows_is_refused(tmp_path):
    path = tmp_path / "kommuneundersokelsen_2019.csv"
    path.write_text("Kommune;Status\n" + "Oslo;Fullført\n" * (limits.MAX_ROWS + 1))
    with pytest.raises(limits.LimitError, match=rf"{limits.MAX_ROWS + 1} rows, more than"):
        readers.read_export(path, load_codebook(config.CODEBOOK_PATH))


def test_a_file_name_in_nfd_matches_its_manifest_line(tmp_path):
    """macOS writes "ø" decomposed; the manifest (and ls) show it composed."""
    name = "kommuneundersøkelsen_2018.csv"
    data = (config.RAW_DIR / "kommuneundersokelsen_2018.csv").read_bytes()
    (tmp_path / unicodedata.normalize("NFD", name)).write_bytes(data)
    from analysis.register import sha256_file

    digest = sha256_file(next(tmp_path.iterdir()))
    (tmp_path / "MANIFEST.sha256").write_text(f"{digest}  {unicodedata.normalize('NFC', name)}\n")
    assert list(readers.verify_manifest(tmp_path).values()) == [digest]


@pytest.mark.slow
def test_a_refusal_through_make_report_is_one_line(tmp_path):
    raw = tmp_path / "delivery with spaces"
    raw.mkdir()
    os.symlink("/dev/zero", raw / "kommuneundersokelsen_2019.csv")
    args = ["--raw-dir", str(raw), "--reports-dir", str(tmp_path / "r"), "--processed-dir",
            str(tmp_path / "p")]  # fmt: skip
    r = subprocess.run(
        [sys.executable, "-m", "analysis.build", *args], capture_output=True, text=True
    )
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("make report failed")]
    assert r.returncode == 1 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert "kommuneundersokelsen_2019.csv: not a regular file" in lines[0]
