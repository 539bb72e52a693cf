"""Publication tables: tidy result rows -> formatted DataFrames and pandas Stylers.

Each function takes rows in the results schema (:mod:`analysis.results`) and a
:class:`analysis.i18n.Lang` and returns a table a reader can inspect: one unit per column,
stated in its header; estimate, interval and n in separate columns; numbers formatted by
Babel in the report's locale; suppressed cells shown as ":" (the SSB symbol).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd

from analysis import config
from analysis.codebook import Codebook
from analysis.i18n import N_, Lang, decimals_for

TABLE_TEMPLATES = Path(__file__).parent / "templates" / "table"
SUPPRESSED = ":"
BREAK = "|"

#: Category levels from the data shown in model terms (regions, roles): translated for display.
LEVELS = {
    "Østlandet": N_("Østlandet"),
    "Sørlandet": N_("Sørlandet"),
    "Vestlandet": N_("Vestlandet"),
    "Trøndelag": N_("Trøndelag"),
    "Nord-Norge": N_("Nord-Norge"),
    "Rådmann/kommunedirektør": N_("Rådmann/kommunedirektør"),
    "IKT-leder": N_("IKT-leder"),
    "Annen leder": N_("Annen leder"),
}

#: How a scale is shown: (kind, default decimals). kind: pct, pp or num.
SHOW = {
    "share": ("pct", 0),
    "predicted share": ("pct", 0),
    "share difference": ("pp", 0),
    "marginal effect (share)": ("pp", 1),
    "mean": ("num", 2),
    "predicted mean": ("num", 2),
    "mean difference": ("num", 2),
    "marginal effect": ("num", 2),
    "coefficient": ("num", 2),
    "log-odds": ("num", 2),
    "odds ratio": ("num", 2),
    "alpha": ("num", 2),
    "weight": ("num", 2),
    "ratio": ("num", 2),
    "count": ("num", 0),
}


def var_label(codebook: Codebook, name: str, _: Lang) -> str:
    """The codebook's label of a variable or derived indicator in the report language."""
    return codebook.label(name, _.lang)


def group_labels(thresholds: config.SizeThresholds, _: Lang) -> dict[str, str]:
    """Labels of the size classes (with their thresholds) and of 'all'."""
    m, lg = _.num(thresholds.medium, 0), _.num(thresholds.large, 0)
    return {
        "small": _("Små (under {medium})", medium=m),
        "medium": _(
            "Mellomstore ({medium}–{large})", medium=m, large=_.num(thresholds.large - 1, 0)
        ),
        "large": _("Store ({large} og flere)", large=lg),
        "all": _("Alle kommuner"),
    }


def term_label(term: str, _: Lang, short: bool = False) -> str:
    """Readable label of a model term id (``ln_pop_c``, ``size_class[large]``, ``a:b``)."""
    fixed = {
        "Intercept": _("Konstantledd"),
        "ln_pop_c": _("Størrelse (log innbyggertall)")
        if short
        else _("Størrelse: log innbyggertall (0 = 10 000)"),
        "cri_c": _("Endringsmotstand")
        if short
        else _("Endringsmotstand (indeks, 0 = midtpunktet 3)"),
        "barriere_endringsvilje": _("Manglende endringsvilje som kritisk barriere (ja)"),
        "ln_pop_nl": _("Størrelse: ikke-lineært spline-ledd"),
    }
    if term in fixed:
        return fixed[term]
    if ":" in term:
        return " × ".join(term_label(t, _, short=True) for t in term.split(":"))
    if "[" in term:
        var, level = term.rstrip("]").split("[", 1)
        names = {
            "size_class": _("Størrelsesklasse"),
            "rolle": _("Rolle"),
            "region": _("Landsdel"),
            "year": _("År"),
        }
        level = {"medium": _("mellomstor"), "large": _("stor"), "small": _("liten")}.get(
            level, level
        )
        return f"{names.get(var, var)}: {level}"
    return term


def unit_header(scale: str, _: Lang) -> str:
    """Column header of an estimate on ``scale`` (the unit is stated once, here)."""
    kind = SHOW.get(scale, ("num", 2))[0]
    return {
        "pct": _("Andel, %"),
        "pp": _("Prosentpoeng"),
    }.get(kind, _("Estimat"))


