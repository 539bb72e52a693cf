"""Reading raw exports: discovery by file name, manifest checks, CSV/Excel/SPSS readers.

Every error names the file (and where it can, the row and column) and says what to do.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pandas as pd

from analysis import limits
from analysis.codebook import Codebook, Variable, normalise_label
from analysis.register import read_checksums, sha256_file

EXPORT_SUFFIXES = {".csv", ".txt", ".xlsx", ".xls", ".sav"}
YEAR_RE = re.compile(r"(?<!\d)(20\d{2})(?!\d)")
DELIVERY_FILE = "DELIVERY.json"


class IngestError(ValueError):
    """An export cannot be read as it stands; the message names file, row and column."""


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
        if not m and p.suffix.lower() == ".txt":
            continue  # a note such as LESMEG.txt, not an export
        if len(m) != 1:
            raise IngestError(
                f"{p}: cannot tell the survey year from the file name; name it with one "
                "four-digit year, e.g. kommuneundersokelsen_2021.csv"
            )
        year = int(m[0])
        limits.regular_file(p, "survey export", limits.MAX_EXPORT_BYTES)
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
        # names compared in one normal form: macOS writes "å" decomposed (NFD)
        expected = {limits.nfc(n): d for n, d in read_checksums(manifest).items()}
        present = {limits.nfc(p.name) for p in raw_dir.iterdir() if p.is_file()}
        missing = sorted(n for n in expected if n not in present)
        if missing:
            raise IngestError(
                f"{manifest} lists {', '.join(missing)}, which is not in {raw_dir}: the delivery is "
                "incomplete. Put the file back (its year would silently drop out) or remove its "
                "line from the manifest if it was never delivered."
            )
        for name, digest in digests.items():
            if limits.nfc(name) not in expected:
                raise IngestError(f"{raw_dir / name} is not listed in {manifest}")
            if expected[limits.nfc(name)] != digest:
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
    if (nul := data.find(b"\x00")) >= 0:
        row = data[:nul].count(b"\n") + 1
        raise IngestError(
            f"{path}, row {row}: the file contains a NUL byte, so it is "
            "damaged or not a text export; ask the vendor for the export again"
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
    try:
        df = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            dtype=str,
            keep_default_na=False,
            quoting=csv.QUOTE_MINIMAL,
            skip_blank_lines=True,
        )
    except pd.errors.ParserError as exc:
        if m := re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc)):
            raise IngestError(
                f"{path}, row {m[2]}: {m[3]} cells where the header has {m[1]}; a {sep!r} inside "
                "an answer that is not quoted is the usual cause: fix it in a copy of the "
                "delivery or ask for the export again"
            ) from None
        where = re.search(r"row (\d+)", str(exc))
        row = f", row {int(where.group(1)) + 1}" if where else ""
        raise IngestError(
            f'{path}{row}: the CSV cannot be split into columns ({exc}); a quote (") that is '
            "opened but never closed is the usual cause: fix it in a copy of the delivery or ask "
            "for the export again"
        ) from None
    reader = csv.reader(io.StringIO(text, newline=None), delimiter=sep)
    for rec in reader:
        if len(rec) < len(header) and any(c.strip() for c in rec):
            raise IngestError(
                f"{path}, row {reader.line_num}: {len(rec)} cells where the header has "
                f"{len(header)}; the line is cut short: ask for the export again"
            )
    return df, {
        "format": "csv",
        "encoding": enc,
        "delimiter": sep,
        "header_row": 1,
        "decimal": "," if sep == ";" else ".",
    }


def _read_excel(path: Path, data: bytes, known: set[str]) -> tuple[pd.DataFrame, dict]:
    try:
        book = pd.ExcelFile(io.BytesIO(data), engine="openpyxl")
        grid = pd.read_excel(book, sheet_name=0, header=None, dtype=object)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a damaged file to the user
        raise IngestError(
            f"{path}: not a readable Excel workbook ({type(exc).__name__}: {exc}); the file is "
            "probably truncated or damaged: ask the vendor for it again"
        ) from None
    if grid.dropna(how="all").empty:
        sheets = ", ".join(repr(n) for n in book.sheet_names)
        raise IngestError(
            f"{path}: the first sheet {book.sheet_names[0]!r} is empty; sheets found: {sheets}. The "
            "answers must be on the first sheet: move them there (or delete the empty sheet) in a "
            "copy of the delivery"
        )
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

    try:
        df, meta = pyreadstat.read_sav(
            str(path), apply_value_formats=True, formats_as_category=False
        )
    except Exception as exc:  # noqa: BLE001 - any reader failure is a damaged file to the user
        raise IngestError(
            f"{path}: not a readable SPSS file ({type(exc).__name__}: {exc}); the file is "
            "probably truncated or damaged: ask the vendor for it again"
        ) from None
    return df, {
        "format": "sav",
        "header_row": 0,
        "decimal": ".",
        "value_labels": bool(meta.variable_value_labels),
    }


MAGIC = {
    b"$FL2": ".sav",
    b"$FL3": ".sav",
    b"PK\x03\x04": ".xlsx",
    b"\xd0\xcf\x11\xe0": ".xls",
    b"\x1f\x8b": ".gz",
}


def _check_content(path: Path, suffix: str, data: bytes) -> None:
    """The file's content must be what its name says (an SPSS file renamed .csv, a legacy
    .xls workbook) before a reader gives a misleading message."""
    kind = next((k for m, k in MAGIC.items() if data.startswith(m)), ".csv")
    if kind == ".gz":
        raise IngestError(
            f"{path}: the file is compressed (gzip); unpack it and deliver the export itself"
        )
    if re.match(rb"\s*<(!doctype|html|table|\?xml)", data[:200], flags=re.I):
        raise IngestError(
            f"{path}: the file is a web page (HTML or XML), not an export, although it is named "
            f"{suffix}; export the answers again as .xlsx, .csv or .sav"
        )
    if kind == ".xls":
        raise IngestError(
            f"{path}: a legacy Excel 97-2003 workbook (.xls), which is not read; open it in Excel "
            "or LibreOffice and save it as .xlsx (or export CSV)"
        )
    if suffix in {".csv", ".txt"} and kind != ".csv":
        raise IngestError(
            f"{path}: the file is an {'SPSS' if kind == '.sav' else 'Excel'} file named {suffix}; "
            f"rename it to {path.stem}{kind}"
        )
    if (
        suffix == ".sav"
        and kind != ".sav"
        or suffix == ".xlsx"
        and kind != ".xlsx"
        and data.strip()
    ):
        raise IngestError(
            f"{path}: the content is not {'an SPSS' if suffix == '.sav' else 'an Excel'} file "
            f"(it looks like {kind[1:].upper()}); check the file and name it with the right suffix"
        )


def read_export(path: Path, codebook: Codebook) -> tuple[pd.DataFrame, dict]:
    """Read an export as delivered (read-only), returning raw cells and how it was read.

    ``info['header_row']`` lets log lines cite the row number a person sees in the file.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    limits.regular_file(path, "survey export", limits.MAX_EXPORT_BYTES)
    if suffix == ".xlsx":
        limits.workbook(path)
    with open(path, "rb") as fh:  # read-only: raw exports are never written
        data = fh.read()
    if not data.strip():
        raise IngestError(f"{path}: the file is empty; ask the vendor for the export again")
    _check_content(path, suffix, data)
    if suffix == ".sav":
        df, info = _read_sav(path)
    else:
        if suffix in {".xlsx", ".xls"}:
            df, info = _read_excel(path, data, codebook.known_columns())
        else:
            df, info = _read_csv(path, data)
    df.columns = [str(c).strip().lstrip("\ufeff") for c in df.columns]
    if df.empty:
        raise IngestError(f"{path}: the export has a header but no rows")
    limits.rows(path, len(df))
    info["raw_rows"] = len(df)
    return df, info


