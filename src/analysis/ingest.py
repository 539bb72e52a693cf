"""Ingest: raw vendor exports -> one tidy, typed, validated respondent table.

Load: read each year's export whatever its format (CSV in any common encoding and
delimiter, Excel, SPSS ``.sav`` with value labels), opened read-only.
Process: map columns through the codebook, code answer labels, drop personal fields,
link each response to the register with the codes valid in that year, resolve
duplicates, and account for every raw row in a cleaning log.
Save: the respondent table and the cleaning log (see :func:`ingest_all`).
"""

from __future__ import annotations

import csv
import difflib
import io
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import config
from analysis.codebook import Codebook, Variable, normalise_label
from analysis.register import Register, RegisterError, read_checksums, sha256_file, size_class

EXPORT_SUFFIXES = {".csv", ".txt", ".xlsx", ".xls", ".sav"}
YEAR_RE = re.compile(r"(?<!\d)(20\d{2})(?!\d)")

# exclusion reasons (stable identifiers used in the log and the report)
R_NO_MUNICIPALITY = "no municipality given"
R_UNKNOWN_NUMBER = "municipality number not valid in the survey year"
R_UNKNOWN_NAME = "municipality name not found in the survey year's register"
R_AMBIGUOUS_NAME = "municipality name matches several municipalities"
R_EMPTY = "no substantive answers"
R_SPLIT = "old municipality was split: successor ambiguous"
R_DUPLICATE = "duplicate submission for the municipality"


class IngestError(ValueError):
    """An export cannot be read as it stands; the message names file, row and column."""


@dataclass
class YearResult:
    """Ingest result of one export."""

    year: int
    path: Path
    respondents: pd.DataFrame
    log: pd.DataFrame
    item_missing: pd.DataFrame
    warnings: list[str] = field(default_factory=list)
    sha256: str = ""


# ---------------------------------------------------------------- discovery and reading


def discover_exports(raw_dir: Path) -> dict[int, Path]:
    """Survey year -> export file, from the file names in ``raw_dir``."""
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise IngestError(f"raw data directory {raw_dir} does not exist (RAW_DIR)")
    found: dict[int, Path] = {}
    for p in sorted(raw_dir.iterdir()):
        if p.suffix.lower() not in EXPORT_SUFFIXES or p.name.startswith("."):
            continue
        m = YEAR_RE.findall(p.stem)
        if len(m) != 1:
            raise IngestError(
                f"{p}: cannot tell the survey year from the file name; name it with one "
                "four-digit year, e.g. kommuneundersokelsen_2021.csv"
            )
        year = int(m[0])
        if year in found:
            raise IngestError(f"two exports for {year}: {found[year].name} and {p.name}; keep one")
        found[year] = p
    if not found:
        raise IngestError(f"no survey exports (*.csv, *.xlsx, *.sav) found in {raw_dir}")
    return found


def verify_manifest(raw_dir: Path) -> dict[str, str]:
    """Check exports against ``MANIFEST.sha256`` if the delivery has one; return name -> sha256."""
    raw_dir = Path(raw_dir)
    manifest = raw_dir / "MANIFEST.sha256"
    exports = discover_exports(raw_dir)
    digests = {p.name: sha256_file(p) for p in exports.values()}
    if manifest.is_file():
        expected = read_checksums(manifest)
        for name, digest in digests.items():
            if name not in expected:
                raise IngestError(f"{raw_dir / name} is not listed in {manifest}")
            if expected[name] != digest:
                raise IngestError(
                    f"{raw_dir / name} does not match its checksum in {manifest}: raw exports are "
                    "read-only; restore the delivered file"
                )
    return digests


MOJIBAKE = re.compile("Ã[¸¥¦˜…†]")


def _decode(data: bytes, path: Path) -> tuple[str, str]:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or data[:200].count(b"\x00") > 5:
        raise IngestError(
            f"{path}: the file looks like UTF-16; re-export it as UTF-8 or Windows-1252 CSV"
        )
    for enc in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(enc), enc
        except UnicodeDecodeError:
            continue
    raise IngestError(f"{path}: neither UTF-8 nor Windows-1252; re-export the file as UTF-8")


