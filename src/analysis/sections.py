"""Report sections: each returns an HTML fragment (heading, prose, tables, figures).

Notebooks call these so that they stay thin; every number in the prose is computed from
the estimates, never typed, and every estimate shown is also recorded in the results file
with its method, n and N.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import config, derive, estimates, ingest, models, pipeline, plots, tables, trends
from analysis.codebook import Codebook, load_codebook
from analysis.register import load_register
from analysis.report import SYNTHETIC_NOTICE, Results, fmt_ci, fmt_num, fmt_pct
from analysis.weights import Weighting

NB, EN = "nb", "en"
T = {
    "title_year": {
        NB: "Kommunebarometeret {year}: digitalisering i kommunene",
        EN: "Municipal barometer {year}: digitalisation in the municipalities",
    },
    "title_pooled": {
        NB: "Kommunebarometeret {first}-{last}: utvikling og samlet analyse",
        EN: "Municipal barometer {first}-{last}: trends and pooled analysis",
    },
    "response": {NB: "Svar og vekting", EN: "Response and weighting"},
    "headline": {NB: "Hovedtall", EN: "Headline figures"},
    "descriptives": {
        NB: "Beskrivende tall etter kommunestørrelse",
        EN: "Descriptive estimates by municipality size",
    },
    "indices": {NB: "Indekser", EN: "Indices"},
    "regression": {
        NB: "Regresjoner: størrelse, endringsmotstand og digitalisering",
        EN: "Regressions: size, change resistance and digitalisation",
    },
    "trends": {NB: "Utvikling over år", EN: "Trends over the years"},
    "methods": {NB: "Metodevedlegg", EN: "Methods appendix"},
}
OUTCOMES = [  # (variable, family, label key)
    ("etterutdanning_ikt", "binomial"),
    ("evaluerer_effekt", "binomial"),
    ("suksess_topp2", "binomial"),
    ("maturity", "gaussian"),
]


def t(key: str, lang: str, **kw: object) -> str:
    """Translated text."""
    return T[key][lang].format(**kw)


def esc(s: object) -> str:
    """HTML-escape."""
    return html.escape(str(s))


def label(ctx_codebook: Codebook, name: str, lang: str) -> str:
    """Label of a variable, derived indicator or index."""
    return tables.var_label(ctx_codebook, name, lang)


def notice(synthetic: bool, lang: str) -> str:
    """The synthetic-data notice (empty for real deliveries)."""
    return (
        f'<p class="notice" role="note"><strong>{esc(SYNTHETIC_NOTICE[lang])}</strong></p>'
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
        f'<figure><img src="data:image/png;base64,{b64}" alt="{esc(alt)}">'
        f"<figcaption>{esc(caption)}</figcaption></figure>"
        f"<details><summary>{'Tallene bak figuren' if 'Søyle' in alt or 'Linje' in alt else 'Data'}</summary>"
        f"{tables.to_html(data)}</details>"
    )


@dataclass
class Context:
    """Everything a report needs: all years weighted, the focal year (if any), the results."""

    lang: str
    thresholds: config.SizeThresholds
    codebook: Codebook
    all_years: pd.DataFrame
    weighting: dict[int, Weighting]
    item_missing: pd.DataFrame
    meta: dict
    results: Results
    year: int | None = None
    cache: dict = field(default_factory=dict)

    @property
    def data(self) -> pd.DataFrame:
        """Respondents of the focal year."""
        return self.all_years[self.all_years["year"] == self.year]

    @property
    def years(self) -> list[int]:
        """Survey years in the data."""
        return sorted(int(y) for y in self.all_years["year"].unique())

    @property
    def synthetic(self) -> bool:
        """Whether the delivery is the synthetic demo."""
        return bool(self.meta.get("delivery", {}).get("synthetic", False))

    @property
    def N(self) -> int:
        """Municipalities in the register of the focal year."""
        return int(self.weighting[self.year].summary["N"])


def _add_outcomes(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out["suksess_topp2"] = (
        (out["suksess_tjenester"] >= 4).astype(float).where(out["suksess_tjenester"].notna())
    )
    return out


def prepare(
    processed_dir: str | Path,
    codebook_path: str | Path,
    register_snapshot: str | Path | None,
    medium: int,
    large: int,
    lang: str = NB,
    year: int | None = None,
) -> Context:
    """Load processed respondents, derive indices, weight every year and follow municipalities."""
    if lang not in (NB, EN):
        raise ValueError(f"lang must be 'nb' or 'en', not {lang!r}")
    thresholds = config.SizeThresholds(medium, large)
    resp, _, item_missing, meta = ingest.load_processed(config.resolve(processed_dir))
    if year is not None and year not in set(resp["year"]):
        raise ValueError(
            f"no respondents for {year} in {processed_dir}; years: {sorted(set(resp['year']))}"
        )
    reg = load_register(config.resolve(register_snapshot) if register_snapshot else None)
    allw, diag = pipeline.weighted_years(resp, reg, thresholds)
    allw = _add_outcomes(allw)
    cb = load_codebook(config.resolve(codebook_path))
    return Context(
        lang,
        thresholds,
        cb,
        allw,
        diag,
        item_missing,
        meta,
        Results(year if year is not None else "pooled"),
        year,
    )


# ---------------------------------------------------------------- yearly sections


def headline(ctx: Context, year: int | None = None) -> pd.DataFrame:
    """Headline share estimates of a year (cached)."""
    year = year or ctx.year
    key = ("headline", year)
    if key not in ctx.cache:
        d = ctx.all_years[ctx.all_years["year"] == year]
        ctx.cache[key] = tables.headline_estimates(d, year)
    return ctx.cache[key]


def yoy(ctx: Context, var: str) -> pd.Series | None:
    """Change in ``var`` from the previous survey year (design-based, overlap-aware)."""
    years = ctx.years
    if ctx.year not in years or years.index(ctx.year) == 0:
        return None
    prev = years[years.index(ctx.year) - 1]
    key = ("yoy", var, prev)
    if key not in ctx.cache:
        sub = ctx.all_years[ctx.all_years["year"].isin([prev, ctx.year])]
        if sub.loc[sub["year"] == prev, var].notna().sum() == 0:
            ctx.cache[key] = None
        else:
            _, ch = trends.year_over_year(sub, var, [prev, ctx.year])
            ctx.cache[key] = ch.iloc[0] if len(ch) else None
    return ctx.cache[key]


def title(ctx: Context) -> str:
    """Page title, synthetic notice and a summary computed from the estimates."""
    lang = ctx.lang
    long = headline(ctx)
    parts = [f"<h1>{esc(t('title_year', lang, year=ctx.year))}</h1>", notice(ctx.synthetic, lang)]
    b = long[(long["variable"] == "barriere_endringsvilje") & (long["group"] == "all")]
    e = tables.suppress(long[(long["variable"] == "etterutdanning_ikt") & (long["group"] != "all")])
    n = len(ctx.data)
    if lang == NB:
        s = f"{n} av {ctx.N} kommuner svarte i {ctx.year}."
        if len(b) and pd.notna(b["estimate"].iloc[0]):
            r = b.iloc[0]
            s += (
                f" Anslagsvis {fmt_pct(r.estimate, 0, lang)} av kommunene (95 % KI {fmt_ci(r.ci_low, r.ci_high, lang)}) "
                "oppgir manglende endringsvilje blant ansatte som en kritisk barriere."
            )
        if len(e) == 3 and e["estimate"].notna().all():
            vals = ", ".join(fmt_pct(x, 0, lang) for x in e["estimate"])
            s += f" Andelen med program for etter- og videreutdanning av IKT-ansatte er {vals} i små, mellomstore og store kommuner."
    else:
        s = f"{n} of {ctx.N} municipalities answered in {ctx.year}."
        if len(b) and pd.notna(b["estimate"].iloc[0]):
            r = b.iloc[0]
            s += (
                f" An estimated {fmt_pct(r.estimate, 0, lang)} of municipalities (95% CI {fmt_ci(r.ci_low, r.ci_high, lang)}) "
                "name employees' lack of willingness to change as a critical barrier."
            )
        if len(e) == 3 and e["estimate"].notna().all():
            vals = ", ".join(fmt_pct(x, 0, lang) for x in e["estimate"])
            s += f" The share with a further-education programme for ICT staff is {vals} in small, medium and large municipalities."
    parts.append(f"<p>{esc(s)}</p>")
    return "\n".join(parts)


def response(ctx: Context) -> str:
    """Response by size class against the register, and the weighting diagnostics."""
    lang = ctx.lang
    w = ctx.weighting[ctx.year]
    N_h = w.targets[w.targets["margin"] == "size_class"].set_index("level")["target"]
    rt = estimates.response_by_class(ctx.data, N_h)
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
    sm = w.summary
    for k in ("kish_n_eff", "kish_deff", "weight_min", "weight_max"):
        ctx.results.add("weighting", k, "all", sm[k], None, None, None, sm["n"], sm["N"], w.method)
    tg = w.targets.copy()
    hd = {
        NB: [
            "Margin",
            "Nivå",
            "Kommuner i registeret",
            "Svar",
            "Sum basisvekter",
            "Sum endelige vekter",
        ],
        EN: [
            "Margin",
            "Level",
            "Municipalities in register",
            "Respondents",
            "Sum of base weights",
            "Sum of final weights",
        ],
    }[lang]
    tg_disp = pd.DataFrame(
        {
            hd[0]: tg["margin"].map(
                {
                    "size_class": "størrelse" if lang == NB else "size",
                    "region": "landsdel" if lang == NB else "region",
                }
            ),
            hd[1]: [ctx.thresholds.labels(lang).get(x, x) for x in tg["level"]],
            hd[2]: tg["target"],
            hd[3]: tg["respondents"],
            hd[4]: [fmt_num(x, 1, lang) for x in tg["achieved_base"]],
            hd[5]: [fmt_num(x, 1, lang) for x in tg["achieved"]],
        }
    )
    deffs = {
        v: estimates.design_effect(ctx.data, v)
        for v in ("barriere_endringsvilje", "etterutdanning_ikt")
        if ctx.data[v].notna().any()
    }
    for v, de in deffs.items():
        ctx.results.add(
            "weighting",
            f"design effect {v}",
            "all",
            de,
            None,
            None,
            None,
            int(ctx.data[v].notna().sum()),
            ctx.N,
            "svy deff='wor' (Kish)",
        )
    if lang == NB:
        intro = (
            "Tabellen viser hvor mange kommuner i hver størrelsesklasse som svarte, mot antallet i SSBs "
            "kommuneregister 1. januar samme år. Store kommuner svarer oftere. Svarene vektes derfor: "
            "basisvekt N/n i hver størrelsesklasse, deretter raking til registerets antall kommuner etter "
            "størrelse og landsdel."
        )
        method_nb = (
            "raket til registerets antall kommuner etter størrelse og landsdel (svy)"
            if sm["raked_on_region"]
            else "poststratifisert etter størrelsesklasse (landsdel utelatt: for få svar i en landsdel)"
        )
        diag = (
            f"Vektmetode: {method_nb}. Vektene varierer fra {fmt_num(sm['weight_min'], 2, lang)} til "
            f"{fmt_num(sm['weight_max'], 2, lang)}. Kish effektivt utvalg: {fmt_num(sm['kish_n_eff'], 1, lang)} av "
            f"{sm['n']} (designeffekt av ulike vekter {fmt_num(sm['kish_deff'], 2, lang)}). Designeffekter (deff) for "
            + "; ".join(
                f"{label(ctx.codebook, v, lang).lower()}: {fmt_num(de, 2, lang)}"
                for v, de in deffs.items()
            )
            + "."
        )
    else:
        intro = (
            "Respondents per size class against the number of municipalities in SSB's register on 1 January "
            "of the year. Large municipalities answer more often, so answers are weighted: base weight N/n "
            "within size class, then raked to the register's counts by size class and region."
        )
        diag = (
            f"Weighting: {w.method}. Weights range from {fmt_num(sm['weight_min'], 2, lang)} to "
            f"{fmt_num(sm['weight_max'], 2, lang)}. Kish effective sample size {fmt_num(sm['kish_n_eff'], 1, lang)} of "
            f"{sm['n']} (design effect of unequal weights {fmt_num(sm['kish_deff'], 2, lang)}). Design effects for "
            + "; ".join(
                f"{label(ctx.codebook, v, lang).lower()}: {fmt_num(de, 2, lang)}"
                for v, de in deffs.items()
            )
            + "."
        )
    cap = "Vektingsmål: mål mot oppnådd" if lang == NB else "Weighting targets against achieved"
    return (
        f"<h2>{t('response', lang)}</h2><p>{esc(intro)}</p>"
        + tables.to_html(tables.display_response(rt, ctx.thresholds, lang))
        + f"<p>{esc(diag)}</p>"
        + tables.to_html(tg_disp, cap)
    )


def headline_section(ctx: Context) -> str:
    """Headline shares by size class with intervals, last year's value and published figures."""
    lang = ctx.lang
    long = headline(ctx)
    tables.record(ctx.results, "headline", long)
    disp = tables.display_shares(long, ctx.codebook, ctx.thresholds, lang)
    last_col = "Endring fra i fjor (alle)" if lang == NB else "Change from last year (all)"
    changes = []
    for v in long["variable"].unique():
        c = yoy(ctx, v)
        if c is None:
            changes.append("–")
            continue
        ctx.results.add(
            "headline",
            f"{v}: change {int(c['from'])}-{int(c['to'])}",
            "all",
            c["change"],
            c["se"],
            c["ci_low"],
            c["ci_high"],
            int(ctx.data[v].notna().sum()),
            ctx.N,
            "design-based contrast of two years; PSU = municipality (overlap-aware), with replacement",
        )
        sig = (
            ("kan skilles fra 0" if lang == NB else "distinguishable from 0")
            if c["ci_low"] > 0 or c["ci_high"] < 0
            else ("kan ikke skilles fra 0" if lang == NB else "not distinguishable from 0")
        )
        prev = headline(ctx, int(c["from"]))
        pv = prev[(prev["variable"] == v) & (prev["group"] == "all")]["estimate"]
        pv_txt = f"{int(c['from'])}: {fmt_pct(pv.iloc[0], 0, lang)}; " if len(pv) else ""
        changes.append(
            f"{pv_txt}{fmt_num(100 * c['change'], 0, lang)} p.p. {fmt_ci(c['ci_low'], c['ci_high'], lang)} ({sig})"
        )
    disp[last_col] = changes
    intro = (
        "Andeler med 95 % konfidensintervall (KI) og antall gyldige svar (n), vektet til registeret. "
        "'Vet ikke' og blanke svar er holdt utenfor. Celler med færre enn 5 svar vises ikke (':'). "
        "Endringen fra i fjor er en designbasert differanse der kommuner som svarte begge år, inngår med sin samvariasjon."
        if lang == NB
        else "Shares with 95% confidence intervals and the number of valid answers (n), weighted to the register. "
        "'Don't know' and blank answers are left out. Cells with fewer than 5 answers are suppressed (':'). "
        "The change from last year is a design-based difference that accounts for municipalities answering in both years."
    )
    out = [f"<h2>{t('headline', lang)}</h2><p>{esc(intro)}</p>", tables.to_html(disp)]
    if "etterutdanning_ikt" in set(long["variable"]):
        ttl = tables.var_label(ctx.codebook, "etterutdanning_ikt", lang)
        fig = plots.share_by_class_figure(long, "etterutdanning_ikt", ttl, ctx.thresholds, lang)
        sub = tables.suppress(
            long[(long["variable"] == "etterutdanning_ikt") & (long["group"] != "all")]
        )
        alt = (
            ("Søylediagram: " if lang == NB else "Bar chart: ")
            + ttl
            + ". "
            + "; ".join(
                f"{ctx.thresholds.labels(lang)[r.group]} {fmt_pct(r.estimate, 0, lang)} {fmt_ci(r.ci_low, r.ci_high, lang)}"
                for r in sub.itertuples()
            )
        )
        d = tables.display_shares(
            long[long["variable"] == "etterutdanning_ikt"], ctx.codebook, ctx.thresholds, lang
        )
        out.append(figure_html(fig, alt, ttl + (" (95 % KI)" if lang == NB else " (95% CI)"), d))
    return "\n".join(out)


