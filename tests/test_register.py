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
