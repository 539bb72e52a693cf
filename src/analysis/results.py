"""Published numbers as tidy rows in one schema, written to ``results.csv``.

Every computation a page shows is a DataFrame of rows in :data:`COLUMNS`. A notebook adds
its frames to a :class:`Results` and writes the file in its last cell. Rows are keyed by
:data:`KEY`, so running a cell again replaces its rows instead of appending them, and the
file is sorted by the key, so it does not depend on the order cells ran in. Ids (section,
outcome, model, term, group, contrast, scale, method) are language-neutral.

Disclosure control happens here, once, for every page and the file: a row whose ``n`` is
below :data:`MIN_CELL` is suppressed (estimate, SE, interval and p blanked, ``suppressed``
true). Rows derived from several cells (a difference between size classes, a margin)
carry the smallest ``n`` they rest on, so they are suppressed with their smallest cell.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

MIN_CELL = 5

#: column -> (type, description). The data dictionary of results.csv (docs and site).
COLUMNS: dict[str, tuple[str, str]] = {
    "year": ("str", "survey year, or 'pooled' for models over all years"),
    "section": (
        "str",
        "page section the number comes from (headline, descriptives, indices, regression, ...)",
    ),
    "outcome": ("str", "variable the number is about (codebook name or derived indicator)"),
    "model": (
        "str",
        "model id for regression rows (M1...M4, M1_unweighted, ordered_logit); empty otherwise",
    ),
    "term": (
        "str",
        "model term (ln_pop_c, cri_c, ln_pop_c:cri_c, size_class[large], ...) or statistic",
    ),
    "group": ("str", "size class (small, medium, large) or all; a year in trends"),
    "contrast": ("str", "what is compared (large-small, 2019-2018); empty for levels"),
    "estimate": ("float", "the estimate, in the unit given by scale"),
    "se": ("float", "standard error (same unit); empty where not defined"),
    "ci_low": ("float", "lower bound of the 95 % confidence interval"),
    "ci_high": ("float", "upper bound of the 95 % confidence interval"),
    "scale": (
        "str",
        "unit of estimate/se/ci: share (0-1), mean, count, log-odds, log-odds difference, odds ratio, coefficient, marginal effect (share), share difference, mean difference, predicted share, predicted mean, alpha, weight, ratio",
    ),
    "p": ("float", "p-value of the test that the estimate is 0 (differences, coefficients)"),
    "p_adj": (
        "float",
        "p-value adjusted for multiple testing over the row's family (the adjustment is named in method)",
    ),
    "family": (
        "str",
        "family of tests the row belongs to (primary, class-differences, year-over-year, proportional-odds, linearity; see analysis.findings), whose adjustment gives p_adj; empty outside every family",
    ),
    "verdict": (
        "str",
        "the family's verdict on the row: above or below (adjusted p < 0.05, by the sign against no effect), none (adjusted p >= 0.05), withheld (suppressed); empty outside every family. Every sentence on the pages states this verdict",
    ),
    "n": ("int", "respondents the number rests on (valid answers; smallest cell for contrasts)"),
    "N": ("int", "municipalities in the register (population) for the group; empty for models"),
    "method": ("str", "estimator, design and interval method"),
    "suppressed": (
        "bool",
        "true when the value is withheld (fewer than 5 respondents, or not identified)",
    ),
}
KEY = ["year", "section", "outcome", "model", "term", "group", "contrast"]
SCALES = {
    "share",
    "mean",
    "count",
    "log-odds",
    "log-odds difference",
    "odds ratio",
    "coefficient",
    "marginal effect",
    "marginal effect (share)",
    "share difference",
    "mean difference",
    "predicted share",
    "predicted mean",
    "alpha",
    "weight",
    "ratio",
}
_VALUES = ["estimate", "se", "ci_low", "ci_high", "p", "p_adj"]


def schema():  # -> pandera DataFrameSchema
    """pandera schema of the results rows."""
    import pandera.pandas as pa

    from analysis import findings

    cols = {}
    for c, (t, _) in COLUMNS.items():
        if c == "year":
            cols[c] = pa.Column(str, pa.Check.str_matches(r"^(\d{4}|pooled)$"))
        elif c == "scale":
            cols[c] = pa.Column(str, pa.Check.isin(sorted(SCALES)))
        elif t == "float":
            cols[c] = pa.Column(float, nullable=True)
        elif t == "int":
            cols[c] = pa.Column("Int64", pa.Check.ge(0), nullable=True)
        else:
            cols[c] = pa.Column(bool if t == "bool" else str)
    return pa.DataFrameSchema(
        cols,
        checks=[
            pa.Check(
                lambda df: ~df["suppressed"] | df["estimate"].isna(),
                error="a suppressed row shows an estimate",
            ),
            pa.Check(
                lambda df: (
                    df["suppressed"]
                    | df["estimate"].isna()
                    | df["se"].notna()
                    | df["scale"].isin(["count", "alpha", "weight", "ratio", "odds ratio"])
                ),
                error="an estimate without its standard error",
            ),
            pa.Check(
                lambda df: findings.rule_holds(df),
                error="a verdict that is not its family's rule (analysis.findings)",
            ),
        ],
        unique=KEY,
        strict=True,
        ordered=True,
    )


def tidy(frame: pd.DataFrame, **fixed: object) -> pd.DataFrame:
    """Rows of ``frame`` in the results schema: ``fixed`` values fill columns, missing ids
    become '', disclosure control applied (see module docstring)."""
    df = frame.reset_index(drop=True)
    for k, v in fixed.items():
        df[k] = v
    if "variable" in df and "outcome" not in df:
        df = df.rename(columns={"variable": "outcome"})
    for c in COLUMNS:
        if c not in df:
            df[c] = np.nan if c in _VALUES or c in ("n", "N") else ""
    df = df[list(COLUMNS)].copy()
    df["year"] = df["year"].astype(str)
    for c in ("section", "outcome", "model", "term", "group", "contrast", "method", "scale"):
        df[c] = df[c].fillna("").astype(str)
    for c in ("family", "verdict"):
        df[c] = df[c].fillna("").astype(str)
    for c in _VALUES:
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    for c in ("n", "N"):
        df[c] = pd.to_numeric(df[c], errors="coerce").round().astype("Int64")
    sup = df["suppressed"].replace("", False).fillna(False).astype(bool)
    if "identified" in frame:
        sup = sup | ~frame["identified"].fillna(True).astype(bool).to_numpy()
    small = df["n"].fillna(MIN_CELL).lt(MIN_CELL).to_numpy(dtype=bool)
    df["suppressed"] = sup | small
    df = _complementary(df)
    df.loc[df["suppressed"], _VALUES] = np.nan
    df.loc[df["suppressed"] & df["family"].ne(""), "verdict"] = "withheld"
    return df


def hidden_classes(n: dict[str, int], all_shown: bool = True) -> set[str]:
    """Size classes withheld for one quantity, from the respondents behind each class: those
    under :data:`MIN_CELL`, and where exactly one is withheld while 'all' is shown, the next
    smallest too (its share could be solved from 'all' and the others, as the classes' sizes
    are public). Differences between classes use the same set (see ``class_differences``)."""
    classes = ["small", "medium", "large"]
    hidden = {c for c in classes if c in n and n[c] < MIN_CELL}
    shown = {c: n[c] for c in classes if c in n and c not in hidden}
    if len(hidden) == 1 and shown and all_shown:
        hidden.add(min(shown, key=shown.get))
    return hidden


def _complementary(df: pd.DataFrame) -> pd.DataFrame:
    """Complementary suppression (:func:`hidden_classes`) within each quantity's class rows."""
    df = df.reset_index(drop=True)  # row labels are positions below
    keys = ["year", "section", "outcome", "model", "term", "contrast"]
    cells = df.loc[df["group"].isin(["small", "medium", "large", "all"]), [*keys, "group"]]
    quantities: dict[tuple, list] = {}
    for i, *key, group in cells.itertuples(name=None):
        quantities.setdefault(tuple(key), []).append((i, group))
    sup, n_col, hide = df["suppressed"].to_numpy(), df["n"].to_numpy(), []
    for rows in quantities.values():
        cls = [(i, g) for i, g in rows if g != "all"]
        n = {
            g: MIN_CELL - 1 if sup[i] else int(n_col[i]) if pd.notna(n_col[i]) else MIN_CELL
            for i, g in cls
        }
        hidden = hidden_classes(n, any(g == "all" and not sup[i] for i, g in rows))
        hide += [i for i, g in cls if g in hidden]
    df.loc[hide, "suppressed"] = True
    return df


