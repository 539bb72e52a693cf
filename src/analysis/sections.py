"""Report sections: each returns an HTML fragment (heading, prose, tables, figures).

Notebooks call these so that they stay thin; every number in the prose is computed from
the estimates, never typed. Every estimate shown is also recorded in the results file.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis import config, derive, estimates, ingest, models, plots, tables
from analysis.codebook import Codebook, load_codebook
from analysis.register import load_register
from analysis.report import SYNTHETIC_NOTICE, Results, fmt_ci, fmt_num, fmt_pct

T = {
    "title_year": {
        "nb": "Kommunebarometeret {year}: digitalisering i kommunene",
        "en": "Municipal barometer {year}: digitalisation in the municipalities",
    },
    "response": {"nb": "Svar etter kommunestørrelse", "en": "Response by municipality size"},
    "headline": {"nb": "Hovedtall", "en": "Headline figures"},
    "regression": {
        "nb": "Regresjon: etterutdanning for IKT-ansatte",
        "en": "Regression: further education for ICT staff",
    },
    "methods": {"nb": "Metode", "en": "Methods"},
}


def t(key: str, lang: str, **kw: object) -> str:
    """Translated text."""
    return T[key][lang].format(**kw)


def notice(synthetic: bool, lang: str) -> str:
    """The synthetic-data notice (empty for real deliveries)."""
    return (
        f'<p class="notice" role="note"><strong>{html.escape(SYNTHETIC_NOTICE[lang])}</strong></p>'
        if synthetic
        else ""
    )


def figure_html(fig, alt: str, caption: str, data: pd.DataFrame) -> str:
    """Embed a matplotlib figure as PNG with alt text, caption and its data table."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    b64 = base64.b64encode(buf.getvalue()).decode()
    return (
        f'<figure><img src="data:image/png;base64,{b64}" alt="{html.escape(alt)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        f"<details><summary>Data</summary>{tables.to_html(data)}</details>"
    )


@dataclass
class YearContext:
    """Everything a year's report needs."""

    year: int
    lang: str
    thresholds: config.SizeThresholds
    codebook: Codebook
    data: pd.DataFrame
    N_h: pd.Series
    meta: dict
    results: Results
    cache: dict = field(default_factory=dict)

    @property
    def synthetic(self) -> bool:
        """Whether the delivery is the synthetic demo."""
        return bool(self.meta.get("delivery", {}).get("synthetic", False))


def prepare_year(
    year: int,
    processed_dir: str | Path,
    codebook_path: str | Path,
    register_snapshot: str | Path | None,
    medium: int,
    large: int,
    lang: str = "nb",
) -> YearContext:
    """Load the processed respondents of ``year`` with derived variables and register counts."""
    if lang not in ("nb", "en"):
        raise ValueError(f"lang must be 'nb' or 'en', not {lang!r}")
    thresholds = config.SizeThresholds(medium, large)
    resp, _, _, meta = ingest.load_processed(config.resolve(processed_dir))
    if year not in set(resp["year"]):
        raise ValueError(
            f"no respondents for {year} in {processed_dir}; years: {sorted(set(resp['year']))}"
        )
    reg = load_register(config.resolve(register_snapshot) if register_snapshot else None)
    d = derive.add_derived(resp[resp["year"] == year], thresholds)
    N_h = derive.frame_counts(reg.year(year), thresholds)
    cb = load_codebook(config.resolve(codebook_path))
    return YearContext(year, lang, thresholds, cb, d, N_h, meta, Results(year))


def title(ctx: YearContext) -> str:
    """Page title, synthetic notice and summary sentence computed from the estimates."""
    long = headline(ctx)
    lang = ctx.lang
    parts = [
        f"<h1>{html.escape(t('title_year', lang, year=ctx.year))}</h1>",
        notice(ctx.synthetic, lang),
    ]
    b = long[(long["variable"] == "barriere_endringsvilje") & (long["group"] == "all")]
    e = long[(long["variable"] == "etterutdanning_ikt") & (long["group"] != "all")]
    n = len(ctx.data)
    N = int(ctx.N_h.sum())
    if lang == "nb":
        s = f"{n} av {N} kommuner svarte i {ctx.year}."
        if len(b) and pd.notna(b["estimate"].iloc[0]):
            r = b.iloc[0]
            s += (
                f" Anslagsvis {fmt_pct(r.estimate, 0, lang)} av kommunene {fmt_ci(r.ci_low, r.ci_high, lang)} "
                "oppgir manglende endringsvilje blant ansatte som en kritisk barriere."
            )
        if len(e) == 3 and e["n"].min() >= tables.MIN_CELL:
            vals = ", ".join(fmt_pct(x, 0, lang) for x in e["estimate"])
            s += f" Andelen med program for etter- og videreutdanning av IKT-ansatte er {vals} i små, mellomstore og store kommuner."
    else:
        s = f"{n} of {N} municipalities answered in {ctx.year}."
        if len(b) and pd.notna(b["estimate"].iloc[0]):
            r = b.iloc[0]
            s += (
                f" An estimated {fmt_pct(r.estimate, 0, lang)} of municipalities {fmt_ci(r.ci_low, r.ci_high, lang)} "
                "name employees' lack of willingness to change as a critical barrier."
            )
        if len(e) == 3 and e["n"].min() >= tables.MIN_CELL:
            vals = ", ".join(fmt_pct(x, 0, lang) for x in e["estimate"])
            s += f" The share with a further-education programme for ICT staff is {vals} in small, medium and large municipalities."
    parts.append(f"<p>{html.escape(s)}</p>")
    return "\n".join(parts)