def descriptives_section(ctx: Context) -> str:
    """All shares and means by size class, differences between classes (FDR), unweighted check."""
    lang = ctx.lang
    d = ctx.data
    binary = [
        v
        for v, var in ctx.codebook.variables.items()
        if var.type == "binary" and d[v].notna().any()
    ]
    binary += ["suksess_topp2", "prioritet_hoy"]
    means = [
        v
        for v, var in ctx.codebook.variables.items()
        if var.type in ("ordinal", "numeric") and d[v].notna().any()
    ]
    long_s = tables.headline_estimates(d, ctx.year, tuple(binary))
    tables.record(ctx.results, "descriptives", long_s)
    frames = []
    for v in means:
        m = estimates.by_size_class(d, v, share=False)
        m.insert(0, "variable", v)
        frames.append(m)
    long_m = pd.concat(frames, ignore_index=True)
    tables.record(ctx.results, "descriptives (means)", long_m)
    diffs = pd.concat(
        [estimates.class_differences(d, v) for v in binary + means], ignore_index=True
    )
    diffs["p_fdr"] = estimates.adjust_fdr(diffs["p_value"])
    for r in diffs.itertuples():
        ctx.results.add(
            "descriptives (differences)",
            f"{r.variable}: {r.comparison}",
            "all",
            r.difference,
            r.se,
            r.ci_low,
            r.ci_high,
            int(d[r.variable].notna().sum()),
            ctx.N,
            f"design-based contrast (svy), t on {r.df} df; p = {r.p_value:.4g}, BH-FDR adjusted p = {r.p_fdr:.4g} over {len(diffs)} comparisons",
        )
    lab = ctx.thresholds.labels(lang)
    cmp_name = {
        "large - small": (lab["large"], lab["small"]),
        "large - medium": (lab["large"], lab["medium"]),
        "medium - small": (lab["medium"], lab["small"]),
    }
    hd = {
        NB: ["Indikator", "Sammenligning", "Differanse [95 % KI]", "p", "p justert (FDR)"],
        EN: ["Indicator", "Comparison", "Difference [95% CI]", "p", "p adjusted (FDR)"],
    }[lang]
    shown = diffs[(diffs["p_fdr"] < 0.05) | (diffs["comparison"] == "large - small")]
    dd = pd.DataFrame(
        {
            hd[0]: [label(ctx.codebook, v, lang) for v in shown["variable"]],
            hd[1]: [f"{cmp_name[c][0]} - {cmp_name[c][1]}" for c in shown["comparison"]],
            hd[2]: [
                tables.cell(x, lo, hi, lang, 3)
                for x, lo, hi in zip(
                    shown["difference"], shown["ci_low"], shown["ci_high"], strict=True
                )
            ],
            hd[3]: [fmt_num(p, 4, lang) for p in shown["p_value"]],
            hd[4]: [fmt_num(p, 4, lang) for p in shown["p_fdr"]],
        }
    )
    mdisp = _display_means(long_m, ctx, lang)
    unw = []
    for v in binary:
        if not d[v].notna().any():
            continue
        w_ = estimates.by_size_class(d, v, share=True).set_index("group").loc["all"]
        u_ = estimates.by_size_class(d, v, share=True, weighted=False).set_index("group").loc["all"]
        ctx.results.add(
            "descriptives (unweighted)",
            v,
            "all",
            u_["estimate"],
            u_["se"],
            u_["ci_low"],
            u_["ci_high"],
            int(u_["n"]),
            None,
            u_["method"],
        )
        unw.append(
            {
                hd[0]: label(ctx.codebook, v, lang),
                (
                    "Vektet" if lang == NB else "Weighted"
                ): f"{fmt_pct(w_['estimate'], 1, lang)} {fmt_ci(w_['ci_low'], w_['ci_high'], lang)}",
                (
                    "Uvektet" if lang == NB else "Unweighted"
                ): f"{fmt_pct(u_['estimate'], 1, lang)} {fmt_ci(u_['ci_low'], u_['ci_high'], lang)}",
            }
        )
    if lang == NB:
        p1 = "Andeler (ja-svar) etter størrelsesklasse med 95 % KI og n:"
        p2 = (
            f"Forskjeller mellom størrelsesklasser: {len(diffs)} sammenligninger er testet (designbaserte kontraster); "
            f"p-verdiene er justert for multippel testing med Benjamini-Hochberg (falsk oppdagelsesrate 5 %). "
            f"{len(shown)} forskjeller er signifikante etter justering og vises her; alle står i results.csv."
        )
        p3 = "Gjennomsnitt (skalaer 1-4/1-5, IKT-andel i prosent) etter størrelsesklasse:"
        p4 = "Følsomhetsanalyse: vektede mot uvektede andeler (alle kommuner)."
    else:
        p1 = "Shares (yes answers) by size class with 95% CI and n:"
        p2 = (
            f"Differences between size classes: {len(diffs)} comparisons were tested (design-based contrasts); "
            f"p-values are adjusted for multiple testing with Benjamini-Hochberg (false discovery rate 5%). "
            f"{len(shown)} differences are significant after adjustment and shown here; all are in results.csv."
        )
        p3 = "Means (scales 1-4/1-5, ICT share in percent) by size class:"
        p4 = "Sensitivity: weighted against unweighted shares (all municipalities)."
    return (
        f"<h2>{t('descriptives', lang)}</h2><p>{esc(p1)}</p>"
        + tables.to_html(
            tables.display_shares(long_s, ctx.codebook, ctx.thresholds, lang).drop(
                columns=[tables.TEXT["published"][lang]]
            )
        )
        + f"<p>{esc(p3)}</p>"
        + tables.to_html(mdisp)
        + f"<p>{esc(p2)}</p>"
        + tables.to_html(dd)
        + f"<p>{esc(p4)}</p>"
        + tables.to_html(pd.DataFrame(unw))
    )


