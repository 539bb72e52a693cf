"""A corpus of malformed or surprising exports, each with its expected outcome.

Every case ends either in an IngestError whose message names the file (and the row and/or
column where there is one) and says what to do, or in a logged correction or exclusion that
is counted in the row accounting. Never a bare traceback, never a silent drop.
The cases are built from the committed demo exports by small, explicit mutations.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest

from analysis import config, ingest, processed

CSV15 = config.RAW_DIR / "kommuneundersokelsen_2015.csv"
XLSX19 = config.RAW_DIR / "kommuneundersokelsen_2019.xlsx"
SAV17 = config.RAW_DIR / "kommuneundersokelsen_2017.sav"
TEXT15 = CSV15.read_bytes().decode("cp1252")
LINES15 = TEXT15.split("\n")


def csv_case(name: str, text: str | bytes, encoding: str = "cp1252") -> Callable[[Path], Path]:
    def make(d: Path) -> Path:
        p = d / name
        p.write_bytes(text if isinstance(text, bytes) else text.encode(encoding))
        return p

    return make


def with_cell(line_no: int, column: str, value: str) -> str:
    """The 2015 CSV with one cell replaced (line_no counts the header as 1)."""
    header = LINES15[0].split(";")
    j = header.index(column)
    lines = list(LINES15)
    cells = lines[line_no - 1].split(";")
    cells[j] = value
    lines[line_no - 1] = ";".join(cells)
    return "\n".join(lines)


def xlsx_case(name: str, mutate: Callable[[pd.DataFrame], pd.DataFrame], title_rows: int = 0):
    def make(d: Path) -> Path:
        df = mutate(pd.read_excel(XLSX19, dtype=object))
        p = d / name
        with pd.ExcelWriter(p, engine="openpyxl") as xw:
            if title_rows:
                pd.DataFrame([["Kommuneundersøkelsen 2019 - eksport fra leverandør"]]).to_excel(
                    xw, index=False, header=False, startrow=0
                )
            df.to_excel(xw, index=False, startrow=title_rows)
        return p

    return make


def bytes_case(name: str, data: bytes) -> Callable[[Path], Path]:
    def make(d: Path) -> Path:
        (d / name).write_bytes(data)
        return d / name

    return make


def xlsx_second_sheet(d: Path) -> Path:
    import openpyxl

    wb = openpyxl.load_workbook(XLSX19)
    wb.create_sheet("Forside", 0)
    p = d / "k_2019.xlsx"
    wb.save(p)
    return p


def xlsx_time_cells(value: object | None = None) -> Callable[[Path], Path]:
    """The 2019 workbook with real Excel date cells as submission times (optionally one cell
    replaced by ``value``)."""

    def make(d: Path) -> Path:
        from datetime import datetime

        import openpyxl

        wb = openpyxl.load_workbook(XLSX19)
        ws = wb.worksheets[0]
        col = [c.value for c in ws[1]].index("Tidspunkt") + 1
        for r in range(2, ws.max_row + 1):
            cell = ws.cell(row=r, column=col)
            if isinstance(cell.value, str) and cell.value.strip():
                cell.value = datetime.strptime(cell.value.strip(), "%d.%m.%Y %H:%M")
        if value is not None:
            ws.cell(row=7, column=col).value = value
        p = d / "k_2019.xlsx"
        wb.save(p)
        return p

    return make


def sav_without_labels(d: Path) -> Path:
    df, meta = pyreadstat.read_sav(str(SAV17))
    p = d / "kommuneundersokelsen_2017.sav"
    pyreadstat.write_sav(df, str(p), column_labels=meta.column_labels)
    return p


def zip_named_xlsx(d: Path) -> Path:
    import zipfile

    with zipfile.ZipFile(d / "k_2019.xlsx", "w") as z:
        z.writestr("svar.csv", TEXT15)
    return d / "k_2019.xlsx"


ROW = r"row \d+"
# name -> (builder, year, expected): expected is ("error", regex) or ("log", {reason/note: count})
CASES = {
    "utf16_encoding": (
        csv_case("k_2015.csv", TEXT15, "utf-16"),
        2015,
        ("error", r"k_2015\.csv.*UTF-16.*re-export"),
    ),
    "double_encoded_utf8": (
        csv_case("k_2015.csv", TEXT15.encode("utf-8").decode("cp1252", "replace"), "utf-8"),
        2015,
        ("error", rf"k_2015\.csv, {ROW}.*decoded twice"),
    ),
    "utf8_with_bom": (
        csv_case("k_2015.csv", "\ufeff" + TEXT15, "utf-8"),
        2015,
        ("log", {"kept": 113}),
    ),
    "comma_delimiter": (
        csv_case("k_2015.csv", TEXT15.replace(",", ".").replace(";", ",")),
        2015,
        ("log", {"kept": 113}),
    ),
    "pipe_delimiter": (
        csv_case("k_2015.csv", TEXT15.replace(";", "|")),
        2015,
        ("error", r"k_2015\.csv, row 1: no delimiter"),
    ),
    "missing_required_column": (
        csv_case("k_2015.csv", TEXT15.replace("Etterutdanning IKT-ansatte", "XYZ", 1)),
        2015,
        (
            "error",
            r"k_2015\.csv, row 1: column\(s\) required.*etterutdanning_ikt.*'XYZ'.*add the new column name",
        ),
    ),
    "unknown_extra_column": (
        csv_case(
            "k_2015.csv",
            "\n".join([LINES15[0] + ";Ekstra"] + [ln + ";x" if ln else ln for ln in LINES15[1:]]),
        ),
        2015,
        ("log", {"kept": 113, "warning": "'Ekstra' is not in the codebook"}),
    ),
    "renamed_column": (
        csv_case(
            "k_2015.csv",
            TEXT15.replace(
                "Digitalisering i handlingsplan", "Handlingsplan omtaler digitalisering", 1
            ),
        ),
        2015,
        (
            "error",
            r"handlingsplan \(column 'Digitalisering i handlingsplan'\).*'Handlingsplan omtaler digitalisering'",
        ),
    ),
    "unknown_answer_label": (
        csv_case("k_2015.csv", with_cell(3, "Digitalisering i handlingsplan", "Kanskje")),
        2015,
        (
            "error",
            r"k_2015\.csv, row 3, column 'Digitalisering i handlingsplan': answer 'Kanskje'.*add it to the codebook",
        ),
    ),
    "out_of_range_number": (
        csv_case("k_2015.csv", with_cell(4, "IKT-andel av budsjett (%)", "250,5")),
        2015,
        (
            "error",
            r"row 4, column 'IKT-andel av budsjett \(%\)': 250.5 is outside the codebook range",
        ),
    ),
    "not_a_number": (
        csv_case("k_2015.csv", with_cell(4, "IKT-andel av budsjett (%)", "mye")),
        2015,
        ("error", r"row 4, column 'IKT-andel av budsjett \(%\)': 'mye' is not a number"),
    ),
    "number_not_valid_that_year": (
        xlsx_case(
            "k_2019.xlsx",
            lambda d: d.assign(Kommunenummer=d["Kommunenummer"].where(d.index != 5, "9999")),
        ),
        2019,
        ("log", {processed.R_UNKNOWN_NUMBER: 1}),
    ),
    "name_matching_two_municipalities": (
        csv_case("k_2015.csv", with_cell(2, "Kommune", "Våler")),
        2015,
        ("log", {processed.R_AMBIGUOUS_NAME: 1}),
    ),
    "old_name_after_merger": (
        xlsx_case(
            "k_2019.xlsx",
            lambda d: d.assign(
                Kommunenavn=d["Kommunenavn"].where(d.index != 5, "Tjøme"),
                Kommunenummer=d["Kommunenummer"].where(d.index != 5, None),
            ),
        ),
        2019,
        ("log", {"note:mapped to its successor 0729": 1}),
    ),
    "old_code_of_split_municipality": (
        xlsx_case(
            "k_2019.xlsx",
            lambda d: d.assign(Kommunenummer=d["Kommunenummer"].where(d.index != 5, "0720")),
        ),
        2019,
        ("log", {processed.R_SPLIT: 1}),
    ),
    "duplicate_with_conflicting_answers": (
        csv_case(
            "k_2015.csv",
            "\n".join(
                LINES15[:3]
                + [LINES15[2].replace(";Ja;", ";Nei;", 1).replace("2015002", "2015999")]
                + LINES15[3:]
            ),
        ),
        2015,
        ("log", {processed.R_DUPLICATE: 2}),
    ),
    "empty_file": (csv_case("k_2015.csv", ""), 2015, ("error", r"k_2015\.csv: the file is empty")),
    "header_only": (
        csv_case("k_2015.csv", LINES15[0] + "\n"),
        2015,
        ("error", r"k_2015\.csv: the export has a header but no rows"),
    ),
    "excel_title_row_above_header": (
        xlsx_case("k_2019.xlsx", lambda d: d, title_rows=2),
        2019,
        ("log", {"kept": 100}),
    ),
    "spss_without_value_labels": (
        sav_without_labels,
        2017,
        ("error", r"kommuneundersokelsen_2017\.sav: the SPSS file carries no value labels"),
    ),
    "year_not_in_register": (
        csv_case("k_2031.csv", TEXT15.replace(".2015 ", ".2031 ")),
        2031,
        ("error", r"k_2031\.csv: the register covers 2015-2024, not 2031"),
    ),
    "answers_from_another_year_layout": (
        csv_case("k_2016.csv", TEXT15),
        2016,
        (
            "error",
            r"k_2016\.csv, row 1: .*match the codebook's 2015 export: is this file from 2015",
        ),
    ),
    "answers_from_another_year_dates": (
        xlsx_case("k_2020.xlsx", lambda d: d),
        2020,
        (
            "error",
            r"k_2020\.xlsx, column 'Tidspunkt': \d+ of \d+ answers are dated 2019, but the file name says 2020",
        ),
    ),
    "stray_whitespace_and_case": (
        csv_case("k_2015.csv", TEXT15.replace(";Ja;", ";  jA ;").replace(";Nei;", "; NEI;")),
        2015,
        ("log", {"kept": 113}),
    ),
    "duplicate_column_names": (
        csv_case("k_2015.csv", TEXT15.replace("Rolle", "Status", 1)),
        2015,
        ("error", r"row 1: duplicate column name\(s\) \['Status'\]"),
    ),
    "blank_municipality": (
        csv_case("k_2015.csv", with_cell(5, "Kommune", "   ")),
        2015,
        ("log", {processed.R_NO_MUNICIPALITY: 1}),
    ),
    "unbalanced_quote": (
        csv_case("k_2015.csv", with_cell(6, "Kommune", '"Halden')),
        2015,
        ("error", r"k_2015\.csv, row \d+: the CSV cannot be split.*quote.*never closed"),
    ),
    "truncated_xlsx": (
        bytes_case("k_2019.xlsx", XLSX19.read_bytes()[: XLSX19.stat().st_size // 2]),
        2019,
        (
            "error",
            r"k_2019\.xlsx: not a readable Excel workbook \(BadZipFile.*truncated or damaged",
        ),
    ),
    "spss_file_named_csv": (
        bytes_case("k_2017.csv", SAV17.read_bytes()),
        2017,
        ("error", r"k_2017\.csv: the file is an SPSS file named \.csv; rename it to k_2017\.sav"),
    ),
    "excel_file_named_csv": (
        bytes_case("k_2019.csv", XLSX19.read_bytes()),
        2019,
        ("error", r"k_2019\.csv: the file is an Excel file named \.csv; rename it to k_2019\.xlsx"),
    ),
    "legacy_xls_workbook": (
        bytes_case("k_2019.xls", bytes.fromhex("d0cf11e0a1b11ae1") + b"\0" * 504),
        2019,
        ("error", r"k_2019\.xls: a legacy Excel 97-2003 workbook.*save it as \.xlsx"),
    ),
    "csv_named_sav": (
        csv_case("k_2015.sav", TEXT15),
        2015,
        ("error", r"k_2015\.sav: the content is not an SPSS file \(it looks like CSV\)"),
    ),
    "answers_on_the_second_sheet": (
        xlsx_second_sheet,
        2019,
        (
            "error",
            r"k_2019\.xlsx: the first sheet 'Forside' is empty; sheets found: 'Forside', 'Svar 2019'",
        ),
    ),
    "number_with_underscore": (
        csv_case("k_2015.csv", with_cell(4, "IKT-andel av budsjett (%)", "1_0")),
        2015,
        (
            "error",
            r"k_2015\.csv, row 4, column 'IKT-andel av budsjett \(%\)': '1_0' is not a number",
        ),
    ),
    "non_ascii_digits": (
        csv_case("k_2015.csv", with_cell(4, "IKT-andel av budsjett (%)", "١٠"), "utf-8"),
        2015,
        ("error", r"row 4, column 'IKT-andel av budsjett \(%\)': '١٠' is not a number"),
    ),
    "dont_know_in_a_numeric_item": (
        csv_case("k_2015.csv", with_cell(4, "IKT-andel av budsjett (%)", "Vet ikke")),
        2015,
        ("log", {"kept": 113}),
    ),
    "excel_date_cells": (xlsx_time_cells(), 2019, ("log", {"kept": 100, processed.R_DUPLICATE: 1})),
    "unparseable_submission_time": (
        xlsx_time_cells("i går"),
        2019,
        ("error", r"k_2019\.xlsx, row 7, column 'Tidspunkt': 'i går' is not a submission time"),
    ),
    "windows_line_endings": (
        csv_case("k_2015.csv", TEXT15.replace("\n", "\r\n")),
        2015,
        ("log", {"kept": 113}),
    ),
    "old_mac_line_endings": (
        csv_case("k_2015.csv", TEXT15.replace("\n", "\r")),
        2015,
        ("log", {"kept": 113}),
    ),
    "tab_delimiter": (
        csv_case("k_2015.csv", TEXT15.replace(";", "\t")),
        2015,
        ("log", {"kept": 113}),
    ),
    "every_cell_quoted": (
        csv_case(
            "k_2015.csv",
            "\n".join(";".join(f'"{c}"' for c in ln.split(";")) if ln else ln for ln in LINES15),
        ),
        2015,
        ("log", {"kept": 113}),
    ),
    "utf8_without_bom": (csv_case("k_2015.csv", TEXT15, "utf-8"), 2015, ("log", {"kept": 113})),
    "spaces_around_header_names": (
        csv_case("k_2015.csv", TEXT15.replace("Rolle", " Rolle ", 1)),
        2015,
        ("log", {"kept": 113}),
    ),
    "trailing_rows_of_empty_cells": (
        csv_case("k_2015.csv", TEXT15 + "\n\n\n;;;\n"),
        2015,
        ("log", {"kept": 113, processed.R_NO_MUNICIPALITY: 1}),
    ),
    "row_with_too_many_cells": (
        csv_case("k_2015.csv", "\n".join(LINES15[:5] + [LINES15[5] + ";x;y"] + LINES15[6:])),
        2015,
        ("error", r"k_2015\.csv, row 6: 25 cells where the header has 23; a ';' inside an answer"),
    ),
    "row_cut_short": (
        csv_case(
            "k_2015.csv",
            "\n".join(LINES15[:5] + [";".join(LINES15[5].split(";")[:4])] + LINES15[6:]),
        ),
        2015,
        ("error", r"k_2015\.csv, row 6: 4 cells where the header has 23; the line is cut short"),
    ),
    "nul_byte": (
        csv_case("k_2015.csv", "\n".join(LINES15[:8]) + "\0\n" + "\n".join(LINES15[8:])),
        2015,
        ("error", r"k_2015\.csv, row 8: the file contains a NUL byte"),
    ),
    "unknown_municipality_name": (
        csv_case("k_2015.csv", with_cell(3, "Kommune", "Atlantis")),
        2015,
        ("log", {processed.R_UNKNOWN_NAME: 1}),
    ),
    "email_address_as_municipality": (
        csv_case("k_2015.csv", with_cell(3, "Kommune", "ola@halden.kommune.no")),
        2015,
        ("log", {processed.R_UNKNOWN_NAME: 1}),
    ),
    "negative_number": (
        csv_case("k_2015.csv", with_cell(4, "IKT-andel av budsjett (%)", "-5")),
        2015,
        (
            "error",
            r"row 4, column 'IKT-andel av budsjett \(%\)': -5.0 is outside the codebook range",
        ),
    ),
    "number_with_thousands_space": (
        csv_case("k_2015.csv", with_cell(4, "IKT-andel av budsjett (%)", "1 000")),
        2015,
        ("error", r"row 4, column 'IKT-andel av budsjett \(%\)': 1000.0 is outside the codebook"),
    ),
    "identical_duplicate_submission": (
        csv_case(
            "k_2015.csv",
            "\n".join(LINES15[:3] + [LINES15[2].replace("2015002", "2015999")] + LINES15[3:]),
        ),
        2015,
        ("log", {"kept": 113, processed.R_DUPLICATE: 2, "note:kept row 4 (complete, latest)": 1}),
    ),
    "codes_without_leading_zero": (
        xlsx_case(
            "k_2019.xlsx",
            lambda d: d.assign(Kommunenummer=d["Kommunenummer"].astype(str).str.lstrip("0")),
        ),
        2019,
        ("log", {"kept": 100, "note:zero-padded to 0101": 1}),
    ),
    "zero_byte_workbook": (
        bytes_case("k_2019.xlsx", b""),
        2019,
        ("error", r"k_2019\.xlsx: the file is empty"),
    ),
    "zero_byte_spss_file": (
        bytes_case("k_2017.sav", b""),
        2017,
        ("error", r"k_2017\.sav: the file is empty"),
    ),
    "truncated_spss_file": (
        bytes_case("k_2017.sav", SAV17.read_bytes()[:2000]),
        2017,
        ("error", r"k_2017\.sav: not a readable SPSS file \(ReadstatError.*truncated or damaged"),
    ),
    "html_page_named_xlsx": (
        bytes_case("k_2019.xlsx", b"<html><table><tr><td>Kommune</td></tr></table></html>"),
        2019,
        ("error", r"k_2019\.xlsx: the file is a web page \(HTML or XML\), not an export"),
    ),
    "gzip_compressed_csv": (
        bytes_case("k_2015.csv", __import__("gzip").compress(CSV15.read_bytes(), mtime=0)),
        2015,
        ("error", r"k_2015\.csv: the file is compressed \(gzip\); unpack it"),
    ),
    "zip_archive_named_xlsx": (
        zip_named_xlsx,
        2019,
        ("error", r"k_2019\.xlsx: not a readable Excel workbook \(KeyError.*Content_Types"),
    ),
}


def test_corpus_is_large_enough():
    assert len(CASES) >= 50


@pytest.mark.parametrize("case", sorted(CASES), ids=str)
def test_bad_export(case, tmp_path, reg, codebook):
    build, year, (kind, expect) = CASES[case]
    path = build(tmp_path)
    before = path.read_bytes()
    if kind == "error":
        with pytest.raises(ingest.IngestError) as exc:
            ingest.ingest_year(path, year, codebook, reg)
        msg = str(exc.value)
        assert re.search(expect, msg, flags=re.S), msg
        assert str(path.name) in msg
    else:
        res = ingest.ingest_year(path, year, codebook, reg)
        log = res.log
        assert (log["outcome"] == "kept").sum() + (log["outcome"] == "excluded").sum() == len(log)
        assert (log["outcome"] == "kept").sum() == len(res.respondents)
        for key, n in expect.items():
            if key == "kept":
                assert len(res.respondents) == n
            elif key == "warning":
                assert any(n in w for w in res.warnings), res.warnings
            elif key.startswith("note:"):
                assert log["note"].str.contains(key[5:], regex=False).sum() == n, log[
                    "note"
                ].tolist()
            else:
                assert (log["reason"] == key).sum() == n, log["reason"].value_counts()
    assert path.read_bytes() == before  # inputs untouched


@pytest.mark.slow
def test_errors_surface_through_make_report_without_traceback(tmp_path):
    """A bad delivery stops the build with a message naming the notebook, the cell and the file."""
    from analysis import build

    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "kommuneundersokelsen_2015.csv").write_bytes(
        with_cell(3, "Digitalisering i handlingsplan", "Kanskje").encode("cp1252")
    )
    with pytest.raises(build.BuildError) as exc:
        build.build(
            raw_dir=raw,
            codebook=config.CODEBOOK_PATH,
            reports_dir=tmp_path / "reports",
            processed_dir=tmp_path / "processed",
            register_snapshot=None,
            medium=5000,
            large=20000,
        )
    msg = str(exc.value)
    assert "01_ingest.ipynb failed in cell" in msg and "IngestError" in msg and "Kanskje" in msg
    assert "kept at" in msg
