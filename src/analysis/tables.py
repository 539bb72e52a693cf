"""Publication tables: estimates by size class, response, regression output.

Disclosure control: no published cell rests on fewer than ``MIN_CELL`` respondents; such
cells are suppressed (shown as ':' and left blank in the results file).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import config, estimates, published
from analysis.codebook import Codebook
from analysis.report import Results, fmt_ci, fmt_num, fmt_pct  # noqa: F401

MIN_CELL = 5
SUPPRESSED = ":"

#: Headline shares of the barometer (binary variables and derived 0/1 indicators).
HEADLINE_SHARES = (
    "barriere_endringsvilje",
    "etterutdanning_ikt",
    "evaluerer_effekt",
    "handlingsplan",
    "forventer_kvalitet",
    "forventer_forenkling",
    "prioritet_hoy",
)
EXTRA_LABELS = {
    "prioritet_hoy": {
        "nb": "Digitalisering prioriteres høyt eller svært høyt",
        "en": "Digitalisation has high or very high priority",
    },
    "suksess_topp2": {
        "nb": "Lykkes i stor eller svært stor grad med tilpassede digitale tjenester",
        "en": "Succeeds to a large or very large extent with tailored digital services",
    },
    "maturity": {"nb": "Digital modenhet (indeks 1-4)", "en": "Digital maturity (index 1-4)"},
    "change_resistance": {
        "nb": "Endringsmotstand (indeks 1-5)",
        "en": "Change resistance (index 1-5)",
    },
}
TEXT = {
    "variable": {"nb": "Indikator", "en": "Indicator"},
    "published": {"nb": "Publisert", "en": "Published"},
    "all": {"nb": "Alle", "en": "All"},
    "size_class": {"nb": "Størrelsesklasse", "en": "Size class"},
    "respondents": {"nb": "Svar (n)", "en": "Respondents (n)"},
    "municipalities": {"nb": "Kommuner i registeret (N)", "en": "Municipalities in register (N)"},
    "response_rate": {"nb": "Svarandel", "en": "Response rate"},
    "weight": {"nb": "Vekt N/n", "en": "Weight N/n"},
}


def var_label(codebook: Codebook, name: str, lang: str) -> str:
    """Label of a variable or derived indicator."""
    if name in EXTRA_LABELS:
        return EXTRA_LABELS[name][lang]
    return codebook.label(name, lang)


def group_labels(thresholds: config.SizeThresholds, lang: str) -> dict[str, str]:
    """Size-class labels plus 'all'."""
    return {**thresholds.labels(lang), "all": TEXT["all"][lang]}


def headline_estimates(
    d: pd.DataFrame, year: int, variables: tuple[str, ...] = HEADLINE_SHARES, weighted: bool = True
) -> pd.DataFrame:
    """Long table: variable x group with design-based share estimates and published values.

    ``d`` carries the design columns of :func:`analysis.weights.weight_year` (N_h, w).
    """
    frames = []
    for v in variables:
        if v not in d or d[v].notna().sum() == 0:
            continue
        t = estimates.by_size_class(d, v, share=True, weighted=weighted)
        t.insert(0, "variable", v)
        t["published"] = [published.published(v, year, g) for g in t["group"]]
        frames.append(t)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def suppress(long: pd.DataFrame) -> pd.DataFrame:
    """Blank estimates that rest on fewer than ``MIN_CELL`` respondents."""
    out = long.copy()
    small = out["n"] < MIN_CELL
    for c in ("estimate", "se", "ci_low", "ci_high"):
        out[c] = out[c].astype(float).where(~small)
    out.loc[small, "method"] = f"suppressed: fewer than {MIN_CELL} respondents"
    return out


def record(results: Results, section: str, long: pd.DataFrame) -> None:
    """Put a (suppressed) long table of estimates into the results file."""
    for v, g in suppress(long).groupby("variable", sort=False):
        results.add_frame(section, v, g)


def display_shares(
    long: pd.DataFrame, codebook: Codebook, thresholds: config.SizeThresholds, lang: str = "nb"
) -> pd.DataFrame:
    """Wide display table: one row per indicator, 'share [CI] (n)' per size class."""
    labels = group_labels(thresholds, lang)
    rows = []
    for v, g in suppress(long).groupby("variable", sort=False):
        row = {TEXT["variable"][lang]: var_label(codebook, v, lang)}
        for r in g.itertuples():
            row[labels[r.group]] = (
                SUPPRESSED
                if pd.isna(r.estimate)
                else f"{fmt_pct(r.estimate, 0, lang)} {fmt_ci(r.ci_low, r.ci_high, lang)} (n={r.n})"
            )
        pub = [
            f"{labels[r.group]}: {fmt_pct(r.published, 0, lang)}"
            for r in g.itertuples()
            if r.published is not None and not pd.isna(r.published)
        ]
        row[TEXT["published"][lang]] = "; ".join(pub) if pub else "–"
        rows.append(row)
    return pd.DataFrame(rows)


def display_response(
    resp_table: pd.DataFrame, thresholds: config.SizeThresholds, lang: str = "nb"
) -> pd.DataFrame:
    """Response by size class against the register, formatted."""
    labels = group_labels(thresholds, lang)
    t = resp_table.copy()
    total = pd.DataFrame(
        [
            {
                "size_class": "all",
                "respondents": t["respondents"].sum(),
                "municipalities": t["municipalities"].sum(),
            }
        ]
    )
    total["response_rate"] = total["respondents"] / total["municipalities"]
    t = pd.concat([t, total], ignore_index=True)
    return pd.DataFrame(
        {
            TEXT["size_class"][lang]: [labels[c] for c in t["size_class"]],
            TEXT["respondents"][lang]: t["respondents"].astype(int),
            TEXT["municipalities"][lang]: t["municipalities"].astype(int),
            TEXT["response_rate"][lang]: [fmt_pct(x, 0, lang) for x in t["response_rate"]],
            TEXT["weight"][lang]: [
                fmt_num(x, 2, lang) if pd.notna(x) else "–" for x in t.get("weight", [])
            ]
            + ["–"] * (len(t) - len(t.get("weight", []))),
        }
    )


def cell(est: float, lo: float, hi: float, lang: str, decimals: int = 2) -> str:
    """'est [lo; hi]' with the language's decimal mark."""
    if pd.isna(est):
        return "–"
    if pd.isna(lo) or pd.isna(hi):
        return "ikke identifisert" if lang == "nb" else "not identified"
    sep = "; " if lang == "nb" else ", "
    return f"{fmt_num(est, decimals, lang)} [{fmt_num(lo, decimals, lang)}{sep}{fmt_num(hi, decimals, lang)}]"