def _read_csv(path: Path, data: bytes) -> tuple[pd.DataFrame, dict]:
    text, enc = _decode(data, path)
    if not text.strip():
        raise IngestError(f"{path}: the file is empty; ask the vendor for the export again")
    m = MOJIBAKE.search(text)
    if m:
        line = text[: m.start()].count("\n") + 1
        raise IngestError(
            f"{path}, row {line}: {text[m.start() : m.start() + 12]!r} looks like UTF-8 text that was "
            "decoded twice (mojibake); ask for the export again in UTF-8 or Windows-1252"
        )
    first = text.splitlines()[0]
    counts = {d: first.count(d) for d in (";", "\t", ",")}
    sep = max(counts, key=counts.get)
    if counts[sep] == 0:
        raise IngestError(f"{path}, row 1: no delimiter (; , or tab) found in the header line")
    header = next(csv.reader([first], delimiter=sep))
    dup = sorted({h.strip() for h in header if [x.strip() for x in header].count(h.strip()) > 1})
    if dup:
        raise IngestError(
            f"{path}, row 1: duplicate column name(s) {dup}; each question needs one column"
        )
    df = pd.read_csv(
        io.StringIO(text),
        sep=sep,
        dtype=str,
        keep_default_na=False,
        quoting=csv.QUOTE_MINIMAL,
        skip_blank_lines=True,
    )
    return df, {
        "format": "csv",
        "encoding": enc,
        "delimiter": sep,
        "header_row": 1,
        "decimal": "," if sep == ";" else ".",
    }


def _read_excel(path: Path, data: bytes, known: set[str]) -> tuple[pd.DataFrame, dict]:
    grid = pd.read_excel(io.BytesIO(data), header=None, dtype=object, sheet_name=0)
    if grid.empty:
        raise IngestError(f"{path}: the first sheet is empty")
    known_n = {normalise_label(k) for k in known}
    header_at = None
    for i in range(min(len(grid), 20)):
        hits = sum(normalise_label(c) in known_n for c in grid.iloc[i] if pd.notna(c))
        if hits >= 2:
            header_at = i
            break
    if header_at is None:
        raise IngestError(f"{path}: no header row with codebook column names in the first 20 rows")
    header = [
        str(c).strip() if pd.notna(c) else f"unnamed_{j}"
        for j, c in enumerate(grid.iloc[header_at])
    ]
    df = grid.iloc[header_at + 1 :].copy()
    df.columns = header
    df = df.dropna(how="all").reset_index(drop=True)
    return df, {"format": "xlsx", "header_row": header_at + 1, "decimal": "."}


def _read_sav(path: Path) -> tuple[pd.DataFrame, dict]:
    import pyreadstat

    df, meta = pyreadstat.read_sav(str(path), apply_value_formats=True, formats_as_category=False)
    return df, {
        "format": "sav",
        "header_row": 0,
        "decimal": ".",
        "value_labels": bool(meta.variable_value_labels),
    }