def value(x: float, scale: str, _: Lang, se: float | None = None) -> str:
    """One estimate in its unit, to the precision its standard error supports."""
    if x is None or pd.isna(x):
        return SUPPRESSED
    kind, dec = SHOW.get(scale, ("num", 2))
    if se is not None and not pd.isna(se) and se > 0:
        dec = decimals_for(se, 100 if kind in ("pct", "pp") else 1, most=3)
    shown = 100 * x if kind in ("pct", "pp") else x
    return _.num(round(shown, dec) + 0.0, dec)  # + 0.0: no "-0"


def interval(lo: float, hi: float, scale: str, _: Lang, se: float | None = None) -> str:
    """'[lo; hi]' in the same unit and precision as :func:`value` (no unit sign: the header has it)."""
    if lo is None or hi is None or pd.isna(lo) or pd.isna(hi):
        return SUPPRESSED
    return _.bracket(value(lo, scale, _, se), value(hi, scale, _, se))


@lru_cache(maxsize=1)
def _styler() -> type:
    from pandas.io.formats.style import Styler

    return Styler.from_custom_template(str(TABLE_TEMPLATES), html_table="barometer_table.tpl")


def style(df: pd.DataFrame, name: str, caption: str = "", hide_index: bool = False):
    """A pandas Styler with a stable id (byte-identical pages) and an optional caption; row
    labels are the index (row headers, left-aligned), numbers right-aligned, and columns of text
    (any letters) left-aligned and wrapping (class ``txt``). The table template
    (``templates/table``) scopes header cells and leaves no empty header cell."""
    one_row = df.index.nlevels == df.columns.nlevels == 1 and df.index.name and not df.columns.name
    if one_row:  # the row labels' name goes in the corner: one header row, not two
        df = df.rename_axis(columns=df.index.name)
    st = _styler()(df).set_uuid(name).format(escape="html")  # text such as '<role>' shows as is
    st = st.format_index(escape="html", axis=0).format_index(escape="html", axis=1)
    words = [
        c
        for c in df.columns
        if df[c].map(lambda v: isinstance(v, str) and any(ch.isalpha() for ch in v)).any()
    ]
    if words and df.index.is_unique and df.columns.is_unique:  # text columns: left, wrapping
        classes = pd.DataFrame("", index=df.index, columns=df.columns)
        classes[words] = "txt"
        st = st.set_td_classes(classes)
    if one_row:
        st = st.hide(names=True, axis="index")
    if caption:
        st = st.set_caption(caption)
    if hide_index:
        st = st.hide(axis="index")
    return st


def _cell_columns(r, _: Lang) -> tuple[str, str]:
    if r.suppressed:
        return SUPPRESSED, SUPPRESSED
    return value(r.estimate, r.scale, _, r.se), interval(r.ci_low, r.ci_high, r.scale, _, r.se)


def by_group(
    rows: pd.DataFrame,
    codebook: Codebook,
    thresholds: config.SizeThresholds,
    _: Lang,
    groups: tuple[str, ...] = ("small", "medium", "large", "all"),
) -> pd.DataFrame:
    """Indicators x size classes: estimate, 95 % interval and n under each class (spanners)."""
    labels = group_labels(thresholds, _)
    data: dict[tuple[str, str], list[str]] = {}
    index = []
    for outcome, g in rows.groupby("outcome", sort=False):
        index.append(var_label(codebook, outcome, _))
        g = g.set_index("group")
        unit = unit_header(g["scale"].iloc[0], _)
        for grp in groups:
            if grp not in g.index:
                est, ci, n = "–", "–", "–"
            else:
                r = g.loc[grp]
                est, ci = _cell_columns(r, _)
                n = _.num(int(r.n), 0) if pd.notna(r.n) else "–"
            data.setdefault(
                (labels[grp], unit if len({*rows["scale"]}) == 1 else _("Estimat")), []
            ).append(est)
            data.setdefault((labels[grp], _("95 % KI")), []).append(ci)
            data.setdefault((labels[grp], "n"), []).append(n)
    out = pd.DataFrame(data, index=pd.Index(index, name=_("Indikator")))
    out.columns = pd.MultiIndex.from_tuples(out.columns)
    return out


def year_grid(levels: pd.DataFrame, _: Lang) -> pd.DataFrame:
    """Indicators (``label``) x years: estimate and 95 % interval per cell, '–' where a year
    did not ask; the data behind the small multiples of the trends and the landing page."""
    cells = [
        f"{value(r.estimate, r.scale, _, r.se)} {interval(r.ci_low, r.ci_high, r.scale, _, r.se)}"
        for r in levels.itertuples()
    ]
    grid = levels.assign(cell=cells).pivot(index="label", columns="year", values="cell")
    return grid.rename_axis(index=_("Indikator"), columns=_("Andel, % [95 % KI]")).fillna("–")


