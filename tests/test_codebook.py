"""The codebook is validated as a whole before any data is read: duplicate keys, codes that
are not one-to-one, codes that would break model terms and unknown keys are clear errors."""

from __future__ import annotations

import pytest

from analysis import config
from analysis.codebook import CodebookError, load_codebook

TEXT = config.CODEBOOK_PATH.read_text(encoding="utf-8")


def _write(tmp_path, text):
    p = tmp_path / "codebook.yml"
    p.write_text(text, encoding="utf-8")
    return p


VALUES = "    values:\n      Ja: 1\n      Nei: 0\n"


def _edit_handlingsplan(new_values: str) -> str:
    """The committed codebook with the `values:` block of handlingsplan replaced."""
    start = TEXT.index("\n  handlingsplan:\n")
    i = TEXT.index(VALUES, start)
    return TEXT[:i] + new_values + TEXT[i + len(VALUES) :]


def test_committed_codebook_is_valid():
    cb = load_codebook(config.CODEBOOK_PATH)
    assert "handlingsplan" in cb.variables and cb.label("maturity", "en").startswith(
        "Digital maturity"
    )


def test_a_duplicated_key_is_an_error_naming_the_line(tmp_path):
    bad = _edit_handlingsplan(VALUES + "      Ja: 0\n")
    with pytest.raises(CodebookError, match=r"line \d+: the key 'Ja' is given twice"):
        load_codebook(_write(tmp_path, bad))


def test_two_labels_with_one_code_must_be_declared(tmp_path):
    bad = _edit_handlingsplan(VALUES.replace("Nei: 0", "Nei: 1"))
    with pytest.raises(
        CodebookError, match=r"handlingsplan: the labels .* both have code 1.*aliases"
    ):
        load_codebook(_write(tmp_path, bad))
    ok = _edit_handlingsplan(VALUES + "    aliases:\n      Jepp: Ja\n")
    cb = load_codebook(_write(tmp_path, ok))
    assert cb.variables["handlingsplan"].lookup()["jepp"] == 1
    unquoted = _edit_handlingsplan(
        VALUES + "    aliases:\n      Yes: Ja\n"
    )  # YAML reads Yes as true
    with pytest.raises(CodebookError, match="read as true.*quote the label"):
        load_codebook(_write(tmp_path, unquoted))


def test_a_code_with_a_colon_is_refused_by_the_schema(tmp_path):
    bad = TEXT.replace("IKT-leder: IKT-leder", "IKT-leder: 'IKT:leder'", 1)
    assert bad != TEXT
    with pytest.raises(
        CodebookError,
        match=r"(?s)does not follow the schema.*variables\.rolle\.values.*without ':'",
    ):
        load_codebook(_write(tmp_path, bad))


def test_an_unknown_key_is_refused_by_the_schema(tmp_path):
    bad = TEXT.replace(
        "  handlingsplan:\n    type: binary\n",
        "  handlingsplan:\n    type: binary\n    valeus: {}\n",
        1,
    )
    assert bad != TEXT
    with pytest.raises(CodebookError, match="Additional properties are not allowed .*valeus"):
        load_codebook(_write(tmp_path, bad))


def test_a_year_with_a_column_but_no_question_keeps_the_wording(tmp_path):
    cb = load_codebook(config.CODEBOOK_PATH)
    before = cb.series_breaks()
    # drop the 2016 wording of a variable whose wording never changes
    start = TEXT.index("\n  handlingsplan:\n")
    i = TEXT.index("      2016:\n", start)
    j = TEXT.index("\n", TEXT.index("question:", i))
    text = TEXT[:i] + TEXT[i:j].split("\n        question:")[0] + TEXT[j:]
    cb2 = load_codebook(_write(tmp_path, text))
    assert cb2.series_breaks() == before
    qt = cb2.question_table()
    assert qt[(qt["variable"] == "handlingsplan") & (qt["year"] == 2016)]["question"].iloc[0] != ""
