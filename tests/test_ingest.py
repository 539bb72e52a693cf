"""Ingest of every demo year, row accounting, matching rules and clear errors."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from analysis import config, ingest, processed
from analysis.register import sha256_file

TRUTH = json.loads((config.DEMO_TRUTH_DIR / "parameters.json").read_text(encoding="utf-8"))


def test_every_demo_year_ingests_to_the_true_respondents(ingested):
    resp = ingested.respondents
    assert sorted(resp["year"].unique()) == [2015, 2016, 2017, 2018, 2019]
    for year, truth in TRUTH["years"].items():
        got = sorted(resp.loc[resp["year"] == int(year), "kommunenr"])
        assert got == truth["respondents"], year


def test_row_accounting_covers_every_raw_row(ingested):
    acc = ingested.accounting().set_index("year")
    for year, truth in TRUTH["years"].items():
        row = acc.loc[int(year)]
        assert row["raw_rows"] == truth["raw_rows"]
        assert row["kept"] + row["excluded"] == row["raw_rows"]
    reasons = ingested.log.loc[ingested.log["outcome"] == "excluded", "reason"]
    assert set(reasons) == {processed.R_DUPLICATE, processed.R_EMPTY}
    assert (reasons == processed.R_DUPLICATE).sum() == 5


def test_duplicate_keeps_the_complete_submission(ingested):
    log = ingested.log
    dups = log[log["reason"] == processed.R_DUPLICATE]
    assert dups["note"].str.contains("complete").all()


def test_personal_fields_never_reach_the_table(ingested, codebook):
    cols = set(ingested.respondents.columns)
    assert not cols & {"navn", "epost", "kommentar"}
    assert not cols & codebook.pii_columns
    text = ingested.respondents.to_csv()
    assert "@" not in text and "kommune.no" not in text


def test_types_and_ranges(ingested, codebook, reg):
    ingest.validate_respondents(ingested.respondents.astype({"respondent_id": str}), codebook, reg)
    r = ingested.respondents
    assert set(r["barriere_endringsvilje"].dropna().unique()) <= {0.0, 1.0}
    assert r["prioritet"].dropna().between(1, 5).all()
    assert r["ikt_andel_budsjett"].dropna().between(0, 100).all()
    assert r.loc[r["year"] == 2015, "evaluerer_effekt"].isna().all()  # not asked in 2015


def test_raw_files_untouched(reg, codebook):
    before = {p.name: sha256_file(p) for p in config.RAW_DIR.iterdir() if p.is_file()}
    ingest.ingest_all(config.RAW_DIR, codebook, reg)
    after = {p.name: sha256_file(p) for p in config.RAW_DIR.iterdir() if p.is_file()}
    assert before == after


def test_manifest_detects_an_altered_export(tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(config.RAW_DIR, raw)
    p = raw / "kommuneundersokelsen_2015.csv"
    p.write_bytes(p.read_bytes().replace(b"Ja;", b"Nei;", 1))
    with pytest.raises(ingest.IngestError, match="does not match its checksum"):
        ingest.verify_manifest(raw)


def test_a_file_listed_in_the_manifest_but_missing_stops_the_run(tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(config.RAW_DIR, raw)
    (raw / "kommuneundersokelsen_2017.sav").unlink()
    with pytest.raises(
        ingest.IngestError, match=r"lists kommuneundersokelsen_2017.sav, which is not in"
    ):
        ingest.verify_manifest(raw)


def test_standard_sha256sum_manifest_with_spaces_and_notes_in_the_folder(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    src = config.RAW_DIR / "kommuneundersokelsen_2018.csv"
    target = raw / "kommuneundersokelsen 2018 (endelig).csv"
    shutil.copy(src, target)
    (raw / "LESMEG.txt").write_text("Levering fra leverandøren.\n", encoding="utf-8")
    (raw / "MANIFEST.sha256").write_text(
        f"{sha256_file(target)}  {target.name}\n"
    )  # as sha256sum writes it
    assert ingest.verify_manifest(raw) == {target.name: sha256_file(target)}
    assert ingest.discover_exports(raw) == {2018: target}


def _one_year_dir(tmp_path, year, mutate):
    raw = tmp_path / "raw"
    raw.mkdir()
    src = next(config.RAW_DIR.glob(f"*{year}.csv"))
    text = src.read_bytes().decode("cp1252")
    (raw / src.name).write_bytes(mutate(text).encode("cp1252"))
    return raw / src.name


def test_unknown_label_names_file_row_and_column(tmp_path, reg, codebook):
    path = _one_year_dir(tmp_path, 2015, lambda t: t.replace(";Høy;", ";Kjempehøy;", 1))
    with pytest.raises(ingest.IngestError) as exc:
        ingest.ingest_year(path, 2015, codebook, reg)
    msg = str(exc.value)
    assert path.name in msg and "row " in msg and "'Prioritet digitalisering'" in msg
    assert "Kjempehøy" in msg


def test_missing_required_column_is_a_clear_error(tmp_path, reg, codebook):
    path = _one_year_dir(
        tmp_path, 2015, lambda t: t.replace("Etterutdanning IKT-ansatte", "Etterutd", 1)
    )
    with pytest.raises(ingest.IngestError, match="etterutdanning_ikt.*add the new column name"):
        ingest.ingest_year(path, 2015, codebook, reg)


def test_labels_with_stray_whitespace_and_case_are_accepted(tmp_path, reg, codebook):
    path = _one_year_dir(tmp_path, 2015, lambda t: t.replace(";Ja;", ";  JA ;"))
    res = ingest.ingest_year(path, 2015, codebook, reg)
    assert len(res.respondents) == TRUTH["years"]["2015"]["n_respondents"]


def test_new_year_with_known_columns_needs_no_codebook_edit(tmp_path, reg, codebook):
    src = next(config.RAW_DIR.glob("*2018.csv"))
    raw = tmp_path / "raw"
    raw.mkdir()
    text = src.read_bytes().decode("cp1252").replace(".2018 ", ".2021 ")  # dated 2021
    (raw / "kommuneundersokelsen_2021.csv").write_bytes(text.encode("cp1252"))
    res = ingest.ingest_year(raw / "kommuneundersokelsen_2021.csv", 2021, codebook, reg)
    # 2018 names looked up in the 2021 register: merged municipalities' old names map to their
    # successor (logged); a successor that received two old municipalities is a duplicate
    assert len(res.log) == TRUTH["years"]["2018"]["raw_rows"]
    assert (res.log["outcome"] == "kept").sum() == len(res.respondents) > 80
    assert res.log["note"].str.contains("mapped to its successor").sum() > 10
    assert res.respondents["kommunenr"].isin(reg.year(2021)["kommunenr"]).all()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Bærum", "0219"),
        ("Baerum kommune", "0219"),
        ("  BÆRUM ", "0219"),
        ("Tromso", "1902"),
        ("Raarvihke - Røyrvik", "5043"),
        ("Røyrvik", "5043"),
        ("Våler (Østfold)", "0137"),
    ],
)
def test_name_matching_2019(reg, raw, expected):
    m = ingest.MunicipalityMatcher(reg.year(2019), 2019)
    code, _, reason = m.by_name(raw)
    assert (code, reason) == (expected, "")


def test_ambiguous_and_unknown_names_are_excluded_with_reason(reg):
    m = ingest.MunicipalityMatcher(reg.year(2019), 2019)
    assert m.by_name("Våler")[2] == processed.R_AMBIGUOUS_NAME
    assert m.by_name("Atlantis")[2] == processed.R_UNKNOWN_NAME


def test_number_matching_pads_and_checks_the_year(reg):
    m = ingest.MunicipalityMatcher(reg.year(2019), 2019)
    assert m.by_number(301) == ("0301", "number 301 zero-padded to 0301")
    assert m.by_number("219.0")[0] == "0219"
    assert m.by_number("1601")[0] is None  # Trondheim's code before 2018


def test_discover_years_rejects_two_files_for_one_year(tmp_path):
    (tmp_path / "a_2019.csv").write_text("x;y\n1;2\n")
    (tmp_path / "b_2019.xlsx").write_text("")
    with pytest.raises(ingest.IngestError, match="two exports for 2019"):
        ingest.discover_exports(tmp_path)


def test_item_missing_separates_dont_know_from_blank(ingested):
    im = ingested.item_missing
    assert (im["dont_know"] > 0).any() and (im["blank"] > 0).any()
    kept = ingested.accounting().set_index("year")["kept"]
    for r in im.itertuples():
        assert r.valid + r.dont_know + r.blank == kept[r.year]


def test_codebook_knows_every_demo_column(codebook):
    from demo import questionnaire as survey_spec

    known = codebook.known_columns()
    for y in survey_spec.YEARS:
        for p in config.RAW_DIR.glob(f"*{y}.*"):
            df, _ = ingest.read_export(p, codebook)
            assert set(df.columns) <= known, (p.name, set(df.columns) - known)


def test_series_breaks_from_wording(codebook):
    breaks = codebook.series_breaks()
    assert breaks["etterutdanning_ikt"] == [2019]
    assert breaks["barriere_endringsvilje"] == [2019]
    assert "handlingsplan" not in breaks


def test_processed_tables_round_trip(tmp_path):
    res = ingest.run_ingest(
        config.RAW_DIR, config.CODEBOOK_PATH, None, tmp_path, config.SizeThresholds()
    )
    resp, log, im, meta = processed.load_processed(tmp_path)
    assert len(resp) == len(res.respondents) and len(log) == len(res.log)
    assert resp["kommunenr"].str.fullmatch(r"\d{4}").all()
    assert meta["delivery"]["synthetic"] is True
    pd.testing.assert_series_equal(
        resp["population"], res.respondents["population"], check_names=False
    )


def test_a_new_years_renamed_column_stops_with_the_codebook_lines_to_add(codebook, tmp_path):
    from analysis import readers
    from analysis.codebook import load_codebook

    path = config.RAW_DIR / "kommuneundersokelsen_2019.xlsx"
    df, _ = ingest.read_export(path, codebook)
    readers.map_columns(df, 2021, codebook, path)  # unchanged columns: a new year needs no edit
    renamed = df.rename(
        columns={
            "Program etter- og videreutdanning IKT-personale": "Program etter/videreutdanning IKT-personalet"
        }
    )
    with pytest.raises(ingest.IngestError) as exc:
        readers.map_columns(renamed, 2021, codebook, path)
    msg = str(exc.value)
    assert "etterutdanning_ikt" in msg and "would silently drop out" in msg
    assert "most similar unknown column is 'Program etter/videreutdanning IKT-personalet'" in msg
    assert (
        "  etterutdanning_ikt:\n    years:\n      2021:\n        column: Program etter/videreutdanning IKT-personalet"
        in msg
    )
    text = config.CODEBOOK_PATH.read_text(encoding="utf-8")
    marker = "  etterutdanning_ikt:\n"
    i = text.index("    years:\n", text.index(marker)) + len("    years:\n")
    (tmp_path / "cb.yml").write_text(
        text[:i] + "      2021:\n        not_asked: true\n" + text[i:], encoding="utf-8"
    )
    mapping, _ = readers.map_columns(renamed, 2021, load_codebook(tmp_path / "cb.yml"), path)
    assert "etterutdanning_ikt" not in mapping


def _xlsx_with_real_dates(src, target, edit=None):
    """The 2019 Excel export with its submission times as real Excel date cells."""
    from datetime import datetime

    import openpyxl

    wb = openpyxl.load_workbook(src)
    ws = wb.worksheets[0]
    header = [c.value for c in ws[1]]
    col = header.index("Tidspunkt") + 1
    for r in range(2, ws.max_row + 1):
        cell = ws.cell(row=r, column=col)
        if isinstance(cell.value, str) and cell.value.strip():
            cell.value = datetime.strptime(cell.value.strip(), "%d.%m.%Y %H:%M")
            cell.number_format = "dd.mm.yyyy hh:mm"
    if edit:
        edit(ws, col)
    wb.save(target)


def test_excel_date_cells_are_times_and_keep_the_wrong_year_check(tmp_path, codebook, reg):
    src = config.RAW_DIR / "kommuneundersokelsen_2019.xlsx"
    raw = tmp_path / "raw"
    raw.mkdir()
    _xlsx_with_real_dates(src, raw / "kommuneundersokelsen_2019.xlsx")
    res = ingest.ingest_year(raw / "kommuneundersokelsen_2019.xlsx", 2019, codebook, reg)
    ref = ingest.ingest_year(src, 2019, codebook, reg)
    pd.testing.assert_frame_equal(
        res.respondents.drop(columns="source_file"), ref.respondents.drop(columns="source_file")
    )
    assert (
        (res.log["reason"] == processed.R_DUPLICATE).sum()
        == (ref.log["reason"] == processed.R_DUPLICATE).sum()
        == 1
    )
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    _xlsx_with_real_dates(src, wrong / "kommuneundersokelsen_2020.xlsx")
    with pytest.raises(ingest.IngestError, match=r"dated 2019, but the file name says 2020"):
        ingest.ingest_year(wrong / "kommuneundersokelsen_2020.xlsx", 2020, codebook, reg)


def test_a_submission_time_that_is_not_a_time_names_the_cell(tmp_path, codebook, reg):
    src = config.RAW_DIR / "kommuneundersokelsen_2019.xlsx"
    target = tmp_path / "kommuneundersokelsen_2019.xlsx"
    _xlsx_with_real_dates(
        src,
        target,
        edit=lambda ws, col: setattr(ws.cell(row=5, column=col), "value", "i går kveld"),
    )
    with pytest.raises(
        ingest.IngestError,
        match=r"row 5, column 'Tidspunkt': 'i går kveld' is not a submission time",
    ):
        ingest.ingest_year(target, 2019, codebook, reg)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"synthetic": tru', r"DELIVERY\.json, line 1, column 15: not valid JSON"),
        (
            '{"synthetic": "false"}',
            r"DELIVERY\.json: \"synthetic\" must be true or false without quotes, not 'false'",
        ),
    ],
)
def test_delivery_description_is_validated(tmp_path, content, message):
    from analysis import readers

    (tmp_path / "DELIVERY.json").write_text(content, encoding="utf-8")
    with pytest.raises(ingest.IngestError, match=message):
        readers.delivery_info(tmp_path)
    (tmp_path / "DELIVERY.json").write_text('{"synthetic": false}', encoding="utf-8")
    assert readers.delivery_info(tmp_path)["synthetic"] is False