def _display_means(long_m: pd.DataFrame, ctx: Context, lang: str) -> pd.DataFrame:
    labels = tables.group_labels(ctx.thresholds, lang)
    rows = []
    for v, g in tables.suppress(long_m).groupby("variable", sort=False):
        row = {tables.TEXT["variable"][lang]: label(ctx.codebook, v, lang)}
        for r in g.itertuples():
            row[labels[r.group]] = (
                tables.SUPPRESSED
                if pd.isna(r.estimate)
                else f"{tables.cell(r.estimate, r.ci_low, r.ci_high, lang, 2)} (n={r.n})"
            )
        rows.append(row)
    return pd.DataFrame(rows)


def indices_section(ctx: Context) -> str:
    """The two indices: items, reliability, treatment of 'Vet ikke', means by size class."""
    lang = ctx.lang
    d = ctx.data
    rows = []
    for name, spec in derive.INDEX_DEFINITIONS.items():
        alpha, n_alpha = derive.cronbach_alpha(d, spec["items"])
        ctx.results.add(
            "indices",
            f"{name}: Cronbach's alpha",
            "all",
            alpha,
            None,
            None,
            None,
            n_alpha,
            None,
            "Cronbach's alpha on complete cases of the items (unweighted)",
        )
        m = estimates.by_size_class(d, name, share=False)
        m.insert(0, "variable", name)
        tables.record(ctx.results, "indices", m)
        allrow = m.set_index("group").loc["all"]
        rows.append(
            {
                ("Indeks" if lang == NB else "Index"): label(ctx.codebook, name, lang),
                ("Definisjon" if lang == NB else "Definition"): spec[lang],
                ("Spørsmål" if lang == NB else "Items"): "; ".join(
                    label(ctx.codebook, i, lang) for i in spec["items"]
                ),
                "Cronbach's alpha (n)": f"{fmt_num(alpha, 2, lang)} ({n_alpha})",
                (
                    "Gjennomsnitt alle [95 % KI]" if lang == NB else "Mean, all [95% CI]"
                ): tables.cell(allrow["estimate"], allrow["ci_low"], allrow["ci_high"], lang, 2),
            }
        )
    txt = (
        "'Vet ikke' og blanke svar regnes som manglende; indeksen er gjennomsnittet av besvarte spørsmål "
        "og mangler når for få er besvart. Reliabiliteten (Cronbachs alfa) beregnes på kommuner som har svart på alle."
        if lang == NB
        else "'Don't know' and blank answers count as missing; the index is the mean of the answered items and is "
        "missing when too few are answered. Reliability (Cronbach's alpha) uses municipalities that answered all items."
    )
    return f"<h2>{t('indices', lang)}</h2><p>{esc(txt)}</p>" + tables.to_html(pd.DataFrame(rows))


