"""Ingest: raw vendor exports -> one tidy, typed, validated respondent table.

Load: read each year's export whatever its format (CSV in any common encoding and
delimiter, Excel, SPSS ``.sav`` with value labels), opened read-only.
Process: map columns through the codebook, code answer labels, drop personal fields,
link each response to the register with the codes valid in that year, resolve
duplicates, and account for every raw row in a cleaning log.
Save: the respondent table and the cleaning log (see :func:`ingest_all`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import config
from analysis.codebook import Codebook, Variable, normalise_label
from analysis.linkage import MunicipalityMatcher, attach_register
from analysis.processed import (
    ITEM_MISSING_FILE,
    LOG_FILE,
    META_FILE,
    R_DUPLICATE,
    R_EMPTY,
    R_NO_MUNICIPALITY,
    R_SPLIT,
    R_UNKNOWN_NUMBER,
    RESPONDENTS_FILE,
    exclusion_summary,
    stable_csv,
    validate_respondents,
)
from analysis.readers import (
    IngestError,
    delivery_info,
    discover_exports,
    map_columns,
    read_export,
    verify_manifest,
)
from analysis.register import Register, RegisterError, sha256_file


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


# ---------------------------------------------------------------- column mapping and coding


NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)", re.ASCII)
TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")


def parse_times(values: pd.Series, fmt: str | None, path: Path, rows: np.ndarray) -> pd.Series:
    """Submission times from any export: real date cells (Excel, SPSS) as they are, text in the
    codebook's format or ISO 8601. A value that is not a time is an error naming the cell."""
    from datetime import date, datetime

    out = []
    for v, row in zip(values, rows, strict=True):
        if _is_blank(v):
            out.append(pd.NaT)
            continue
        if isinstance(v, datetime | date | pd.Timestamp | np.datetime64):
            out.append(pd.Timestamp(v))
            continue
        text = str(v).strip()
        for f in (fmt, *TIME_FORMATS) if fmt else TIME_FORMATS:
            try:
                out.append(pd.Timestamp(datetime.strptime(text, f)))
                break
            except ValueError:
                continue
        else:
            raise IngestError(
                f"{path}, row {row}, column {values.name!r}: {text!r} is not a submission time "
                f"(expected {fmt or 'ISO 8601'}, e.g. {datetime(2019, 3, 1, 9, 30).strftime(fmt or TIME_FORMATS[0])}); "
                "correct the cell in a copy of the delivery or set `format:` for the field in the codebook"
            )
    return pd.Series(out, index=values.index, dtype="datetime64[ns]")


def _is_blank(x: object) -> bool:
    if x is None:
        return True
    if isinstance(x, float) and np.isnan(x):
        return True
    return isinstance(x, str) and x.strip() == ""


def code_variable(
    values: pd.Series,
    var: Variable,
    path: Path,
    column: str,
    rows: np.ndarray,
    decimal: str,
    global_missing: frozenset[str] = frozenset(),
) -> tuple[pd.Series, pd.Series]:
    """Code one column: returns (codes, state) with state in valid / dont_know / blank.

    An unknown label or an out-of-range number raises :class:`IngestError` naming file,
    row and column.
    """
    state = pd.Series("valid", index=values.index, dtype=object)
    codes: list[object] = []
    lookup, dk = var.lookup(), var.missing_lookup() | global_missing
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
                if not NUMBER.fullmatch(text):  # float() would take "1_0" and non-ASCII digits
                    raise ValueError(text)
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
            raw[mapping[name]],
            var,
            path,
            mapping[name],
            rows,
            info["decimal"],
            codebook.dont_know(),
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
        parse_times(
            raw[mapping["innsendt"]], codebook.raw["fields"]["innsendt"].get("format"), path, rows
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
    stable_csv(res.respondents, processed_dir / RESPONDENTS_FILE)
    stable_csv(res.log, processed_dir / LOG_FILE)
    stable_csv(res.item_missing, processed_dir / ITEM_MISSING_FILE)
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