def display_model_grid(fits: dict, lang: str = "nb", odds: bool = True) -> pd.DataFrame:
    """Terms x models: odds ratios (or coefficients) with 95 % CIs; N and SE type in footer rows."""
    from analysis.models import term_label

    terms: list[str] = []
    for f in fits.values():
        terms += [t for t in f.coefficients["term"] if t not in terms]
    head = "Forklaringsvariabel" if lang == "nb" else "Term"
    rows = []
    for t in terms:
        row = {head: term_label(t, lang)}
        for name, f in fits.items():
            c = f.coefficients.set_index("term")
            if t not in c.index or (odds and t == "Intercept"):
                row[name] = (
                    "–"
                    if t not in c.index
                    else cell(c.loc[t, "coef"], c.loc[t, "ci_low"], c.loc[t, "ci_high"], lang, 3)
                )
                continue
            r = c.loc[t]
            if odds:
                row[name] = cell(np.exp(r["coef"]), np.exp(r["ci_low"]), np.exp(r["ci_high"]), lang)
            else:
                row[name] = cell(r["coef"], r["ci_low"], r["ci_high"], lang, 3)
        rows.append(row)
    rows.append({head: "N", **{k: str(f.n) for k, f in fits.items()}})
    rows.append(
        {
            head: "SE" if lang == "en" else "Standardfeil",
            **{
                k: (
                    "design (Taylor)"
                    if f.kind == "design"
                    else (
                        "klynge"
                        if "cluster" in f.method and lang == "nb"
                        else "cluster"
                        if "cluster" in f.method
                        else "HC1/robust"
                    )
                )
                for k, f in fits.items()
            },
        }
    )
    fit_row = {head: "AIC / pseudo-R²" if lang == "en" else "AIC / pseudo-R²"}
    for k, f in fits.items():
        st = f.stats
        fit_row[k] = (
            f"{fmt_num(st['aic'], 1, lang)} / {fmt_num(st.get('pseudo_r2_mcfadden', st.get('r2', float('nan'))), 3, lang)}"
            if "aic" in st
            else "–"
        )
    rows.append(fit_row)
    return pd.DataFrame(rows)


def display_ame(fits: dict, lang: str = "nb", scale: float = 100.0) -> pd.DataFrame:
    """Average marginal effects (percentage points for binary outcomes) of several fits."""
    from analysis.models import term_label

    head = "Forklaringsvariabel" if lang == "nb" else "Term"
    terms: list[str] = []
    for f in fits.values():
        if not f.ame.empty:
            terms += [t for t in f.ame["term"] if t not in terms]
    rows = []
    for t in terms:
        row = {head: term_label(t, lang)}
        for k, f in fits.items():
            a = f.ame.set_index("term") if not f.ame.empty else pd.DataFrame()
            row[k] = (
                cell(
                    scale * a.loc[t, "ame"],
                    scale * a.loc[t, "ci_low"],
                    scale * a.loc[t, "ci_high"],
                    lang,
                    1,
                )
                if t in a.index
                else "–"
            )
        rows.append(row)
    return pd.DataFrame(rows)


def to_html(df: pd.DataFrame, caption: str = "") -> str:
    """A plain, accessible HTML table (header cells scoped, optional caption)."""
    import html as _html

    head = "".join(f'<th scope="col">{_html.escape(str(c))}</th>' for c in df.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_html.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in df.itertuples(index=False)
    )
    cap = f"<caption>{_html.escape(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