def _suite(ctx: Context, d: pd.DataFrame, pooled: bool) -> str:
    lang = ctx.lang
    out = []
    for outcome, family in OUTCOMES:
        if d[outcome].notna().sum() < 20:
            continue
        fits = {}
        for spec in ("M1", "M2", "M3", "M4"):
            fits[f"{spec} design"] = models.fit_design(d, outcome, spec, family, pooled=pooled)
        fits["M1 modell" if lang == NB else "M1 model"] = models.fit_model(
            d, outcome, "M1", family, pooled=pooled
        )
        for name, f in fits.items():
            for r in f.coefficients.itertuples():
                ctx.results.add(
                    "regression",
                    f"{outcome} {name}: {r.term}",
                    "all",
                    r.coef,
                    r.se,
                    r.ci_low,
                    r.ci_high,
                    f.n,
                    None if pooled else ctx.N,
                    f.method,
                )
            for r in f.ame.itertuples():
                ctx.results.add(
                    "regression (AME)",
                    f"{outcome} {name}: {r.term}",
                    "all",
                    r.ame,
                    r.se,
                    r.ci_low,
                    r.ci_high,
                    f.n,
                    None if pooled else ctx.N,
                    f.method + "; average marginal effect (delta method)",
                )
        odds = family == "binomial"
        what = (
            ("oddsforhold" if lang == NB else "odds ratios")
            if odds
            else ("koeffisienter" if lang == NB else "coefficients")
        )
        head = f"<h3>{esc(label(ctx.codebook, outcome, lang))}</h3>"
        desc = (
            f"{'Logistisk' if odds else 'Lineær'} regresjon; tabellen viser {what} med 95 % KI. "
            "«design» = surveyvektet (svy, Taylor-linearisering"
            + (
                ", PSU = kommune fulgt over reformene, årseffekter"
                if pooled
                else ", strata = størrelsesklasse, uten endelig populasjonskorreksjon fordi koeffisientene er modellparametre"
            )
            + "); «modell» = uvektet statsmodels med "
            + ("klyngerobuste SE per kommune" if pooled else "HC1-robuste SE")
            + ". Referanser: liten kommune, rådmann/kommunedirektør, Østlandet."
            if lang == NB
            else f"{'Logistic' if odds else 'Linear'} regression; the table shows {what} with 95% CIs. "
            "'design' = survey-weighted (svy, Taylor linearisation"
            + (
                ", PSU = municipality followed across reforms, year effects"
                if pooled
                else ", strata = size class, no finite-population correction since coefficients are model parameters"
            )
            + "); 'model' = unweighted statsmodels with "
            + ("cluster-robust SEs by municipality" if pooled else "HC1 robust SEs")
            + ". References: small municipality, chief executive, Eastern Norway."
        )
        ame = tables.display_ame(
            {k: v for k, v in fits.items() if k.startswith("M1")}, lang, 100.0 if odds else 1.0
        )
        m3 = fits["M3 design"].margins
        extra = ""
        if not m3.empty:
            labs = ctx.thresholds.labels(lang)
            pm = pd.DataFrame(
                {
                    ("Størrelsesklasse" if lang == NB else "Size class"): [
                        labs[c] for c in m3["size_class"]
                    ],
                    (
                        "Predikert andel [95 % KI] (M3 design)"
                        if lang == NB
                        else "Predicted share [95% CI] (M3 design)"
                    )
                    if odds
                    else (
                        "Predikert verdi [95 % KI] (M3 design)"
                        if lang == NB
                        else "Predicted value [95% CI] (M3 design)"
                    ): [
                        tables.cell(
                            100 * x if odds else x,
                            100 * lo if odds else lo,
                            100 * hi if odds else hi,
                            lang,
                            1 if odds else 2,
                        )
                        for x, lo, hi in zip(m3["margin"], m3["ci_low"], m3["ci_high"], strict=True)
                    ],
                }
            )
            for r in m3.itertuples():
                ctx.results.add(
                    "regression (predictive margins)",
                    f"{outcome} M3 design",
                    r.size_class,
                    r.margin,
                    r.se,
                    r.ci_low,
                    r.ci_high,
                    fits["M3 design"].n,
                    None if pooled else ctx.N,
                    fits["M3 design"].method + "; predictive margin by size class",
                )
            extra = tables.to_html(pm)
        ame_cap = (
            ("Gjennomsnittlige marginale effekter (M1)" + (", prosentpoeng" if odds else ""))
            if lang == NB
            else ("Average marginal effects (M1)" + (", percentage points" if odds else ""))
        )
        warn = [f"{k}: {w}" for k, f in fits.items() for w in f.stats.get("warnings", [])]
        if warn:
            desc += (" Merk: " if lang == NB else " Note: ") + " | ".join(warn)
        out.append(
            head
            + f"<p>{esc(desc)}</p>"
            + tables.to_html(tables.display_model_grid(fits, lang, odds))
            + tables.to_html(ame, ame_cap)
            + extra
        )
    # ordered logit for the 1-5 success item (model-based)
    if d["suksess_tjenester"].notna().sum() >= 20:
        of = models.fit_ordered(d, "suksess_tjenester", "M1", pooled=pooled)
        for r in of.coefficients.itertuples():
            ctx.results.add(
                "regression",
                f"suksess_tjenester ordered logit: {r.term}",
                "all",
                r.coef,
                r.se,
                r.ci_low,
                r.ci_high,
                of.n,
                None if pooled else ctx.N,
                of.method,
            )
        cuts = "; ".join(fmt_num(c, 2, lang) for c in of.stats["cut_points"])
        txt = (
            f"Ordnet logit for «{label(ctx.codebook, 'suksess_tjenester', lang)}» (1-5), uvektet, robuste SE; "
            f"koeffisienter på logit-skala. Terskelverdier: {cuts}. Den binære topp-to-modellen over er robusthetssjekken."
            if lang == NB
            else f"Ordered logit of '{label(ctx.codebook, 'suksess_tjenester', lang)}' (1-5), unweighted, robust SEs; "
            f"coefficients on the logit scale. Cut points: {cuts}. The binary top-two model above is the robustness check."
        )
        out.append(
            f"<h3>{esc(label(ctx.codebook, 'suksess_tjenester', lang))}</h3><p>{esc(txt)}</p>"
            + tables.to_html(tables.display_model_grid({"ordered logit": of}, lang, odds=False))
        )
    return "\n".join(out)


