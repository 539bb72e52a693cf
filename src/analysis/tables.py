"""Publication tables: estimates by size class, response, regression output.

Disclosure control: no published cell rests on fewer than ``MIN_CELL`` respondents; such
cells are suppressed (shown as ':' and left blank in the results file).
"""

from __future__ import annotations

import pandas as pd

from analysis import config, estimates, published
from analysis.codebook import Codebook
from analysis.report import Results, fmt_ci, fmt_num, fmt_pct

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
    }
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
    d: pd.DataFrame, N_h: pd.Series, year: int, variables: tuple[str, ...] = HEADLINE_SHARES
) -> pd.DataFrame:
    """Long table: variable x group with design-based share estimates and published values."""
    frames = []
    for v in variables:
        if v not in d or d[v].notna().sum() == 0:
            continue
        t = estimates.by_size_class(d, v, N_h, share=True)
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


def display_coefficients(coef: pd.DataFrame, lang: str = "nb") -> pd.DataFrame:
    """Regression table: log-odds, odds ratio with CI, SE and p-value."""
    from analysis.models import TERM_LABELS

    h = {
        "nb": [
            "Forklaringsvariabel",
            "Koeffisient (log-odds)",
            "SE (HC1)",
            "Oddsforhold",
            "95 % KI for oddsforhold",
            "p-verdi",
        ],
        "en": [
            "Term",
            "Coefficient (log-odds)",
            "SE (HC1)",
            "Odds ratio",
            "95% CI of odds ratio",
            "p-value",
        ],
    }[lang]
    return pd.DataFrame(
        {
            h[0]: [TERM_LABELS.get(t, {}).get(lang, t) for t in coef["term"]],
            h[1]: [fmt_num(x, 3, lang) for x in coef["coef"]],
            h[2]: [fmt_num(x, 3, lang) for x in coef["se"]],
            h[3]: [fmt_num(x, 2, lang) for x in coef["odds_ratio"]],
            h[4]: [
                fmt_ci(lo, hi, lang, pct=False)
                for lo, hi in zip(coef["or_ci_low"], coef["or_ci_high"], strict=True)
            ],
            h[5]: [fmt_num(x, 3, lang) for x in coef["p_value"]],
        }
    )


def display_margins(ame: pd.DataFrame, lang: str = "nb") -> pd.DataFrame:
    """Average marginal effects (percentage points) with CI."""
    from analysis.models import TERM_LABELS

    h = {
        "nb": ["Forklaringsvariabel", "Gjennomsnittlig marginal effekt (prosentpoeng)", "95 % KI"],
        "en": ["Term", "Average marginal effect (percentage points)", "95% CI"],
    }[lang]
    return pd.DataFrame(
        {
            h[0]: [TERM_LABELS.get(t, {}).get(lang, t) for t in ame["term"]],
            h[1]: [fmt_num(100 * x, 1, lang) for x in ame["ame"]],
            h[2]: [
                f"[{fmt_num(100 * lo, 1, lang)}{'; ' if lang == 'nb' else ', '}{fmt_num(100 * hi, 1, lang)}]"
                for lo, hi in zip(ame["ci_low"], ame["ci_high"], strict=True)
            ],
        }
    )


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