def read_export(path: Path, codebook: Codebook) -> tuple[pd.DataFrame, dict]:
    """Read an export as delivered (read-only), returning raw cells and how it was read.

    ``info['header_row']`` lets log lines cite the row number a person sees in the file.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".sav":
        df, info = _read_sav(path)
    else:
        with open(path, "rb") as fh:  # read-only: raw exports are never written
            data = fh.read()
        if not data.strip():
            raise IngestError(f"{path}: the file is empty; ask the vendor for the export again")
        if suffix in {".xlsx", ".xls"}:
            df, info = _read_excel(path, data, codebook.known_columns())
        else:
            df, info = _read_csv(path, data)
    df.columns = [str(c).strip().lstrip("\ufeff") for c in df.columns]
    if df.empty:
        raise IngestError(f"{path}: the export has a header but no rows")
    info["raw_rows"] = len(df)
    return df, info


# ---------------------------------------------------------------- column mapping and coding


def map_columns(
    df: pd.DataFrame, year: int, codebook: Codebook, path: Path
) -> tuple[dict[str, str], list[str]]:
    """Canonical name -> file column for ``year``; and the file's columns the codebook ignores.

    Years the codebook lists need their listed column; other years are matched against every
    year's column names (newest first).
    """
    present = {normalise_label(c): c for c in df.columns}
    mapping: dict[str, str] = {}
    missing: list[str] = []
    for v in [*codebook.fields.values(), *codebook.variables.values()]:
        if year in v.years:
            col = normalise_label(v.years[year]["column"])
            if col in present:
                mapping[v.name] = present[col]
            elif v.type != "pii":
                missing.append(f"{v.name} (column {v.years[year]['column']!r})")
        else:
            for c in v.columns():
                if normalise_label(c) in present:
                    mapping[v.name] = present[normalise_label(c)]
                    break
    if missing:
        used_now = {
            present[normalise_label(c)]
            for v in [*codebook.fields.values(), *codebook.variables.values()]
            for c in v.columns()
            if normalise_label(c) in present
        }
        unknown_cols = [c for c in df.columns if c not in used_now]
        years_cb = sorted({y for v in codebook.variables.values() for y in v.years})
        fits = [
            y
            for y in years_cb
            if y != year
            and all(
                normalise_label(v.years[y]["column"]) in present
                for v in [*codebook.fields.values(), *codebook.variables.values()]
                if y in v.years and v.type != "pii"
            )
        ]
        hint = (
            f" The columns match the codebook's {fits[-1]} export: is this file from {fits[-1]}? "
            "Name the file with its survey year."
            if fits
            else ""
        )
        raise IngestError(
            f"{path}, row 1: column(s) required by the codebook for {year} are missing: "
            f"{', '.join(missing)}. Columns in the file that the codebook does not know: "
            f"{unknown_cols or 'none'}. If a question was renamed, add the new column name under "
            f"its variable's `years: {year}` in the codebook.{hint}"
        )
    if not any(
        codebook.fields[n].type in {"municipality_name", "municipality_number"}
        for n in mapping
        if n in codebook.fields
    ):
        raise IngestError(
            f"{path}: no column identifies the municipality (codebook fields "
            "of type municipality_name / municipality_number)"
        )
    if not any(n in codebook.variables for n in mapping):
        raise IngestError(
            f"{path}: none of the codebook's survey questions was found; is this "
            f"the right file and does the codebook know year {year}?"
        )
    used = set(mapping.values())
    unknown = [c for c in df.columns if c not in used]
    return mapping, unknown


def _is_blank(x: object) -> bool:
    if x is None:
        return True
    if isinstance(x, float) and np.isnan(x):
        return True
    return isinstance(x, str) and x.strip() == ""


def code_variable(
    values: pd.Series, var: Variable, path: Path, column: str, rows: np.ndarray, decimal: str
) -> tuple[pd.Series, pd.Series]:
    """Code one column: returns (codes, state) with state in valid / dont_know / blank.

    An unknown label or an out-of-range number raises :class:`IngestError` naming file,
    row and column.
    """
    state = pd.Series("valid", index=values.index, dtype=object)
    codes: list[object] = []
    lookup, dk = var.lookup(), var.missing_lookup()
    for i, (idx, raw) in enumerate(values.items()):
        if _is_blank(raw):
            state[idx] = "blank"
            codes.append(np.nan)
            continue
        if var.type == "numeric":
            text = str(raw).strip()
            if normalise_label(text) in dk:
                state[idx] = "dont_know"
                codes.append(np.nan)
                continue
            if decimal == "," or ("," in text and "." not in text):
                text = text.replace(" ", "").replace(",", ".")
            try:
                num = float(text)
            except ValueError:
                raise IngestError(
                    f"{path}, row {rows[i]}, column {column!r}: {raw!r} is not a number "
                    f"({var.name}); correct the export or mark it blank"
                ) from None
            if var.range and not var.range[0] <= num <= var.range[1]:
                raise IngestError(
                    f"{path}, row {rows[i]}, column {column!r}: {num} is outside the codebook "
                    f"range {var.range} of {var.name}"
                )
            codes.append(num)
            continue
        key = normalise_label(raw)
        if isinstance(raw, float) and float(raw).is_integer():
            key = normalise_label(int(raw))
        if key in lookup:
            codes.append(lookup[key])
        elif key in dk:
            state[idx] = "dont_know"
            codes.append(np.nan)
        else:
            raise IngestError(
                f"{path}, row {rows[i]}, column {column!r}: answer {raw!r} is not a label the "
                f"codebook knows for {var.name} (known: {list(var.values)} and missing "
                f"{list(var.missing)}); add it to the codebook if it is a legitimate label"
            )
    dtype = object if var.type == "nominal" else "float64"
    return pd.Series(codes, index=values.index, dtype=dtype), state


# ---------------------------------------------------------------- municipality matching


def name_key(name: str) -> str:
    """Matching key for a municipality name: folded to ASCII, without 'kommune' and punctuation."""
    s = str(name).casefold().strip()
    s = s.replace("æ", "ae").replace("ø", "o").replace("å", "a").replace("aa", "a")
    s = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode()
    s = re.sub(r"\bkommune\b", " ", s)
    s = re.sub(r"[^a-z0-9()]+", " ", s)
    return re.sub(r"\s+", " ", s).strip()


class MunicipalityMatcher:
    """Resolve municipality numbers and names against one year's register."""

    def __init__(self, reg_year: pd.DataFrame, year: int, reg: Register | None = None) -> None:
        self.year = year
        self.old: dict[str, list[str]] = {}  # old code -> successors valid in ``year``
        self.old_keys: dict[str, set[str]] = {}  # old name key -> old codes
        self.old_names: dict[str, tuple[str, int]] = {}  # old code -> (name, year it ended)
        if reg is not None:
            ch = reg.changes[
                (reg.changes["valid_from"] <= year)
                & (reg.changes["valid_from"] >= reg.years[0] + 1)
            ]
            for r in ch.itertuples(index=False):
                if r.old_kommunenr in set(reg_year["kommunenr"]) and r.old_name == r.new_name:
                    continue
                self.old[r.old_kommunenr] = reg.successors(
                    r.old_kommunenr, int(r.valid_from) - 1, year
                )
                self.old_names[r.old_kommunenr] = (r.old_name, int(r.valid_from))
                self.old_keys.setdefault(name_key(r.old_name), set()).add(r.old_kommunenr)
        self.codes = set(reg_year["kommunenr"])
        self.names = dict(zip(reg_year["kommunenr"], reg_year["name"], strict=True))
        keys: dict[str, set[str]] = {}
        for code, name in self.names.items():
            variants = {name}
            variants.update(p.strip() for p in name.split(" - "))
            for v in list(variants):
                variants.add(re.sub(r"\s*\(.*\)\s*", "", v))
            for v in variants:
                keys.setdefault(name_key(v), set()).add(code)
        self.keys = keys

    def by_number(self, raw: object) -> tuple[str | None, str]:
        """(code, note) for a raw number; code None if not valid in the year."""
        text = str(raw).strip()
        if re.fullmatch(r"\d+\.0+", text):
            text = text.split(".")[0]
        if not re.fullmatch(r"\d{1,4}", text):
            return None, f"{raw!r} is not a municipality number"
        code = text.zfill(4)
        note = f"number {text} zero-padded to {code}" if code != text else ""
        if code not in self.codes:
            if code in self.old:
                return self._successor(code, f"number {code}")
            return None, f"{code} is not a municipality code valid on 1 January {self.year}"
        return code, note

    def _successor(self, old_code: str, what: str) -> tuple[str | None, str]:
        succ = self.old[old_code]
        name, yr = self.old_names[old_code]
        if len(succ) == 1:
            return succ[0], (
                f"{what} ({name}, changed {yr}) mapped to its successor "
                f"{succ[0]} {self.names.get(succ[0], '')}"
            )
        return None, f"{what} ({name}) was split in {yr} into {succ}; the answer cannot be assigned"

    def by_name(self, raw: object) -> tuple[str | None, str, str]:
        """(code, note, reason) for a raw name; code None with a reason if unresolved."""
        key = name_key(str(raw))
        hits = self.keys.get(key, set())
        if len(hits) == 1:
            code = next(iter(hits))
            exact = str(raw).strip() == self.names[code]
            return (
                code,
                "" if exact else f"name {str(raw).strip()!r} matched {self.names[code]!r}",
                "",
            )
        if len(hits) > 1:
            names = sorted(self.names[c] for c in hits)
            return None, f"{str(raw).strip()!r} matches {names}", R_AMBIGUOUS_NAME
        old_codes = self.old_keys.get(key, set())
        if old_codes:
            succ = sorted({c for oc in old_codes for c in self.old[oc]})
            if len(succ) == 1:
                code, note = self._successor(sorted(old_codes)[0], f"old name {str(raw).strip()!r}")
                return code, note, ""
            return (
                None,
                f"old name {str(raw).strip()!r} maps to several municipalities {succ}",
                R_SPLIT,
            )
        close = difflib.get_close_matches(key, list(self.keys), n=2, cutoff=0.88)
        if len(close) == 1 and len(self.keys[close[0]]) == 1:
            code = next(iter(self.keys[close[0]]))
            return code, f"name {str(raw).strip()!r} approximately matched {self.names[code]!r}", ""
        return (
            None,
            f"{str(raw).strip()!r} is not a municipality name in {self.year}",
            R_UNKNOWN_NAME,
        )