def regression_section(ctx: Context) -> str:
    """The regression suite of the focal year."""
    lang = ctx.lang
    intro = (
        "Modellene knytter kommunestørrelse (log innbyggertall eller størrelsesklasse) og endringsmotstand til "
        "hvert utfall. M1: log innbyggere + endringsmotstand; M2: + rolle og landsdel; M3: størrelsesklasse i stedet "
        "for log innbyggere; M4: + samspill størrelse x endringsmotstand. N er antall kommuner med fullstendige svar av "
        f"{ctx.N} i registeret."
        if lang == NB
        else "The models link municipality size (log population or size class) and change resistance to each outcome. "
        "M1: log population + change resistance; M2: + role and region; M3: size class instead of log population; "
        f"M4: + size x change-resistance interaction. N is the number of municipalities with complete answers of {ctx.N} in the register."
    )
    return f"<h2>{t('regression', lang)}</h2><p>{esc(intro)}</p>" + _suite(
        ctx, ctx.data, pooled=False
    )


def item_nonresponse_section(ctx: Context) -> str:
    """Item non-response of the year and codebook changes since last year."""
    lang = ctx.lang
    im = ctx.item_missing[ctx.item_missing["year"] == ctx.year]
    hd = {
        NB: ["Spørsmål", "Gyldige svar", "Vet ikke", "Blank"],
        EN: ["Question", "Valid", "Don't know", "Blank"],
    }[lang]
    imd = pd.DataFrame(
        {
            hd[0]: [label(ctx.codebook, v, lang) for v in im["variable"]],
            hd[1]: im["valid"],
            hd[2]: im["dont_know"],
            hd[3]: im["blank"],
        }
    )
    qt = ctx.codebook.question_table()
    prev = [y for y in ctx.years if y < ctx.year]
    changes = []
    if prev:
        p = prev[-1]
        a = qt[qt["year"] == p].set_index("variable")
        b = qt[qt["year"] == ctx.year].set_index("variable")
        for v in b.index:
            if v not in a.index:
                changes.append(
                    f"{label(ctx.codebook, v, lang)}: {'nytt spørsmål' if lang == NB else 'new question'}"
                )
                continue
            if a.loc[v, "question"] != b.loc[v, "question"]:
                changes.append(
                    f"{label(ctx.codebook, v, lang)}: {'ny ordlyd (seriebrudd)' if lang == NB else 'new wording (series break)'}: «{b.loc[v, 'question']}»"
                )
            elif a.loc[v, "column"] != b.loc[v, "column"]:
                changes.append(
                    f"{label(ctx.codebook, v, lang)}: {'nytt kolonnenavn' if lang == NB else 'renamed column'} «{a.loc[v, 'column']}» → «{b.loc[v, 'column']}»"
                )
        for v in a.index.difference(b.index):
            changes.append(
                f"{label(ctx.codebook, v, lang)}: {'ikke stilt i år' if lang == NB else 'not asked this year'}"
            )
    h = "Frafall på enkeltspørsmål" if lang == NB else "Item non-response"
    h2 = (
        f"Endringer i kodeboken siden {prev[-1]}"
        if prev and lang == NB
        else (f"Codebook changes since {prev[-1]}" if prev else "")
    )
    body = f"<h3>{h}</h3>" + tables.to_html(imd)
    if prev:
        body += (
            f"<h3>{esc(h2)}</h3><ul>" + "".join(f"<li>{esc(c)}</li>" for c in changes) + "</ul>"
            if changes
            else f"<h3>{esc(h2)}</h3><p>{'Ingen.' if lang == NB else 'None.'}</p>"
        )
    return body


