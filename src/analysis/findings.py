"""Claims about the numbers: one rule per family of tests, declared once.

A *family* is the set of tests that one part of the barometer makes at once (the year's six
primary effects, the pairwise differences between size classes, the changes from the survey
year before, ...). Each family has one multiple-testing adjustment and one verdict rule,
declared here (:data:`FAMILIES`). :func:`adjust` computes the adjusted p-values and stores the
family and the verdict with the rows (the ``family`` and ``verdict`` columns of results.csv);
every sentence, table and figure that states a verdict reads it from the rows
(:func:`verdict_words`), so a number has one verdict wherever it appears. The results schema
checks that each stored verdict is the rule's (:func:`rule_holds`); the methods page and the
glossary print :func:`family_table`.

Verdicts: ``above`` and ``below`` (adjusted p below :data:`ALPHA`, by the sign of the
estimate against its null value), ``none`` (adjusted p at or above it), ``withheld`` (the row
is suppressed). Rows outside every family have an empty family and verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.i18n import N_

#: Significance level of every family's verdict (on the adjusted p-value)
ALPHA = 0.05
VERDICTS = ("above", "below", "none", "withheld")
ADJUSTMENTS = {"holm": "Holm", "fdr_bh": "Benjamini-Hochberg"}


@dataclass(frozen=True)
class Family:
    """A family of tests: its adjustment (a statsmodels ``multipletests`` method), what it
    holds and where it is shown (message ids, in Bokmål)."""

    id: str
    adjustment: str
    holds: str
    shown: str


FAMILIES: dict[str, Family] = {
    f.id: f
    for f in (
        Family(
            "primary",
            "holm",
            N_(
                "årets seks primære sammenhenger: gjennomsnittlig marginal effekt i M1 av "
                "endringsmotstand og av en dobling av innbyggertallet på tre utfall"
            ),
            N_("sammendraget (hovedfunn, figur og tabell)"),
        ),
        Family(
            "class-differences",
            "fdr_bh",
            N_("alle parvise forskjeller mellom størrelsesklassene i årets beskrivende tall"),
            N_("sammendraget (funnet om størrelsesklasser) og siden med beskrivende tall"),
        ),
        Family(
            "year-over-year",
            "fdr_bh",
            N_("endringene i hovedindikatorene fra forrige undersøkelsesår til året"),
            N_("sammendraget (endring fra året før) og siden om utvikling over år"),
        ),
        Family(
            "proportional-odds",
            "holm",
            N_("testene av proporsjonale odds i den ordnede logiten: alle trinn og variabler"),
            N_("regresjonssiden"),
        ),
        Family(
            "linearity",
            "holm",
            N_("det ikke-lineære splineleddet for innbyggertall, ett per utfall"),
            N_("regresjonssiden"),
        ),
    )
}


def null_value(scale: str) -> float:
    """The value that means "no effect" on a scale (1 for odds ratios, else 0)."""
    return 1.0 if scale == "odds ratio" else 0.0


def verdicts(rows: pd.DataFrame) -> pd.Series:
    """The rule's verdict for each row of a family (from p_adj, estimate, scale, suppressed)."""
    null = rows["scale"].map(null_value) if "scale" in rows else 0.0
    sig = rows["p_adj"].lt(ALPHA)
    out = np.where(
        sig & rows["estimate"].gt(null),
        "above",
        np.where(sig & rows["estimate"].lt(null), "below", "none"),
    )
    out = pd.Series(out, index=rows.index, dtype=object)
    if "suppressed" in rows:
        out[rows["suppressed"].astype(bool)] = "withheld"
    out[rows["p_adj"].isna() & out.ne("withheld")] = "withheld"
    return out


def adjust(rows: pd.DataFrame, family: str) -> pd.DataFrame:
    """The rows of one family (each with its unadjusted ``p``) with ``p_adj`` over the family,
    ``family``, ``verdict``, and the adjustment and rule added to ``method``."""
    from statsmodels.stats.multitest import multipletests

    fam = FAMILIES[family]
    out = rows.copy()
    tested = out["p"].notna()
    out["p_adj"] = np.nan
    if tested.any():
        out.loc[tested, "p_adj"] = multipletests(out.loc[tested, "p"], method=fam.adjustment)[1]
    out["family"] = family
    out["verdict"] = verdicts(out)
    rule = (
        f"; p adjusted by {ADJUSTMENTS[fam.adjustment]} over the {int(tested.sum())} tests of "
        f"the family '{family}'; verdict: adjusted p < {ALPHA}"
    )
    out["method"] = out["method"].astype(str) + rule
    return out


def rule_holds(rows: pd.DataFrame) -> pd.Series:
    """Whether each row's stored verdict is the rule's (rows outside a family: no verdict)."""
    member = rows["family"].ne("")
    expected = pd.Series("", index=rows.index, dtype=object)
    if member.any():
        expected[member] = verdicts(rows[member])
    return rows["verdict"].eq(expected) & (~member | rows["family"].isin(list(FAMILIES)))


def significant(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows whose verdict is a difference from the null value."""
    return rows[rows["verdict"].isin(["above", "below"])]


def verdict_words(verdict: str, _, p: float | None = None) -> str:
    """The words of a verdict in the report language (``_``: an :class:`analysis.i18n.Lang`);
    ``p``, the unadjusted p-value: a difference that only the adjustment takes away says so."""
    if verdict == "none" and p is not None and p < ALPHA:
        return _("kan ikke skilles fra null etter justering for flere tester")
    words = {
        "above": N_("klart over null"),
        "below": N_("klart under null"),
        "none": N_("kan ikke skilles fra null"),
        "withheld": N_("for få svar til å publisere"),
    }
    return _(words[verdict])


def family_table(_) -> pd.DataFrame:
    """Every family with its adjustment, verdict rule and where it is shown (report language)."""
    rule = _(
        "«klart over/under null» når justert p er under {alpha}; ellers «kan ikke skilles "
        "fra null»",
        alpha=_.num(ALPHA, 2),
    )
    return pd.DataFrame(
        [
            {
                _("Familie"): _(f.holds),
                _("Justering"): ADJUSTMENTS[f.adjustment],
                _("Regel"): rule,
                _("Vises"): _(f.shown),
            }
            for f in FAMILIES.values()
        ]
    )