def delivery_info(raw_dir: Path) -> dict:
    """The delivery's description (``DELIVERY.json``): at least whether it is synthetic."""
    p = Path(raw_dir) / DELIVERY_FILE
    try:
        info = json.loads(p.read_text(encoding="utf-8")) if p.is_file() else {}
    except json.JSONDecodeError as exc:
        raise IngestError(
            f"{p}, line {exc.lineno}, column {exc.colno}: not valid JSON ({exc.msg}); fix it, e.g. "
            '{"synthetic": false, "description": "..."}'
        ) from None
    if not isinstance(info, dict) or not isinstance(info.get("synthetic", False), bool):
        raise IngestError(
            f'{p}: "synthetic" must be true or false without quotes, not {info.get("synthetic")!r} '
            '(a quoted "false" would read as true)'
        )
    info.setdefault("synthetic", False)
    return info


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
    vanished: list[Variable] = []
    listed = sorted({y for v in codebook.variables.values() for y in v.years})
    before = [y for y in listed if y < year]
    for v in [*codebook.fields.values(), *codebook.variables.values()]:
        if year in v.years and v.years[year].get("not_asked") == "True":
            continue  # the codebook says the question was not asked this year
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
            else:
                if v.name in codebook.variables and before and before[-1] in v.years:
                    vanished.append(v)
    if vanished:
        raise IngestError(_vanished_message(df, path, year, vanished, codebook, mapping))
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
                if y in v.years and v.type != "pii" and "column" in v.years[y]
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


def _vanished_message(df, path, year, vanished, codebook, mapping) -> str:
    """A variable asked last year has no column in a new year's export: name it, suggest the
    most similar unknown column and the exact codebook lines to add."""
    import difflib

    used = set(mapping.values())
    unknown = [c for c in df.columns if c not in used and c not in codebook.pii_columns]
    parts = []
    for v in vanished:
        last = v.columns()[0]
        guess = difflib.get_close_matches(last, unknown, n=1, cutoff=0.3)
        lines = f"  {v.name}:\n    years:\n      {year}:\n        column: {guess[0] if guess else '<column name>'}"
        parts.append(
            f"{v.name} (last year's column {last!r}) is not in the file"
            + (f"; the most similar unknown column is {guess[0]!r}" if guess else "")
            + f". Add to the codebook under `variables:`\n{lines}\n"
            f"or, if the question was not asked in {year}, `not_asked: true` under that year"
        )
    return (
        f"{path}, row 1: a question asked in earlier years has no column in the {year} export, "
        "so it would silently drop out of the year and the trends. " + "; ".join(parts)
    )