def methods_section(ctx: Context) -> str:
    """How the numbers were made (generated from the run)."""
    lang = ctx.lang
    th = ctx.thresholds
    acc = ctx.meta.get("accounting", {}).get(str(ctx.year))
    if lang == NB:
        items = [
            f"Størrelsesklasser etter innbyggertall 1. januar {ctx.year} (SSB tabell 07459): små under {fmt_num(th.medium, 0, lang)}, "
            f"mellomstore {fmt_num(th.medium, 0, lang)}-{fmt_num(th.large - 1, 0, lang)}, store fra {fmt_num(th.large, 0, lang)}. "
            "Grensene er en antakelse (KOSTRA-lignende) og en parameter.",
            "Design: stratifisert etter størrelsesklasse med registerets antall kommuner som populasjon (endelig "
            "populasjonskorreksjon), basisvekt N/n, raking til antall kommuner etter størrelse og landsdel (svy). "
            "Standardfeil ved Taylor-linearisering der rakingvektene behandles som faste (litt konservativt).",
            "Andeler: KI på logit-skala med t-fordeling (som R survey::svyciprop); ved 0 % eller 100 % eksakt Clopper-Pearson. "
            "Enkeltspørsmål med manglende svar estimeres som domene (antatt tilfeldig frafall gitt vektene).",
            "Estimatene er kontrollert mot R-pakken survey (andeler, standardfeil, KI og surveyvektet logistisk regresjon) "
            "med minst 6 signifikante sifres samsvar i testene.",
            "Regresjoner: surveyvektede GLM (svy) og uvektede modeller (statsmodels, HC1) side om side; ordnet logit for 1-5-skalaen. Regresjonskoeffisienter er modellparametre, så de surveyvektede modellene brukes uten endelig populasjonskorreksjon (med den dekket 95 %-intervallene den sanne verdien bare i om lag 90 % av simulerte undersøkelser).",
            "Forskjeller mellom størrelsesklasser: designbaserte kontraster, p-verdier justert med Benjamini-Hochberg.",
            "Celler med færre enn 5 svar publiseres ikke.",
        ]
        if acc:
            items.insert(
                0,
                f"Radregnskap {ctx.year}: {acc['raw_rows']} rader i rådata, {acc['kept']} beholdt, "
                f"{acc['excluded']} utelatt ({acc['reasons']}).",
            )
    else:
        items = [
            f"Size classes by population on 1 January {ctx.year} (SSB table 07459): small below {fmt_num(th.medium, 0, lang)}, "
            f"medium {fmt_num(th.medium, 0, lang)}-{fmt_num(th.large - 1, 0, lang)}, large from {fmt_num(th.large, 0, lang)}. "
            "The thresholds are an assumption and a parameter.",
            "Design: stratified by size class with the register's municipality counts as population (finite-population "
            "correction), base weight N/n, raked to counts by size class and region (svy). Taylor-linearisation standard "
            "errors treat the raked weights as fixed (slightly conservative).",
            "Shares: logit-scale CIs with a t distribution (as R survey::svyciprop); exact Clopper-Pearson at 0% or 100%. "
            "Item non-response is handled as domain estimation (missing at random given the weights).",
            "The estimates are checked against R's survey package (shares, standard errors, CIs and a survey-weighted "
            "logistic regression) to at least 6 significant digits in the tests.",
            "Regressions: survey-weighted GLMs (svy) beside unweighted models (statsmodels, HC1); ordered logit for the 1-5 scale. Regression coefficients are model parameters, so the survey-weighted models use no finite-population correction (with it, 95% intervals covered the true value in only about 90% of simulated surveys).",
            "Differences between size classes: design-based contrasts, p-values adjusted by Benjamini-Hochberg.",
            "Cells with fewer than 5 answers are not published.",
        ]
        if acc:
            items.insert(
                0,
                f"Row accounting {ctx.year}: {acc['raw_rows']} raw rows, {acc['kept']} kept, "
                f"{acc['excluded']} excluded ({acc['reasons']}).",
            )
    return (
        f"<h2>{t('methods', lang)}</h2><ul>"
        + "".join(f"<li>{esc(i)}</li>" for i in items)
        + "</ul>"
        + item_nonresponse_section(ctx)
    )


