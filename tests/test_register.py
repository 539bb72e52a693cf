"""Register snapshot: checksums, parsing, size classes, code chains."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from analysis import config, register


def test_snapshot_loads_with_expected_counts(reg):
    counts = reg.population.groupby("year").size().to_dict()
    assert counts[2015] == 428 and counts[2019] == 422 and counts[2020] == 356
    assert reg.population.loc[reg.population["year"] == 2019, "population"].sum() == 5_328_212
    assert reg.population["kommunenr"].str.fullmatch(r"\d{4}").all()


def test_checksum_mismatch_is_a_clear_error(tmp_path, reg):
    snap = tmp_path / "snap"
    shutil.copytree(reg.source, snap, ignore=shutil.ignore_patterns("*.md"))
    with open(snap / register.POPULATION_FILE, "ab") as fh:
        fh.write(b"2024,9999,Nowhere,99,1\n")
    with pytest.raises(
        register.RegisterError, match="checksum mismatch.*municipalities_population.csv"
    ):
        register.load_register(snap)


def test_missing_snapshot_dir_is_a_clear_error(tmp_path):
    with pytest.raises(register.RegisterError, match="does not exist"):
        register.load_register(tmp_path / "nope")


def test_register_files_not_committed():
    assert not list(config.PROJECT_ROOT.glob("data/**/municipalities_population.csv"))


def test_size_class_boundaries():
    th = config.SizeThresholds(5000, 20000)
    got = register.size_class(pd.Series([4999, 5000, 19999, 20000]), th).astype(str).tolist()
    assert got == ["small", "medium", "medium", "large"]
    with pytest.raises(ValueError):
        config.SizeThresholds(20000, 5000)


def test_published_size_class_counts_reproduced(reg):
    th = config.SizeThresholds()
    for year, expected in {
        2015: [225, 148, 55],
        2019: [220, 143, 59],
        2020: [174, 120, 62],
    }.items():
        cls = register.size_class(reg.year(year)["population"], th)
        assert cls.value_counts().reindex(list(config.SIZE_CLASSES)).tolist() == expected


def test_successors_follow_mergers_and_splits(reg):
    assert reg.successors("0720", 2016, 2017) == ["0704", "0710"]  # Stokke split
    assert reg.successors("1601", 2017, 2018) == ["5001"]  # Trondheim renumbered
    assert reg.successors("1507", 2023, 2024) == ["1508", "1580"]  # Ålesund split
    assert reg.successors("0301", 2015, 2024) == ["0301"]


def test_every_county_has_a_region(reg):
    for c in reg.population["county_nr"].unique():
        assert register.region_of_county(c) in register.REGIONS


def test_year_outside_register_is_a_clear_error(reg):
    with pytest.raises(register.RegisterError, match="covers 2015-2024, not 2031"):
        reg.year(2031)


def _tampered(tmp_path, reg, kommunenr="0101", year=2019, population=25_000):
    """A copy of the snapshot with one population changed and its own SHA256SUMS regenerated."""
    import pandas as pd

    snap = tmp_path / "tampered"
    shutil.copytree(reg.source, snap, ignore=shutil.ignore_patterns("*.md", "SHA256SUMS"))
    pop = pd.read_csv(snap / register.POPULATION_FILE, dtype=str, keep_default_na=False)
    pop.loc[(pop["year"] == str(year)) & (pop["kommunenr"] == kommunenr), "population"] = str(
        population
    )
    pop.to_csv(snap / register.POPULATION_FILE, index=False, lineterminator="\n")
    register.write_checksums(snap)
    return snap


def test_a_snapshot_that_brings_its_own_checksums_is_still_rejected(tmp_path, reg):
    snap = _tampered(tmp_path, reg)
    with pytest.raises(register.RegisterError, match="checksum mismatch.*make accept-register"):
        register.load_register(snap)


def test_accepting_a_new_snapshot_is_explicit_logged_and_reports_the_change(
    tmp_path, reg, monkeypatch
):
    # Halden (0101) had about 31 000 inhabitants in 2019: 15 000 moves it from large to medium
    snap = _tampered(tmp_path, reg, "0101", 2019, 15_000)
    sums = tmp_path / "register_snapshot.sha256"
    shutil.copy(config.REGISTER_CHECKSUMS_PATH, sums)
    monkeypatch.setattr(config, "REGISTER_CHECKSUMS_PATH", sums)
    monkeypatch.setattr(config, "DATA_DIR", tmp_path)
    report = register.accept_snapshot(snap, previous=reg.source)
    line = next(ln for ln in report.splitlines() if ln.strip().startswith("2019"))
    assert line.split()[1:] == ["0", "1", "-1"], report  # small, medium, large
    assert (
        register.load_register(snap).year(2019).set_index("kommunenr").loc["0101", "population"]
        == 15_000
    )
    assert "accepted" in (tmp_path / "register_snapshot.log").read_text()
    with pytest.raises(register.RegisterError, match="checksum mismatch"):
        register.load_register(reg.source)  # the old snapshot is no longer the recorded one


def test_a_population_that_is_not_positive_is_a_clear_error(tmp_path, reg):
    """The weights calibrate ln(population): zero inhabitants stops the load, naming the cell."""
    snap = _tampered(tmp_path, reg, "0101", 2019, 0)
    with pytest.raises(
        register.RegisterError, match=r"row \d+, column population: 0 is not a positive"
    ):
        register.load_register(snap, snap / register.CHECKSUM_FILE)
