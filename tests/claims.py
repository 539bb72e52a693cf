"""The claims audit (issue 26): what the built pages *say* about the numbers, checked against
results.csv and the build's parameters. Used by ``test_claims.py`` on the demo site and by
``test_build.py`` on the build with other class limits (4 000 / 25 000).

:func:`audit` returns a list of contradictions (empty when every checked claim holds):

* every row of results.csv that belongs to a family carries the family's verdict (the rule
  recomputed from its adjusted p-value), and one number has one p_adj and one verdict in
  every section and site that publishes it;
* the summary's findings: each effect states its row's verdict in words, the outcomes a lead
  sentence names as "lower"/"higher" are exactly those with that verdict, the size-class
  finding's lead and verdict are those of its row in the descriptives page's family;
* the descriptives page's count of significant class differences is the family's;
* the change from the year before: the break note names the breaks of the codebook and the
  register, and the heading names the survey year compared with;
* class limits: the regression page labels the main model with the build's limits, the
  methods page states them.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pandas as pd

from analysis import config, findings, results, trends
from analysis.codebook import load_codebook
from analysis.i18n import Lang
from analysis.register import load_register

_ = Lang("nb")


def text(page: Path) -> str:
    """The visible text of a page (tags removed, entities resolved, spaces collapsed)."""
    raw = page.read_text(encoding="utf-8")
    raw = re.sub(r"<(style|details)\b.*?</\1>", " ", raw, flags=re.S)
    return re.sub(r"[ \t\r\n]+", " ", html.unescape(re.sub(r"<[^>]+>", " ", raw)))  # not NBSP


LEADS = ("Endringsmotstand.", "Størrelse.", "Endringsvilje som barriere.", "Størrelsesklasser.")


def _paragraph(t: str, lead: str) -> str:
    """One key finding: from its lead to the next finding's (or the figure after the last)."""
    i = t.find(lead)
    if i < 0:
        return ""
    ends = [t.find(x, i + len(lead)) for x in (*LEADS, "Tallene bak figuren")]
    return t[i : min([j for j in ends if j > 0] or [len(t)])]