def p_value(p: float, _: Lang) -> str:
    """A p-value with three decimals; below 0.001 as '< 0,001' (never '0,000')."""
    return "< " + _.num(0.001, 3) if p < 0.001 else _.num(p, 3)


def long_table(
    rows: pd.DataFrame, columns: dict[str, str], _: Lang, adjusted: str | None = None
) -> pd.DataFrame:
    """Rows with estimate, interval, p values and n formatted; ``columns`` maps id columns of
    ``rows`` to their (translated) headers and become the index. The adjusted p-values are
    headed by their family's adjustment (``adjusted``: another header), and rows of a family
    show its verdict (:mod:`analysis.findings`), as every sentence about them does."""
    from analysis import findings

    out = rows[list(columns)].rename(columns=columns)
    unit = unit_header(rows["scale"].iloc[0], _) if rows["scale"].nunique() == 1 else _("Estimat")
    cells = [_cell_columns(r, _) for r in rows.itertuples()]
    out[unit] = [c[0] for c in cells]
    out[_("95 % KI")] = [c[1] for c in cells]
    if rows["p"].notna().any():
        out["p"] = [SUPPRESSED if r.suppressed else p_value(r.p, _) for r in rows.itertuples()]
    fams = set(rows["family"]) - {""} if "family" in rows else set()
    if rows["p_adj"].notna().any():
        how = (
            findings.ADJUSTMENTS[findings.FAMILIES[fams.pop()].adjustment] if len(fams) == 1 else ""
        )
        short = {"Benjamini-Hochberg": "BH"}.get(how, how)
        out[adjusted or (_("p justert ({how})", how=short) if short else _("p justert"))] = [
            SUPPRESSED if r.suppressed else p_value(r.p_adj, _) for r in rows.itertuples()
        ]
    if "verdict" in rows and rows["verdict"].ne("").any():
        out[_("Konklusjon")] = [
            findings.verdict_words(r.verdict, _, r.p) if r.verdict else ""
            for r in rows.itertuples()
        ]
    out["n"] = [_.num(int(v), 0) if pd.notna(v) else "–" for v in rows["n"]]
    return out.set_index(list(columns.values()))


def model_grid(fits: dict[str, pd.DataFrame], term_labels: dict[str, str], _: Lang) -> pd.DataFrame:
    """Terms x models: estimate and 95 % interval per model (spanners). ``fits`` maps a model
    id to its tidy coefficient rows (all on one scale, e.g. odds ratios)."""
    terms: list[str] = []
    for f in fits.values():
        terms += [t for t in f["term"] if t not in terms]
    data: dict[tuple[str, str], list[str]] = {}
    for model, f in fits.items():
        f = f.set_index("term")
        unit = unit_header(f["scale"].iloc[0], _) if len(f) else ""
        head = {"odds ratio": _("Oddsforhold"), "coefficient": _("Koeffisient")}.get(
            f["scale"].iloc[0] if len(f) else "", unit
        )
        for t in terms:
            identified = (
                bool(f.loc[t, "identified"]) if t in f.index and "identified" in f else True
            )
            if t not in f.index:
                est, ci = "–", "–"
            elif not identified:
                est, ci = _("ikke identifisert"), "–"
            else:
                r = f.loc[t]
                est = value(r["estimate"], r["scale"], _)
                ci = interval(r["ci_low"], r["ci_high"], r["scale"], _)
            data.setdefault((model, head), []).append(est)
            data.setdefault((model, _("95 % KI")), []).append(ci)
    out = pd.DataFrame(
        data, index=pd.Index([term_labels.get(t, t) for t in terms], name=_("Forklaringsvariabel"))
    )
    out.columns = pd.MultiIndex.from_tuples(out.columns)
    return out


def counts(
    df: pd.DataFrame, index: dict[str, str], columns: dict[str, str], _: Lang
) -> pd.DataFrame:
    """A table of counts: ``index``/``columns`` map id columns to headers; numbers formatted."""
    out = df[[*index, *columns]].rename(columns={**index, **columns}).rename_axis(columns=None)
    for c in columns.values():
        out[c] = [_.num(v, 0) if pd.notna(v) else "–" for v in out[c]]
    return out.set_index(list(index.values())) if index else out