# ---------------------------------------------------------------- one year


def ingest_year(
    path: Path,
    year: int,
    codebook: Codebook,
    reg: Register,
    thresholds: config.SizeThresholds | None = None,
) -> YearResult:
    """Read, code, link and de-duplicate one export; account for every raw row."""
    thresholds = thresholds or config.SizeThresholds()
    path = Path(path)
    try:
        reg_year = reg.year(year)
    except RegisterError as exc:
        raise IngestError(f"{path}: {exc}") from None
    sha = sha256_file(path)
    raw, info = read_export(path, codebook)
    first_data_row = info["header_row"] + 1
    rows = np.arange(len(raw)) + first_data_row
    mapping, unknown = map_columns(raw, year, codebook, path)
    if info["format"] == "sav" and not info.get("value_labels", True):
        raise IngestError(
            f"{path}: the SPSS file carries no value labels, so its numeric answer codes cannot be "
            "read as answers; ask the vendor for the file with value labels (or a CSV/Excel export "
            "with answer labels)"
        )
    warnings = [
        f"{path.name}: column {c!r} is not in the codebook and was ignored" for c in unknown
    ]
    log = pd.DataFrame({"file": path.name, "row": rows, "year": year})
    log["respondent_id"] = (
        raw[mapping["respondent_id"]].astype(str).str.strip().to_numpy()
        if "respondent_id" in mapping
        else ""
    )
    log["respondent_id"] = log["respondent_id"].str.replace(r"\.0$", "", regex=True)
    log["outcome"] = "kept"
    log["reason"] = ""
    log["note"] = ""

    # code the survey variables (personal fields are never read)
    coded = pd.DataFrame(index=raw.index)
    states = pd.DataFrame(index=raw.index)
    for name, var in codebook.variables.items():
        if name not in mapping:
            continue
        coded[name], states[name] = code_variable(
            raw[mapping[name]], var, path, mapping[name], rows, info["decimal"]
        )

    # municipality
    matcher = MunicipalityMatcher(reg_year, year, reg)
    codes: list[str | None] = []
    num_col = next(
        (
            mapping[n]
            for n, f in codebook.fields.items()
            if f.type == "municipality_number" and n in mapping
        ),
        None,
    )
    name_col = next(
        (
            mapping[n]
            for n, f in codebook.fields.items()
            if f.type == "municipality_name" and n in mapping
        ),
        None,
    )
    for i in range(len(raw)):
        num = raw[num_col].iloc[i] if num_col else None
        nm = raw[name_col].iloc[i] if name_col else None
        code, note, reason = None, "", ""
        if not _is_blank(num):
            code, note = matcher.by_number(num)
            if code is None:
                reason = R_SPLIT if "was split" in note else R_UNKNOWN_NUMBER
            elif not _is_blank(nm):
                c2, _, _ = matcher.by_name(nm)
                if c2 is not None and c2 != code:
                    note = (note + "; " if note else "") + (
                        f"name {str(nm).strip()!r} points to {c2}, number kept"
                    )
        elif not _is_blank(nm):
            code, note, reason = matcher.by_name(nm)
        else:
            reason = R_NO_MUNICIPALITY
        codes.append(code)
        if reason:
            log.loc[i, ["outcome", "reason", "note"]] = ["excluded", reason, note]
        elif note:
            log.loc[i, "note"] = note

    # rows with nothing answered
    if len(states.columns):
        empty = (states != "valid").all(axis=1) & ~(states == "dont_know").any(axis=1)
    else:
        empty = pd.Series(True, index=raw.index)
    for i in np.flatnonzero(empty.to_numpy()):
        if log.loc[i, "outcome"] == "kept":
            log.loc[i, ["outcome", "reason"]] = ["excluded", R_EMPTY]

    status = (
        raw[mapping["status"]].map(lambda s: "" if _is_blank(s) else normalise_label(s))
        if "status" in mapping
        else pd.Series("", index=raw.index)
    )
    complete_labels = (
        {normalise_label(k) for k, v in codebook.fields["status"].values.items() if v == "complete"}
        if "status" in codebook.fields
        else set()
    )
    is_complete = status.isin(complete_labels) | (status == "")
    innsendt = (
        pd.to_datetime(
            raw[mapping["innsendt"]].astype(str).str.strip(),
            format=codebook.raw["fields"]["innsendt"].get("format"),
            errors="coerce",
        )
        if "innsendt" in mapping
        else pd.Series(pd.NaT, index=raw.index)
    )
    n_answered = (states == "valid").sum(axis=1)
    dated = innsendt.dropna()
    if len(dated) >= max(5, len(raw) // 2):
        years_seen = dated.dt.year.value_counts()
        if years_seen.index[0] != year:
            raise IngestError(
                f"{path}, column {mapping['innsendt']!r}: {years_seen.iloc[0]} of {len(dated)} answers are "
                f"dated {years_seen.index[0]}, but the file name says {year}; check that the file "
                "belongs to that survey year and rename it if not"
            )

    # duplicates: keep the latest complete submission (then the most answers, then last row)
    cand = pd.DataFrame(
        {
            "code": codes,
            "complete": is_complete.to_numpy(),
            "t": innsendt.to_numpy(),
            "answered": n_answered.to_numpy(),
            "row": rows,
        }
    )
    cand = cand[(log["outcome"] == "kept").to_numpy()]
    for _code, g in cand.groupby("code"):
        if len(g) < 2:
            continue
        g = g.sort_values(["complete", "t", "answered", "row"], na_position="first")
        keep = g.index[-1]
        for i in g.index[:-1]:
            log.loc[i, ["outcome", "reason", "note"]] = [
                "excluded",
                R_DUPLICATE,
                f"kept row {rows[keep]} ({'complete' if g.loc[keep, 'complete'] else 'partial'}, latest)",
            ]

    kept = (log["outcome"] == "kept").to_numpy()
    resp = pd.DataFrame(
        {
            "year": year,
            "kommunenr": pd.Series(codes, dtype=object)[kept].to_numpy(),
            "respondent_id": log["respondent_id"][kept].to_numpy(),
            "complete": is_complete[kept].to_numpy(),
            "source_file": path.name,
            "source_row": rows[kept],
        }
    )
    for name in coded.columns:
        resp[name] = coded[name][kept].to_numpy()
    resp = attach_register(resp, reg_year, thresholds)
    item_missing = pd.DataFrame(
        [
            {
                "year": year,
                "variable": n,
                "valid": int((states[n][kept] == "valid").sum()),
                "dont_know": int((states[n][kept] == "dont_know").sum()),
                "blank": int((states[n][kept] == "blank").sum()),
            }
            for n in states.columns
        ]
    )
    if (log["outcome"] == "kept").sum() + (log["outcome"] == "excluded").sum() != info["raw_rows"]:
        raise IngestError(f"{path}: row accounting failed")  # pragma: no cover - invariant
    return YearResult(year, path, resp, log, item_missing, warnings, sha)


def attach_register(
    resp: pd.DataFrame, reg_year: pd.DataFrame, thresholds: config.SizeThresholds
) -> pd.DataFrame:
    """Add register name, population, county, region and size class to respondents."""
    cols = ["kommunenr", "name", "population", "county_nr", "region"]
    out = resp.merge(
        reg_year[cols].rename(columns={"name": "kommunenavn"}),
        on="kommunenr",
        how="left",
        validate="one_to_one",
    )
    out["size_class"] = size_class(out["population"], thresholds).to_numpy()
    front = ["year", "kommunenr", "kommunenavn", "population", "county_nr", "region", "size_class"]
    return out[front + [c for c in out.columns if c not in front]]


# ---------------------------------------------------------------- all years


@dataclass
class IngestResult:
    """Respondents of every year, the cleaning log and item non-response."""

    respondents: pd.DataFrame
    log: pd.DataFrame
    item_missing: pd.DataFrame
    warnings: list[str]
    checksums: dict[str, str]

    def accounting(self) -> pd.DataFrame:
        """Per year: raw rows, kept and excluded by reason (raw = kept + excluded)."""
        t = self.log.assign(n=1).pivot_table(
            index="year", columns="outcome", values="n", aggfunc="sum", fill_value=0
        )
        t["raw_rows"] = self.log.groupby("year").size()
        return t.reset_index()


def ingest_all(
    raw_dir: Path,
    codebook: Codebook,
    reg: Register,
    thresholds: config.SizeThresholds | None = None,
) -> IngestResult:
    """Ingest every export in ``raw_dir`` (years discovered from the file names)."""
    checksums = verify_manifest(raw_dir)
    results = [
        ingest_year(p, y, codebook, reg, thresholds)
        for y, p in sorted(discover_exports(raw_dir).items())
    ]
    resp = pd.concat([r.respondents for r in results], ignore_index=True)
    log = pd.concat([r.log for r in results], ignore_index=True)
    im = pd.concat([r.item_missing for r in results], ignore_index=True)
    warnings = [w for r in results for w in r.warnings]
    return IngestResult(resp, log, im, warnings, checksums)


# ---------------------------------------------------------------- validation and saving

RESPONDENTS_FILE = "respondents.csv"
LOG_FILE = "cleaning_log.csv"
ITEM_MISSING_FILE = "item_missing.csv"
META_FILE = "ingest_meta.json"


def respondent_schema(codebook: Codebook, reg: Register):  # -> pandera DataFrameSchema
    """pandera schema of the respondent table, built from the codebook and register."""
    import pandera.pandas as pa

    cols = {
        "year": pa.Column(int, pa.Check.isin(reg.years)),
        "kommunenr": pa.Column(str, pa.Check.str_matches(r"^\d{4}$")),
        "kommunenavn": pa.Column(str),
        "population": pa.Column(int, pa.Check.gt(0)),
        "county_nr": pa.Column(str, pa.Check.str_matches(r"^\d{2}$")),
        "region": pa.Column(str),
        "size_class": pa.Column(str, pa.Check.isin(list(config.SIZE_CLASSES))),
        "respondent_id": pa.Column(str, nullable=True),
        "complete": pa.Column(bool),
        "source_file": pa.Column(str),
        "source_row": pa.Column(int, pa.Check.ge(0)),
    }
    for name, v in codebook.variables.items():
        if v.type == "nominal":
            cols[name] = pa.Column(None, pa.Check.isin(v.codes), nullable=True, required=False)
        elif v.type == "numeric":
            lo, hi = v.range or (-np.inf, np.inf)
            cols[name] = pa.Column(float, pa.Check.in_range(lo, hi), nullable=True, required=False)
        else:
            cols[name] = pa.Column(
                float, pa.Check.isin([float(c) for c in v.codes]), nullable=True, required=False
            )
    return pa.DataFrameSchema(cols, unique=["year", "kommunenr"], strict=True, coerce=False)


def validate_respondents(df: pd.DataFrame, codebook: Codebook, reg: Register) -> pd.DataFrame:
    """Validate the respondent table; raise :class:`IngestError` listing the failures."""
    import pandera.errors as pe

    try:
        return respondent_schema(codebook, reg).validate(df, lazy=True)
    except pe.SchemaErrors as exc:
        fc = exc.failure_cases.head(10).to_string()
        raise IngestError(f"the respondent table fails validation:\n{fc}") from None


def _stable_csv(df: pd.DataFrame, path: Path) -> None:
    """Write a CSV atomically (temporary file, then rename) with fixed float formatting."""
    tmp = path.with_name(f".{path.name}.tmp")
    df.to_csv(tmp, index=False, lineterminator="\n", float_format="%.10g")
    os.replace(tmp, path)


def run_ingest(
    raw_dir: Path,
    codebook_path: Path,
    register_snapshot: Path | None,
    processed_dir: Path,
    thresholds: config.SizeThresholds,
) -> IngestResult:
    """Ingest every export, validate, and write the processed tables (respondents, log)."""
    from analysis.codebook import load_codebook
    from analysis.register import load_register

    codebook = load_codebook(codebook_path)
    reg = load_register(register_snapshot)
    res = ingest_all(raw_dir, codebook, reg, thresholds)
    res.respondents = validate_respondents(
        res.respondents.astype(
            {
                "kommunenr": str,
                "kommunenavn": str,
                "county_nr": str,
                "region": str,
                "size_class": str,
                "respondent_id": str,
                "source_file": str,
            }
        ),
        codebook,
        reg,
    )
    acc = res.accounting()
    if not (acc["kept"] + acc.get("excluded", 0) == acc["raw_rows"]).all():
        raise IngestError("row accounting failed: raw rows != kept + excluded")
    processed_dir = Path(processed_dir)
    processed_dir.mkdir(parents=True, exist_ok=True)
    (processed_dir / META_FILE).unlink(missing_ok=True)  # invalid until the set is complete
    _stable_csv(res.respondents, processed_dir / RESPONDENTS_FILE)
    _stable_csv(res.log, processed_dir / LOG_FILE)
    _stable_csv(res.item_missing, processed_dir / ITEM_MISSING_FILE)
    meta = {
        "raw_dir": Path(raw_dir).name,
        "inputs_sha256": {
            **{f"raw/{k}": v for k, v in res.checksums.items()},
            **{f"register/{k}": v for k, v in (reg.checksums or {}).items()},
            "codebook": sha256_file(Path(codebook_path)),
        },
        "delivery": delivery_info(raw_dir),
        "accounting": {
            str(int(r["year"])): {
                "raw_rows": int(r["raw_rows"]),
                "kept": int(r["kept"]),
                "excluded": int(r.get("excluded", 0)),
                "reasons": "; ".join(
                    f"{x.reason}: {x.rows}"
                    for x in exclusion_summary(res.log).itertuples()
                    if x.year == r["year"]
                )
                or "none",
            }
            for r in acc.to_dict("records")
        },
        "warnings": res.warnings,
        "years": sorted(int(y) for y in res.respondents["year"].unique()),
        "thresholds": [thresholds.medium, thresholds.large],
    }
    import json

    tmp = processed_dir / f".{META_FILE}.tmp"
    tmp.write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, processed_dir / META_FILE)  # written last: marks a complete set
    return res