# ---------------------------------------------------------------- pooled report


def pooled_title(ctx: Context) -> str:
    """Title and notice of the pooled report."""
    lang = ctx.lang
    n = len(ctx.all_years)
    m = ctx.all_years["panel_id"].nunique()
    s = (
        f"{n} svar fra {m} kommuner (fulgt over kommunereformene) i årene {ctx.years[0]}-{ctx.years[-1]}."
        if lang == NB
        else f"{n} answers from {m} municipalities (followed across the reforms) in {ctx.years[0]}-{ctx.years[-1]}."
    )
    return (
        f"<h1>{esc(t('title_pooled', lang, first=ctx.years[0], last=ctx.years[-1]))}</h1>"
        + notice(ctx.synthetic, lang)
        + f"<p>{esc(s)}</p>"
    )


def trends_section(ctx: Context) -> str:
    """Headline indicators per year with year-over-year changes; series breaks marked."""
    lang = ctx.lang
    breaks = ctx.codebook.series_breaks()
    rows, figdata = [], []
    for v in tables.HEADLINE_SHARES:
        if v not in ctx.all_years or ctx.all_years[v].notna().sum() == 0:
            continue
        est, ch = trends.year_over_year(ctx.all_years, v, ctx.years)
        for r in est.itertuples():
            ctx.results.add(
                "trends",
                v,
                str(r.year),
                r.estimate,
                r.se,
                r.ci_low,
                r.ci_high,
                int(r.n),
                None,
                "design-based (svy), PSU = municipality across reforms, yearly raked weights; t CI",
            )
            figdata.append(
                {
                    "variable": v,
                    "year": r.year,
                    "estimate": r.estimate,
                    "ci_low": r.ci_low,
                    "ci_high": r.ci_high,
                }
            )
        for r in ch.itertuples():
            ctx.results.add(
                "trends (change)",
                f"{v}: {r._2}-{r.to}",
                "all",
                r.change,
                r.se,
                r.ci_low,
                r.ci_high,
                int(r.in_both_years),
                None,
                f"design-based contrast; {r.in_both_years} municipalities in both years",
            )
            brk = r.to in breaks.get(v, [])
            rows.append(
                {
                    ("Indikator" if lang == NB else "Indicator"): label(ctx.codebook, v, lang),
                    ("Periode" if lang == NB else "Period"): f"{r._2}-{r.to}"
                    + (" *" if brk else ""),
                    (
                        "Endring, p.p. [95 % KI]" if lang == NB else "Change, p.p. [95% CI]"
                    ): tables.cell(100 * r.change, 100 * r.ci_low, 100 * r.ci_high, lang, 1),
                    "p": fmt_num(r.p_value, 3, lang),
                    (
                        "Kommuner begge år" if lang == NB else "Municipalities in both years"
                    ): r.in_both_years,
                }
            )
    fd = pd.DataFrame(figdata)
    fig = plots.trend_figure(
        fd, {v: label(ctx.codebook, v, lang) for v in fd["variable"].unique()}, lang
    )
    disp = pd.DataFrame(
        {
            ("Indikator" if lang == NB else "Indicator"): [
                label(ctx.codebook, v, lang) for v in fd["variable"]
            ],
            ("År" if lang == NB else "Year"): fd["year"],
            ("Andel [95 % KI]" if lang == NB else "Share [95% CI]"): [
                tables.cell(100 * a, 100 * b, 100 * c, lang, 1)
                for a, b, c in zip(fd["estimate"], fd["ci_low"], fd["ci_high"], strict=True)
            ],
        }
    )
    alt = (
        "Linjediagram over andeler per år for hovedindikatorene; tallene står i tabellen under figuren."
        if lang == NB
        else "Line chart of the headline shares per year; the numbers are in the table below the figure."
    )
    note = (
        "* seriebrudd: spørsmålets ordlyd ble endret dette året. Endringer er designbaserte differanser der samme "
        "kommune i to år er samme PSU, slik at samvariasjonen for kommuner som svarer begge år, er med."
        if lang == NB
        else "* series break: the question's wording changed that year. Changes are design-based differences in which the "
        "same municipality in two years is one PSU, so the covariance of municipalities answering in both years is included."
    )
    return (
        f"<h2>{t('trends', lang)}</h2>"
        + figure_html(fig, alt, t("trends", lang), disp)
        + tables.to_html(pd.DataFrame(rows))
        + f"<p>{esc(note)}</p>"
    )