def audit(
    reports: Path, medium: int, large: int, codebook: Path = config.CODEBOOK_PATH
) -> list[str]:
    book = load_codebook(codebook)
    reg = load_register(None)
    label = {v: book.label(v, "nb") for v in book.variables}
    label |= {v: book.label(v, "nb") for v in ("prioritet_hoy", "suksess_topp2")}
    years = sorted(int(p.name) for p in reports.iterdir() if p.name.isdigit())
    bad: list[str] = []
    frames = {}
    for site in [*map(str, years), *(["pooled"] if (reports / "pooled").is_dir() else [])]:
        rows = results.read_csv(reports / site / "results.csv")
        if "family" not in rows:  # a site from before issue 26: the verdicts its p-values imply
            rows["family"] = rows["p"].notna().map({True: "legacy", False: ""})
            rows["verdict"] = ""
            tested = rows["family"].ne("")
            rows.loc[tested, "verdict"] = findings.verdicts(rows[tested])
        frames[site] = rows
        member = rows[rows["family"].ne("")]
        expected = findings.verdicts(member)
        for r, want in zip(member.itertuples(), expected, strict=True):
            if r.verdict != want:
                bad.append(
                    f"{site}: {r.section}/{r.outcome}/{r.term}/{r.contrast}: {r.verdict} != {want}"
                )
    # one number, one verdict: the same test in two sections or sites
    allrows = pd.concat(frames.values(), ignore_index=True)
    tests = allrows[allrows["family"].ne("")]
    same = ["family", "outcome", "term", "contrast", "estimate"]
    for key, g in tests.groupby(same, dropna=False):
        if g["p_adj"].round(12).nunique(dropna=False) > 1 or g["verdict"].nunique() > 1:
            bad.append(f"one number, two verdicts: {key}: {sorted(set(g['verdict']))}")
    breaks = trends.series_breaks(book, reg, years)
    frame = trends.frame_breaks(reg, years)
    for y in years:
        rows = frames[str(y)]
        summary = text(reports / str(y) / "index.html")
        key = rows[rows["section"].eq("key findings")]
        for term, lead in (("cri_c", "Endringsmotstand."), ("ln_pop_c*log(2)", "Størrelse.")):
            para = _paragraph(summary, lead)
            prim = key[key["term"].eq(term)]
            if not para:
                bad.append(f"{y}: no {lead} finding")
                continue
            for r in prim.itertuples():
                clause = rf"«{re.escape(label[r.outcome])}» [^«»(]*\(([^)]*; n = [^)]*)\)"
                m = re.search(clause, para)
                words = findings.verdict_words(r.verdict, _, r.p)
                if m is None or words not in m.group(1).split("; "):
                    bad.append(
                        f"{y} {lead} «{r.outcome}»: expected «{words}» in {m and m.group(1)!r}"
                    )
            for direction, verdict in (("sjeldnere", "below"), ("oftere", "above")):
                m = re.search(rf"svarer {direction} ja på (.*?)\. ", para)
                named = set(re.findall(r"«([^»]+)»", m.group(1))) if m else set()
                want = {label[o] for o in prim.loc[prim["verdict"].eq(verdict), "outcome"]}
                if named != want:
                    bad.append(
                        f"{y} {lead} «svarer {direction}»: names {named}, verdicts say {want}"
                    )
        ict = key[key["contrast"].eq("large-small")]
        para = _paragraph(summary, "Størrelsesklasser.")
        if len(ict) and para:
            r = ict.iloc[0]
            lead = {"above": "har oftere", "below": "har sjeldnere"}.get(
                r.verdict, "Vi kan ikke skille"
            )
            words = findings.verdict_words(r.verdict, _, r.p)
            if lead not in para or not re.search(
                rf"forskjellen er [^(]*\([^)]*; {re.escape(words)}\)", para
            ):
                bad.append(
                    f"{y} size-class finding: expected «{lead}» and «{words}»: {para[:300]!r}"
                )
        descriptives = text(reports / str(y) / "beskrivende.html")
        diffs = rows[rows["section"].eq("class differences")]
        k = len(findings.significant(diffs))
        if (
            f"{len(diffs)} sammenligninger er testet. {k} av dem har justert p-verdi under 0,05"
            not in descriptives
        ):
            bad.append(
                f"{y} descriptives: the count of significant differences is not {k} of {len(diffs)}"
            )
        earlier = [p for p in years if p < y]
        if earlier:
            prev = earlier[-1]
            heading = "Endring fra året før" if prev == y - 1 else f"Endring fra {prev}"
            if heading not in summary:
                bad.append(f"{y}: no heading «{heading}»")
            change = rows[rows["section"].eq("change from last year")]
            flagged = [o for o in change["outcome"] if y in breaks.get(o, [])]
            if flagged:
                claim = f"| Seriebrudd i {y}: " + _.join([label[o] for o in flagged]) + "."
            else:
                claim = f"Ingen seriebrudd mellom {prev} og {y}."
            if claim not in summary:
                bad.append(f"{y}: expected the break note «{claim}»")
            if y in frame and f"Kommuneregisteret har {frame[y][2]} kommuner i {y}" not in summary:
                bad.append(f"{y}: the frame change {frame[y]} is not stated")
        limits = f"{_.num(medium, 0)} og {_.num(large, 0)}"
        regression = text(reports / str(y) / "regresjoner.html")
        if f"Grensene {limits} innbyggere er et valg" not in regression:
            bad.append(f"{y} regressions: the main model is not labelled with {limits}")
        model = rows[rows["model"].str.startswith("M1_classes_")]["model"].unique()
        if len(model) != 1 or model[0] == f"M1_classes_{medium}_{large}":
            bad.append(f"{y} regressions: the sensitivity model {model} repeats the build's limits")
        methods = text(reports / str(y) / "metode.html")
        if (
            f"små under {_.num(medium, 0)}, mellomstore {_.num(medium, 0)} til under {_.num(large, 0)}"
            not in methods
        ):
            bad.append(f"{y} methods: the class limits {medium}/{large} are not stated")
    return bad