def load_processed(processed_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """Read the processed respondent table, cleaning log, item non-response and metadata."""
    import json

    processed_dir = Path(processed_dir)
    if not (processed_dir / RESPONDENTS_FILE).is_file():
        raise IngestError(
            f"{processed_dir / RESPONDENTS_FILE} not found; run the ingest step first (make ingest)"
        )
    str_cols = {
        c: str
        for c in (
            "kommunenr",
            "kommunenavn",
            "county_nr",
            "region",
            "size_class",
            "respondent_id",
            "source_file",
            "rolle",
        )
    }
    resp = pd.read_csv(
        processed_dir / RESPONDENTS_FILE, dtype=str_cols, keep_default_na=False, na_values=[""]
    )
    log = pd.read_csv(
        processed_dir / LOG_FILE,
        dtype={"respondent_id": str, "note": str, "reason": str},
        keep_default_na=False,
    )
    im = pd.read_csv(processed_dir / ITEM_MISSING_FILE)
    meta = json.loads((processed_dir / META_FILE).read_text(encoding="utf-8"))
    return resp, log, im, meta


# ---------------------------------------------------------------- summaries for the report

DELIVERY_FILE = "DELIVERY.json"


def delivery_info(raw_dir: Path) -> dict:
    """The delivery's description (``DELIVERY.json``): at least whether it is synthetic."""
    import json

    p = Path(raw_dir) / DELIVERY_FILE
    info = json.loads(p.read_text(encoding="utf-8")) if p.is_file() else {}
    info.setdefault("synthetic", False)
    return info


def exclusion_summary(log: pd.DataFrame) -> pd.DataFrame:
    """Excluded rows per year and reason (counts only)."""
    ex = log[log["outcome"] == "excluded"]
    if ex.empty:
        return pd.DataFrame(columns=["year", "reason", "rows"])
    return ex.groupby(["year", "reason"]).size().rename("rows").reset_index()


def correction_summary(log: pd.DataFrame) -> pd.DataFrame:
    """Logged corrections of kept rows per year and kind (counts only)."""
    kept = log[(log["outcome"] == "kept") & (log["note"].fillna("") != "")]
    kind = np.select(
        [
            kept["note"].str.contains("mapped to its successor"),
            kept["note"].str.contains("zero-padded"),
            kept["note"].str.contains("approximately"),
            kept["note"].str.contains("matched"),
            kept["note"].str.contains("points to"),
        ],
        [
            "old name or code mapped to successor",
            "municipality number zero-padded",
            "municipality name matched approximately",
            "municipality name variant matched",
            "name and number disagree (number kept)",
        ],
        "other",
    )
    if kept.empty:
        return pd.DataFrame(columns=["year", "correction", "rows"])
    return (
        kept.assign(correction=kind)
        .groupby(["year", "correction"])
        .size()
        .rename("rows")
        .reset_index()
    )
