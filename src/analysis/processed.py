"""The processed tables: the respondent table's schema, the cleaning log's vocabulary,
writing and reading ``data/processed`` and counts for the reports (never row-level)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import config
from analysis.codebook import Codebook
from analysis.i18n import N_
from analysis.readers import IngestError
from analysis.register import Register

# exclusion reasons (stable identifiers used in the log and the report)
R_NO_MUNICIPALITY = "no municipality given"
R_UNKNOWN_NUMBER = "municipality number not valid in the survey year"
R_UNKNOWN_NAME = "municipality name not found in the survey year's register"
R_AMBIGUOUS_NAME = "municipality name matches several municipalities"
R_EMPTY = "no substantive answers"
R_SPLIT = "old municipality was split: successor ambiguous"
R_DUPLICATE = "duplicate submission for the municipality"

#: Reasons and corrections as the reports show them (Bokmål; translated by the catalog).
REASON_TEXT: dict[str, str] = {
    R_NO_MUNICIPALITY: N_("ingen kommune oppgitt"),
    R_UNKNOWN_NUMBER: N_("kommunenummeret gjaldt ikke i undersøkelsesåret"),
    R_UNKNOWN_NAME: N_("kommunenavnet finnes ikke i årets register"),
    R_AMBIGUOUS_NAME: N_("kommunenavnet passer på flere kommuner"),
    R_SPLIT: N_("kommunen ble delt, og etterfølgeren er uklar"),
    R_EMPTY: N_("ingen svar på spørsmålene"),
    R_DUPLICATE: N_("dobbel innsending for kommunen"),
    "municipality number zero-padded": N_("kommunenummer fylt ut med ledende null"),
    "municipality name matched approximately": N_("kommunenavn tilnærmet gjenkjent"),
    "municipality name variant matched": N_("variant av kommunenavn gjenkjent"),
    "name and number disagree (number kept)": N_("navn og nummer spriker (nummeret er brukt)"),
    "old name or code mapped to successor": N_("gammelt navn eller nummer ført til etterfølgeren"),
    "other": N_("annet"),
}


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


def stable_csv(df: pd.DataFrame, path: Path) -> None:
    """Write a CSV atomically (temporary file, then rename) with fixed float formatting."""
    tmp = path.with_name(f".{path.name}.tmp")
    df.to_csv(tmp, index=False, lineterminator="\n", float_format="%.10g")
    os.replace(tmp, path)


def load_processed(processed_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """Read the processed respondent table, cleaning log, item non-response and metadata."""

    processed_dir = Path(processed_dir)
    if not (processed_dir / RESPONDENTS_FILE).is_file():
        raise IngestError(
            f"{processed_dir / RESPONDENTS_FILE} not found; run the ingest step first: `make report` or notebooks/01_ingest.ipynb"
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
