"""Municipality register: population on 1 January and the code changes of the reforms.

Load: read a register snapshot directory (``municipalities_population.csv`` and
``municipality_changes.csv``, the format of SSB's StatBank table 07459 and Klass 131
changes), after verifying each file against recorded SHA-256 checksums.
Process: size classes, regions, lookups by year.
Fetch: the same two tables from SSB's open APIs (see :mod:`analysis.ssb`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import config
from analysis.config import sha256_file  # noqa: F401 - the register's checksums use it

POPULATION_FILE = "municipalities_population.csv"
CHANGES_FILE = "municipality_changes.csv"
REGISTER_FILES = (POPULATION_FILE, CHANGES_FILE)
CHECKSUM_FILE = "SHA256SUMS"

POPULATION_COLUMNS = ["year", "kommunenr", "name", "county_nr", "population"]
CHANGES_COLUMNS = [
    "old_kommunenr",
    "old_name",
    "new_kommunenr",
    "new_name",
    "valid_from",
    "change_type",
]

#: County number -> region (landsdel) used for weighting and controls. Covers the county
#: codes of 2015-2019 (01-20), of 2020-2023 (30, 34, 38, 42, 46, 50, 54, 03, 11, 15, 18)
#: and of 2024 (31-33, 39, 40, 55, 56).
_REGIONS: dict[str, str] = {
    **dict.fromkeys(
        [
            "01",
            "02",
            "03",
            "04",
            "05",
            "06",
            "07",
            "08",
            "30",
            "31",
            "32",
            "33",
            "34",
            "38",
            "39",
            "40",
        ],
        "Østlandet",
    ),
    **dict.fromkeys(["09", "10", "42"], "Sørlandet"),
    **dict.fromkeys(["11", "12", "14", "15", "46"], "Vestlandet"),
    **dict.fromkeys(["16", "17", "50"], "Trøndelag"),
    **dict.fromkeys(["18", "19", "20", "54", "55", "56"], "Nord-Norge"),
}
REGIONS: tuple[str, ...] = ("Østlandet", "Sørlandet", "Vestlandet", "Trøndelag", "Nord-Norge")


class RegisterError(RuntimeError):
    """The register snapshot is missing, altered or malformed."""


def read_checksums(path: Path) -> dict[str, str]:
    """Read a ``sha256sum``-style file (``<hex>  <name>`` per line)."""
    out: dict[str, str] = {}
    for lineno, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"([0-9a-fA-F]{64}) [ *](.+)", line)
        if not m:
            raise RegisterError(f"{path}, line {lineno}: expected '<sha256>  <file name>'")
        out[m.group(2)] = m.group(1).lower()
    return out


def write_checksums(directory: Path, names: tuple[str, ...] = REGISTER_FILES) -> Path:
    """Write ``SHA256SUMS`` for the named files of ``directory`` and return its path."""
    directory = Path(directory)
    lines = [f"{sha256_file(directory / n)}  {n}" for n in names]
    target = directory / CHECKSUM_FILE
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def verify_snapshot(snapshot_dir: Path, checksum_path: Path | None = None) -> dict[str, str]:
    """Check every register file against its recorded SHA-256; return name -> digest.

    The checksums recorded in the repository (``data/register_snapshot.sha256``) are
    authoritative: a snapshot's own ``SHA256SUMS`` vouches for nothing (anyone who edits a
    file can regenerate it). Another snapshot is used only after :func:`accept_snapshot`.
    Raises :class:`RegisterError` naming the file, the expected and the actual digest.
    """
    snapshot_dir = Path(snapshot_dir)
    if not snapshot_dir.is_dir():
        raise RegisterError(
            f"register snapshot directory {snapshot_dir} does not exist; set REGISTER_SNAPSHOT "
            "to a folder holding municipalities_population.csv and municipality_changes.csv, "
            "or run `make fetch-register`"
        )
    checksum_path = Path(checksum_path) if checksum_path else config.REGISTER_CHECKSUMS_PATH
    expected = read_checksums(checksum_path)
    digests: dict[str, str] = {}
    for name in REGISTER_FILES:
        path = snapshot_dir / name
        if not path.is_file():
            raise RegisterError(f"register snapshot {snapshot_dir} lacks {name}")
        if name not in expected:
            raise RegisterError(f"{checksum_path} records no checksum for {name}")
        actual = sha256_file(path)
        if actual != expected[name]:
            raise RegisterError(
                f"checksum mismatch for {path}: expected {expected[name]} (from {checksum_path}), "
                f"got {actual}. The snapshot differs from the one recorded. Restore it, or record "
                f"a new snapshot deliberately: make accept-register REGISTER_SNAPSHOT={snapshot_dir} "
                "(it prints what changes)."
            )
        digests[name] = actual
    return digests


def _read_csv_strict(path: Path, columns: list[str], str_cols: list[str]) -> pd.DataFrame:
    df = pd.read_csv(
        path, dtype={c: str for c in str_cols}, keep_default_na=False, encoding="utf-8"
    )
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise RegisterError(f"{path}: missing column(s) {missing}; expected {columns}")
    df = df[columns].copy()
    for col in str_cols:
        bad = df.index[df[col].astype(str).str.strip() == ""]
        if len(bad):
            raise RegisterError(f"{path}, row {bad[0] + 2}, column {col}: empty value")
    return df


def _check_codes(df: pd.DataFrame, path: Path, cols: list[str]) -> None:
    for col in cols:
        bad = ~df[col].str.fullmatch(r"\d{4}")
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise RegisterError(
                f"{path}, row {i + 2}, column {col}: {df[col].iloc[i]!r} is not a 4-digit "
                "zero-padded municipality code"
            )


def _to_int(df: pd.DataFrame, col: str, path: Path) -> pd.Series:
    num = pd.to_numeric(df[col], errors="coerce")
    bad = num.isna() | (num % 1 != 0)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise RegisterError(
            f"{path}, row {i + 2}, column {col}: {df[col].iloc[i]!r} is not an integer"
        )
    return num.astype("int64")


@dataclass(frozen=True)
class Register:
    """Population per municipality and year plus the code changes between years."""

    population: pd.DataFrame
    changes: pd.DataFrame
    source: Path | None = None
    checksums: dict[str, str] | None = None

    @property
    def years(self) -> list[int]:
        """Years the register covers."""
        return sorted(int(y) for y in self.population["year"].unique())

    def year(self, year: int) -> pd.DataFrame:
        """Municipalities valid on 1 January of ``year`` with population, county and region."""
        if year not in self.years:
            raise RegisterError(
                f"the register covers {self.years[0]}-{self.years[-1]}, not {year}; use a register "
                "snapshot that includes that year"
            )
        out = self.population[self.population["year"] == year].copy()
        out["region"] = out["county_nr"].map(region_of_county)
        return out.reset_index(drop=True)

    def successors(self, code: str, from_year: int, to_year: int) -> list[str]:
        """Codes valid in ``to_year`` that descend from ``code`` valid in ``from_year``.

        Follows every change row (mergers, renumberings and every part of a split).
        """
        steps = self._steps()
        codes = {code}
        for yr in range(from_year + 1, to_year + 1):
            step = steps.get(yr, {})
            nxt: set[str] = set()
            for c in codes:
                nxt.update(step.get(c, [c]))
            codes = nxt
        return sorted(codes)

    def _steps(self) -> dict[int, dict[str, list[str]]]:
        """valid_from -> old code -> new codes (cached on the instance)."""
        cache = self.__dict__.get("_steps_cache")
        if cache is None:
            cache = {}
            for r in self.changes.itertuples(index=False):
                cache.setdefault(int(r.valid_from), {}).setdefault(r.old_kommunenr, []).append(
                    r.new_kommunenr
                )
            object.__setattr__(self, "_steps_cache", cache)
        return cache


def region_of_county(county_nr: str) -> str:
    """Region (landsdel) of a two-digit county number."""
    try:
        return _REGIONS[county_nr]
    except KeyError as exc:
        raise RegisterError(
            f"unknown county number {county_nr!r}; extend analysis.register._REGIONS"
        ) from exc


def size_class(population: pd.Series | np.ndarray, thresholds: config.SizeThresholds) -> pd.Series:
    """Size class (small/medium/large) of each population figure."""
    pop = pd.Series(np.asarray(population, dtype="float64"))
    cls = np.select(
        [pop < thresholds.medium, pop < thresholds.large], ["small", "medium"], default="large"
    )
    return pd.Series(pd.Categorical(cls, categories=list(config.SIZE_CLASSES), ordered=True))


def load_register(snapshot_dir: Path | None = None, checksum_path: Path | None = None) -> Register:
    """Verify and read a register snapshot (default: :func:`config.default_register_snapshot`)."""
    snapshot_dir = Path(snapshot_dir) if snapshot_dir else config.default_register_snapshot()
    if snapshot_dir is None:
        raise RegisterError(
            "no register snapshot given: set REGISTER_SNAPSHOT (make variable or environment) "
            "to a folder with municipalities_population.csv and municipality_changes.csv"
        )
    digests = verify_snapshot(snapshot_dir, checksum_path)
    pop_path = snapshot_dir / POPULATION_FILE
    pop = _read_csv_strict(pop_path, POPULATION_COLUMNS, ["kommunenr", "name", "county_nr"])
    _check_codes(pop, pop_path, ["kommunenr"])
    pop["year"] = _to_int(pop, "year", pop_path)
    pop["population"] = _to_int(pop, "population", pop_path)
    if (pop["population"] <= 0).any():  # the weights calibrate ln(population)
        i = int(np.flatnonzero((pop["population"] <= 0).to_numpy())[0])
        raise RegisterError(
            f"{pop_path}, row {i + 2}, column population: {pop['population'].iloc[i]} is not a "
            "positive number of inhabitants"
        )
    dup = pop.duplicated(["year", "kommunenr"])
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise RegisterError(f"{pop_path}, row {i + 2}: duplicate (year, kommunenr)")
    ch_path = snapshot_dir / CHANGES_FILE
    ch = _read_csv_strict(
        ch_path, CHANGES_COLUMNS, ["old_kommunenr", "new_kommunenr", "change_type"]
    )
    _check_codes(ch, ch_path, ["old_kommunenr", "new_kommunenr"])
    ch["valid_from"] = _to_int(ch, "valid_from", ch_path)
    return Register(population=pop, changes=ch, source=snapshot_dir, checksums=digests)


def class_counts(reg: Register, thresholds: config.SizeThresholds | None = None) -> pd.DataFrame:
    """Municipalities per year and size class (the raking targets N_h)."""
    thresholds = thresholds or config.SizeThresholds()
    pop = reg.population.assign(
        size_class=size_class(reg.population["population"], thresholds).to_numpy()
    )
    t = pop.groupby(["year", "size_class"], observed=False).size().unstack(fill_value=0)
    return t.reindex(columns=list(config.SIZE_CLASSES), fill_value=0)


def accept_snapshot(snapshot_dir: Path, previous: Path | None = None) -> str:
    """Record ``snapshot_dir`` as the register the project uses (a deliberate, logged act).

    Checks the snapshot's own ``SHA256SUMS`` if it has one (a transfer check), compares the
    municipalities per year and size class with the previously recorded snapshot (when its
    files are at ``previous`` or the default location and still match), writes the new
    checksums to ``data/register_snapshot.sha256`` and appends the change to
    ``data/register_snapshot.log``. Returns the report it printed.
    """
    from datetime import UTC, datetime

    snapshot_dir = Path(snapshot_dir).resolve()
    own = snapshot_dir / CHECKSUM_FILE
    new = load_register(snapshot_dir, own if own.is_file() else _write_temp_sums(snapshot_dir))
    lines = [f"new register snapshot: {snapshot_dir}"]
    old_dir = Path(previous) if previous else config.default_register_snapshot()
    try:
        old = load_register(old_dir) if old_dir else None
    except RegisterError:
        old = None
    after = class_counts(new)
    if old is None:
        lines.append("the previously recorded snapshot is not at hand: no comparison")
    else:
        diff = after.subtract(class_counts(old), fill_value=0).astype(int)
        changed = diff[(diff != 0).any(axis=1)]
        lines.append(
            "municipalities per year and size class, change against the recorded snapshot:"
        )
        lines.append(changed.to_string() if len(changed) else "  none")
    lines.append("municipalities per year and size class in the new snapshot:")
    lines.append(after.to_string())
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    sums = "".join(f"{new.checksums[n]}  {n}\n" for n in REGISTER_FILES)
    config.REGISTER_CHECKSUMS_PATH.write_text(
        f"# SHA-256 of the register snapshot in use, accepted {stamp} from {snapshot_dir}\n"
        "# (make accept-register; see data/register_snapshot.log)\n" + sums,
        encoding="utf-8",
    )
    log = config.DATA_DIR / "register_snapshot.log"
    with log.open("a", encoding="utf-8") as fh:
        fh.write(f"{stamp} accepted {snapshot_dir}\n" + sums + "\n".join(lines[1:]) + "\n\n")
    return "\n".join(lines)


def _write_temp_sums(snapshot_dir: Path) -> Path:
    import tempfile

    tmp = Path(tempfile.mkdtemp()) / CHECKSUM_FILE
    tmp.write_text("".join(f"{sha256_file(snapshot_dir / n)}  {n}\n" for n in REGISTER_FILES))
    return tmp


if __name__ == "__main__":  # python -m analysis.register accept DIR (make accept-register)
    import sys

    if len(sys.argv) != 3 or sys.argv[1] != "accept":
        sys.exit("usage: python -m analysis.register accept <snapshot dir>")
    try:
        print(accept_snapshot(Path(sys.argv[2])))
    except RegisterError as exc:
        sys.exit(f"accept-register failed: {exc}")