def pooled_regression_section(ctx: Context) -> str:
    """The regression suite pooled over all years (year effects, clustered by municipality)."""
    lang = ctx.lang
    maps = ctx.all_years["panel_mapping"].value_counts()
    intro = (
        "Samlede modeller over alle år med årseffekter. Samme kommune svarer i flere år; standardfeilene er derfor "
        "klynget per kommune (fulgt over reformene: sammenslåtte kommuner følger etterfølgeren, delte kommuner den "
        f"største etterfølgeren). Kartlegging: {', '.join(f'{k}: {v}' for k, v in maps.items())}."
        if lang == NB
        else "Models pooled over all years with year effects. The same municipality answers in several years, so standard "
        "errors are clustered by municipality (followed across the reforms: merged municipalities follow their "
        f"successor, split ones the largest successor). Mapping: {', '.join(f'{k}: {v}' for k, v in maps.items())}."
    )
    return f"<h2>{t('regression', lang)}</h2><p>{esc(intro)}</p>" + _suite(
        ctx, ctx.all_years, pooled=True
    )


# ---------------------------------------------------------------- ingest report


REASONS_NB = {
    ingest.R_NO_MUNICIPALITY: "ingen kommune oppgitt",
    ingest.R_UNKNOWN_NUMBER: "kommunenummer ikke gyldig i undersøkelsesåret",
    ingest.R_UNKNOWN_NAME: "kommunenavn finnes ikke i årets register",
    ingest.R_AMBIGUOUS_NAME: "kommunenavn passer på flere kommuner",
    ingest.R_SPLIT: "kommunen ble delt: etterfølger uklar",
    ingest.R_EMPTY: "ingen svar på spørsmålene",
    ingest.R_DUPLICATE: "dobbelt innsending for kommunen",
    "municipality number zero-padded": "kommunenummer fylt ut med ledende null",
    "municipality name matched approximately": "kommunenavn tilnærmet gjenkjent",
    "municipality name variant matched": "variant av kommunenavn gjenkjent",
    "name and number disagree (number kept)": "navn og nummer spriker (nummer brukt)",
    "old name or code mapped to successor": "gammelt navn/nummer ført til etterfølger",
    "other": "annet",
}


def ingest_report(
    result: ingest.IngestResult, synthetic: bool, lang: str = NB, codebook: Codebook | None = None
) -> str:
    """Row accounting, exclusions and corrections (counts only), item non-response."""
    tr = (lambda x: REASONS_NB.get(x, x)) if lang == NB else (lambda x: x)  # noqa: E731
    acc = result.accounting()
    acc = acc.reindex(columns=["year", "raw_rows", "kept", "excluded"], fill_value=0)
    acc.columns = {
        NB: ["År", "Rader i rådata", "Beholdt", "Utelatt"],
        EN: ["Year", "Raw rows", "Kept", "Excluded"],
    }[lang]
    ex = ingest.exclusion_summary(result.log)
    ex = pd.DataFrame(
        {
            ("År" if lang == NB else "Year"): ex["year"],
            ("Årsak" if lang == NB else "Reason"): [tr(r) for r in ex["reason"]],
            ("Rader" if lang == NB else "Rows"): ex["rows"],
        }
    )
    co = ingest.correction_summary(result.log)
    co = pd.DataFrame(
        {
            ("År" if lang == NB else "Year"): co["year"],
            ("Korrigering" if lang == NB else "Correction"): [tr(r) for r in co["correction"]],
            ("Rader" if lang == NB else "Rows"): co["rows"],
        }
    )
    im = result.item_missing
    lab = (lambda v: tables.var_label(codebook, v, lang)) if codebook else (lambda v: v)  # noqa: E731
    im = pd.DataFrame(
        {
            ("År" if lang == NB else "Year"): im["year"],
            ("Spørsmål" if lang == NB else "Question"): [lab(v) for v in im["variable"]],
            ("Gyldige svar" if lang == NB else "Valid"): im["valid"],
            ("Vet ikke" if lang == NB else "Don't know"): im["dont_know"],
            ("Blank" if lang == NB else "Blank"): im["blank"],
        }
    )
    h1 = (
        "Innlesing og rensing av rådata" if lang == NB else "Ingest and cleaning of the raw exports"
    )
    intro = (
        "Hver rad i rådata er enten beholdt eller utelatt med en årsak; korrigeringer er logget. Tabellene viser "
        "bare antall. Den fullstendige renseloggen (med radnummer) ligger i data/processed og publiseres ikke."
        if lang == NB
        else "Every raw row is either kept or excluded with a reason; corrections are logged. The tables show counts "
        "only. The full cleaning log (with row numbers) stays in data/processed and is not published."
    )
    parts = [
        f"<h1>{h1}</h1>",
        notice(synthetic, lang),
        f"<p>{esc(intro)}</p>",
        "<h2>" + ("Radregnskap" if lang == NB else "Row accounting") + "</h2>",
        tables.to_html(acc),
        "<h2>"
        + ("Utelatte rader etter årsak" if lang == NB else "Excluded rows by reason")
        + "</h2>",
        tables.to_html(ex),
        "<h2>" + ("Korrigeringer" if lang == NB else "Corrections") + "</h2>",
        tables.to_html(co),
        "<h2>" + ("Frafall på spørsmål" if lang == NB else "Item non-response") + "</h2>",
        tables.to_html(im),
    ]
    if result.warnings:
        parts.append(
            "<h2>"
            + ("Advarsler" if lang == NB else "Warnings")
            + "</h2><ul>"
            + "".join(f"<li>{esc(w)}</li>" for w in result.warnings)
            + "</ul>"
        )
    return "\n".join(parts)


__all__ = ["Context", "prepare", "np"]
