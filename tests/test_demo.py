"""The demo generator: determinism against the committed exports, and calibration."""

from __future__ import annotations

import pandas as pd
import pyreadstat
import pytest

from analysis import config
from analysis.register import read_checksums, sha256_file
from demo import generate as demo
from demo import questionnaire as survey_spec


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    demo.generate(raw_dir=out / "raw", truth_dir=out / "truth")
    return out


def test_manifest_matches_committed_exports():
    sums = read_checksums(config.RAW_DIR / demo.MANIFEST)
    assert len(sums) == len(survey_spec.YEARS)
    for name, digest in sums.items():
        assert sha256_file(config.RAW_DIR / name) == digest


def test_exports_regenerate_byte_for_byte(regenerated):
    for p in config.RAW_DIR.glob("kommuneundersokelsen_*"):
        assert (regenerated / "raw" / p.name).read_bytes() == p.read_bytes(), p.name


def test_truth_regenerates_identically(regenerated):
    assert (regenerated / "truth" / "parameters.json").read_bytes() == (
        config.DEMO_TRUTH_DIR / "parameters.json"
    ).read_bytes()


def test_excel_and_spss_regenerate_with_identical_content(regenerated):
    for p in config.RAW_DIR.glob("*.xlsx"):
        a = pd.read_excel(p, dtype=object)
        b = pd.read_excel(regenerated / "raw" / p.name, dtype=object)
        pd.testing.assert_frame_equal(a, b)
    for p in config.RAW_DIR.glob("*.sav"):
        a, ma = pyreadstat.read_sav(str(p))
        b, mb = pyreadstat.read_sav(str(regenerated / "raw" / p.name))
        pd.testing.assert_frame_equal(a, b)
        assert ma.variable_value_labels == mb.variable_value_labels
        assert ma.column_names_to_labels == mb.column_names_to_labels


def test_exports_carry_the_quirks_of_real_deliveries():
    csv15 = (config.RAW_DIR / "kommuneundersokelsen_2015.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        csv15.decode("utf-8")  # Windows-1252
    text = csv15.decode("cp1252")
    assert ";" in text.splitlines()[0] and "Vet ikke" in text
    assert any(
        "," in cell
        for line in text.splitlines()[1:]
        for cell in line.split(";")
        if cell.replace(",", "").isdigit()
    )  # decimal commas
    assert "@" in text and "E-post" in text  # contact fields a report must never show
    xl = pd.read_excel(config.RAW_DIR / "kommuneundersokelsen_2016.xlsx")
    assert pd.api.types.is_integer_dtype(xl["Kommunenr"])  # leading zero lost
    _, meta = pyreadstat.read_sav(str(config.RAW_DIR / "kommuneundersokelsen_2017.sav"))
    assert meta.variable_value_labels["q8"] == {1.0: "Ja", 2.0: "Nei", 9.0: "Vet ikke"}


def test_sampling_favours_large_municipalities_and_repeats(reg):
    import json

    years = json.loads((config.DEMO_TRUTH_DIR / "parameters.json").read_text())["years"]
    sets = {int(y): set(v["respondents"]) for y, v in years.items()}
    assert all(100 <= len(s) <= 113 for s in sets.values())
    assert len(sets[2015] & sets[2016]) > 40  # many answer in several years
    y19 = reg.year(2019)
    resp_pop = y19[y19["kommunenr"].isin(sets[2019])]["population"].median()
    assert resp_pop > 1.4 * y19["population"].median()