def response(ctx: YearContext) -> str:
    """Response by size class against the register."""
    rt = estimates.response_by_class(ctx.data, ctx.N_h)
    for r in rt.itertuples():
        ctx.results.add(
            "response",
            "respondents",
            r.size_class,
            float(r.respondents),
            None,
            None,
            None,
            int(r.respondents),
            int(r.municipalities),
            "count of respondents",
        )
    lang = ctx.lang
    intro = (
        "Tabellen viser hvor mange kommuner i hver størrelsesklasse som svarte, mot antallet i "
        "SSBs kommuneregister 1. januar samme år. Store kommuner svarer oftere; estimatene "
        "vektes derfor med N/n i hver klasse."
        if lang == "nb"
        else "Respondents per size class against the number of municipalities in SSB's register on "
        "1 January of the year. Large municipalities answer more often, so estimates are "
        "weighted by N/n within each class."
    )
    return f"<h2>{t('response', lang)}</h2><p>{html.escape(intro)}</p>" + tables.to_html(
        tables.display_response(rt, ctx.thresholds, lang)
    )


def headline(ctx: YearContext) -> pd.DataFrame:
    """Headline share estimates (cached)."""
    if "headline" not in ctx.cache:
        ctx.cache["headline"] = tables.headline_estimates(ctx.data, ctx.N_h, ctx.year)
    return ctx.cache["headline"]


def headline_section(ctx: YearContext) -> str:
    """Headline shares by size class with intervals, against published figures."""
    long = headline(ctx)
    tables.record(ctx.results, "headline", long)
    lang = ctx.lang
    intro = (
        "Andeler med 95 % konfidensintervall (KI) og antall gyldige svar (n). 'Vet ikke' og "
        "blanke svar er holdt utenfor. Celler med færre enn 5 svar vises ikke (':')."
        if lang == "nb"
        else "Shares with 95% confidence intervals and the number of valid answers (n). 'Don't know' "
        "and blank answers are left out. Cells with fewer than 5 answers are suppressed (':')."
    )
    out = [
        f"<h2>{t('headline', lang)}</h2><p>{html.escape(intro)}</p>",
        tables.to_html(tables.display_shares(long, ctx.codebook, ctx.thresholds, lang)),
    ]
    if "etterutdanning_ikt" in set(long["variable"]):
        ttl = tables.var_label(ctx.codebook, "etterutdanning_ikt", lang)
        fig = plots.share_by_class_figure(long, "etterutdanning_ikt", ttl, ctx.thresholds, lang)
        d = tables.display_shares(
            long[long["variable"] == "etterutdanning_ikt"], ctx.codebook, ctx.thresholds, lang
        )
        sub = tables.suppress(
            long[(long["variable"] == "etterutdanning_ikt") & (long["group"] != "all")]
        )
        alt = (
            ("Søylediagram: " if lang == "nb" else "Bar chart: ")
            + ttl
            + ". "
            + "; ".join(
                f"{ctx.thresholds.labels(lang)[r.group]} {fmt_pct(r.estimate, 0, lang)}"
                for r in sub.itertuples()
            )
        )
        out.append(figure_html(fig, alt, ttl + (" (95 % KI)" if lang == "nb" else " (95% CI)"), d))
    return "\n".join(out)