class Results:
    """The published numbers of one notebook, keyed so that re-running a cell is harmless."""

    def __init__(self, year: int | str) -> None:
        self.year = str(year)
        self._rows: dict[tuple, dict] = {}

    def add(self, frame: pd.DataFrame, **fixed: object) -> pd.DataFrame:
        """Add (or replace) rows; returns them in the schema, suppression applied."""
        rows = tidy(frame, year=self.year, **fixed)
        for r in rows.to_dict("records"):
            self._rows[tuple(r[k] for k in KEY)] = r
        return rows

    def frame(self) -> pd.DataFrame:
        """All rows, sorted by the key, validated against :func:`schema`."""
        if not self._rows:
            return tidy(pd.DataFrame(columns=list(COLUMNS)))
        df = pd.DataFrame(list(self._rows.values()), columns=list(COLUMNS))
        df = tidy(df).sort_values(KEY, kind="stable").reset_index(drop=True)
        return schema().validate(df)

    def write(self, path: str | Path) -> Path:
        """Write the rows as CSV (UTF-8, fixed number format: byte-identical on rerun)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_csv(self.frame(), path)
        return path


def write_csv(df: pd.DataFrame, path: Path) -> None:
    """Results rows to CSV with 10 significant digits, atomically."""
    out = df.copy()
    for c in _VALUES:
        out[c] = [("" if pd.isna(v) else f"{float(v):.10g}") for v in out[c]]
    out["suppressed"] = out["suppressed"].map({True: "true", False: "false"})
    tmp = path.with_name(f".{path.name}.tmp")
    out.to_csv(tmp, index=False, lineterminator="\n")
    tmp.replace(path)


def read_csv(path: str | Path) -> pd.DataFrame:
    """Read a results file back into the schema's types."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df["suppressed"] = df["suppressed"].eq("true")
    for c in _VALUES:
        df[c] = pd.to_numeric(df[c].replace("", np.nan))
    for c in ("n", "N"):
        df[c] = pd.to_numeric(df[c].replace("", np.nan)).astype("Int64")
    return df


def dictionary() -> pd.DataFrame:
    """The data dictionary of results.csv."""
    return pd.DataFrame(
        [{"column": c, "type": t, "description": d} for c, (t, d) in COLUMNS.items()]
    )