def regression_section(ctx: YearContext, outcome: str = "etterutdanning_ikt") -> str:
    """Logistic regression of an outcome on log population and change resistance."""
    lang = ctx.lang
    fit = models.fit_logit(ctx.data, outcome)
    for r in fit.coefficients.itertuples():
        ctx.results.add(
            "regression",
            f"{outcome}: coef {r.term}",
            "all",
            r.coef,
            r.se,
            r.ci_low,
            r.ci_high,
            fit.n,
            int(ctx.N_h.sum()),
            fit.method,
        )
    for r in fit.marginal_effects.itertuples():
        ctx.results.add(
            "regression",
            f"{outcome}: AME {r.term}",
            "all",
            r.ame,
            r.se,
            r.ci_low,
            r.ci_high,
            fit.n,
            int(ctx.N_h.sum()),
            fit.method + "; AME by delta method",
        )
    intro = (
        f"Logistisk regresjon av «{tables.var_label(ctx.codebook, outcome, lang)}» på log "
        f"innbyggertall og endringsmotstandsindeksen (gjennomsnitt av tre påstander, 1-5). "
        f"Robuste standardfeil (HC1), uvektet. N = {fit.n} kommuner med fullstendige svar av "
        f"{int(ctx.N_h.sum())} i registeret. McFadden pseudo-R² = {fmt_num(fit.fit['pseudo_r2_mcfadden'], 3, lang)}, "
        f"AIC = {fmt_num(fit.fit['aic'], 1, lang)}."
        if lang == "nb"
        else f"Logistic regression of '{tables.var_label(ctx.codebook, outcome, lang)}' on log "
        f"population and the change-resistance index (mean of three 1-5 items). Robust (HC1) "
        f"standard errors, unweighted. N = {fit.n} municipalities with complete answers of "
        f"{int(ctx.N_h.sum())} in the register. McFadden pseudo-R² = {fmt_num(fit.fit['pseudo_r2_mcfadden'], 3, lang)}, "
        f"AIC = {fmt_num(fit.fit['aic'], 1, lang)}."
    )
    return (
        f"<h2>{t('regression', lang)}</h2><p>{html.escape(intro)}</p>"
        + tables.to_html(tables.display_coefficients(fit.coefficients, lang))
        + tables.to_html(tables.display_margins(fit.marginal_effects, lang))
    )


def methods_section(ctx: YearContext) -> str:
    """How the numbers were made."""
    lang = ctx.lang
    th = ctx.thresholds
    if lang == "nb":
        items = [
            f"Størrelsesklasser etter innbyggertall 1. januar {ctx.year} (SSB tabell 07459): små under "
            f"{fmt_num(th.medium, 0, lang)}, mellomstore {fmt_num(th.medium, 0, lang)}-{fmt_num(th.large - 1, 0, lang)}, "
            f"store fra {fmt_num(th.large, 0, lang)}. Grensene er en antakelse (KOSTRA-lignende) og en parameter.",
            estimates.__doc__.split("\n\n")[1].replace("\n", " "),
            "Regresjonen er uvektet med robuste standardfeil (HC1, statsmodels).",
        ]
    else:
        items = [
            f"Size classes by population on 1 January {ctx.year} (SSB table 07459): small below "
            f"{fmt_num(th.medium, 0, lang)}, medium {fmt_num(th.medium, 0, lang)}-{fmt_num(th.large - 1, 0, lang)}, "
            f"large from {fmt_num(th.large, 0, lang)}. The thresholds are an assumption and a parameter.",
            estimates.__doc__.split("\n\n")[1].replace("\n", " "),
            "The regression is unweighted with robust (HC1) standard errors (statsmodels).",
        ]
    return (
        f"<h2>{t('methods', lang)}</h2><ul>"
        + "".join(f"<li>{html.escape(i)}</li>" for i in items)
        + "</ul>"
    )


# ---------------------------------------------------------------- ingest report


def ingest_report(result: ingest.IngestResult, synthetic: bool, lang: str = "nb") -> str:
    """Row accounting, exclusions and corrections (counts only), item non-response."""
    acc = result.accounting()
    acc = acc.reindex(columns=["year", "raw_rows", "kept", "excluded"], fill_value=0)
    hd = {
        "nb": ["År", "Rader i rådata", "Beholdt", "Utelatt"],
        "en": ["Year", "Raw rows", "Kept", "Excluded"],
    }[lang]
    acc.columns = hd
    ex = ingest.exclusion_summary(result.log)
    co = ingest.correction_summary(result.log)
    im = result.item_missing.copy()
    h1 = (
        "Innlesing og rensing av rådata"
        if lang == "nb"
        else "Ingest and cleaning of the raw exports"
    )
    parts = [
        f"<h1>{h1}</h1>",
        notice(synthetic, lang),
        "<h2>" + ("Radregnskap" if lang == "nb" else "Row accounting") + "</h2>",
        tables.to_html(acc),
        "<h2>"
        + ("Utelatte rader etter årsak" if lang == "nb" else "Excluded rows by reason")
        + "</h2>",
        tables.to_html(ex),
        "<h2>" + ("Korrigeringer" if lang == "nb" else "Corrections") + "</h2>",
        tables.to_html(co),
        "<h2>" + ("Frafall på spørsmål" if lang == "nb" else "Item non-response") + "</h2>",
        tables.to_html(im),
    ]
    if result.warnings:
        parts.append(
            "<h2>"
            + ("Advarsler" if lang == "nb" else "Warnings")
            + "</h2><ul>"
            + "".join(f"<li>{html.escape(w)}</li>" for w in result.warnings)
            + "</ul>"
        )
    return "\n".join(parts)
