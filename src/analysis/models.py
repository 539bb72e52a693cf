"""Regression models written as formulas, fitted design-based (svy) or model-based (statsmodels).

The notebooks write every model as a formula string, for example
``"etterutdanning_ikt ~ ln_pop_c * cri_c"``; the same string fits

* :func:`svyglm`: a survey-weighted GLM with svy (R's ``svyglm``; variance from re-calibrated JKn
  replicate refits for one year, Taylor for pooled years), returned as a :class:`DesignFit`
  that keeps the svy fit and gives tidy coefficients, average marginal effects (total
  derivatives, so an interaction term is differentiated with its main effects) and predictions;
* statsmodels' formula API directly (``smf.logit(formula, d).fit(cov_type="HC1")``), turned
  into the same tidy rows by :func:`tidy_statsmodels`.

Formulas use patsy's syntax: ``a * b`` is ``a + b + a:b``; ``C(region, Treatment('Østlandet'))``
is a categorical term with its reference level; text columns are categorical with their first
level (sorted) as reference.

Term ids are language-neutral: ``Intercept``, ``ln_pop_c``, ``ln_pop_c:cri_c``,
``size_class[large]``. Coefficients that the data cannot identify (separation: svy gives no
standard error) are kept with ``identified = False`` and must not be published as numbers.
"""

from __future__ import annotations

import functools
import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis import replication, weights

#: Design-based variance for one survey year: strata = size class, calibrated weights, no FPC
#: (regression coefficients are model parameters; see docs/methods.md).
DESIGN_YEAR = "year"
#: Pooled over years: PSU = municipality followed across the reforms (``panel_id``).
DESIGN_POOLED = "pooled"
#: ``DesignFit.variance`` of a one-year fit whose jackknife replicates separate (see svyglm).
FALLBACK = "taylor, a jackknife replicate separates"
#: ... of a one-year fit that a jackknife replicate cannot fit at all (a sparse class: deleting
#: one of its few municipalities leaves a column without information), see svyglm.
UNFIT = "taylor, a jackknife replicate cannot be fitted"

_CAT = re.compile(
    r"^C\(\s*(\w+)\s*(?:,\s*Treatment\(\s*(?:reference\s*=\s*)?['\"]([^'\"]+)['\"]\s*\))?\s*\)$"
)


@dataclass
class Term:
    """One right-hand-side term: a column, a categorical column or an interaction."""

    factors: list[tuple[str, str | None, bool]]  # (column, reference level, categorical)


@functools.lru_cache(maxsize=512)
def _model_desc(formula: str) -> object:
    from patsy import ModelDesc

    return ModelDesc.from_formula(formula)


def parse_formula(formula: str, data: pd.DataFrame) -> tuple[str, list[Term], bool]:
    """Outcome, terms and whether there is an intercept (patsy's formula parser)."""
    desc = _model_desc(formula)
    if len(desc.lhs_termlist) != 1 or len(desc.lhs_termlist[0].factors) != 1:
        raise ValueError(f"formula {formula!r} needs exactly one outcome column")
    outcome = desc.lhs_termlist[0].factors[0].name()
    terms, intercept = [], False
    for t in desc.rhs_termlist:
        if not t.factors:
            intercept = True
            continue
        factors = []
        for f in t.factors:
            name = f.name()
            m = _CAT.match(name)
            if m:
                factors.append((m.group(1), m.group(2), True))
            elif name in data.columns:
                numeric = pd.api.types.is_numeric_dtype(data[name]) and not isinstance(
                    data[name].dtype, pd.CategoricalDtype
                )
                factors.append((name, None, not numeric))
            else:
                raise ValueError(f"formula {formula!r}: {name!r} is not a column of the data")
        terms.append(Term(factors))
    return outcome, terms, intercept


def term_id(name: str) -> str:
    """Language-neutral id of a coefficient name from svy or statsmodels."""
    if name in ("_intercept_", "Intercept", "const"):
        return "Intercept"
    parts = []
    for p in name.split(":"):
        m = re.match(r"^C\((\w+).*\)\[T\.(.+)\]$", p) or re.match(r"^(\w+)\[T\.(.+)\]$", p)
        parts.append(f"{m.group(1)}[{m.group(2)}]" if m else p)
    return ":".join(parts)


def _svy_term_id(name: str, cats: dict[str, list[str]]) -> str:
    parts = []
    for p in name.split(":"):
        for var, levels in cats.items():
            if p.startswith(var + "_") and p[len(var) + 1 :] in levels:
                p = f"{var}[{p[len(var) + 1 :]}]"
                break
        parts.append(p)
    return ":".join(parts)


@dataclass
class DesignFit:
    """A survey-weighted GLM fitted with svy, kept with what it was fitted on."""

    formula: str
    family: str
    design: str
    fit: object  # svy GLMFit: .to_polars(), .margins(), .predict(), .stats
    data: pd.DataFrame
    n: int
    warnings: list[str] = field(default_factory=list)
    categories: dict[str, list[str]] = field(default_factory=dict)
    variance: str = "jackknife"
    replicates: str = "delete one"  # how the jackknife replicates were made

    def __repr__(self) -> str:
        return (
            f"DesignFit({self.formula!r}, family={self.family!r}, design={self.design!r}, "
            f"variance={self.variance!r}, n={self.n})"
        )

    @property
    def method(self) -> str:
        """How the model was fitted, in one line (language-neutral id text)."""
        link = "logistic" if self.family == "binomial" else "linear"
        if self.variance == "jackknife":
            how = f"re-calibrated JKn replicates refitted ({self.replicates}, strata = size class, no FPC)"
        else:
            where = (
                "PSU = municipality across reforms, calibrated to each year's totals"
                if self.design == DESIGN_POOLED
                else "strata = size class, no FPC"
            )
            how = f"Taylor with calibration residuals; {where}"
            if self.variance == FALLBACK:
                how += "; a re-calibrated JKn replicate's fit separates, so no jackknife variance"
            if self.variance == UNFIT:
                how += "; a re-calibrated JKn replicate cannot be fitted, so no jackknife variance"
        return f"survey-weighted {link} regression (svy, {how})"

    def coefs(self) -> pd.DataFrame:
        """term, estimate, se, ci_low, ci_high, p, df, scale, identified."""
        t = self.fit.to_polars().to_pandas()
        out = pd.DataFrame(
            {
                "term": [_svy_term_id(term_id(x), self.categories) for x in t["term"]],
                "estimate": t["estimate"].astype(float),
                "se": t["std_err"].astype(float),
                "ci_low": t["conf_low"].astype(float),
                "ci_high": t["conf_high"].astype(float),
                "p": t["p_value"].astype(float),
                "df": t["df"].astype(float),
            }
        )
        out["scale"] = "log-odds" if self.family == "binomial" else "coefficient"
        out["identified"] = np.isfinite(out["se"]) & np.isfinite(out["estimate"])
        out["n"] = [self.term_n(t) for t in out["term"]]
        return out

    def term_n(self, term: str) -> int:
        """Respondents a coefficient rests on: for a category level, the smaller of that level
        and the reference level (a level's coefficient contrasts the two); the intercept rests
        on the reference levels; any other term on every respondent in the fit."""
        refs = self._refs()

        def count(var: str, level: str) -> int:
            return int((self._used[var] == level).sum())

        if term == "Intercept":
            counts = [count(v, ref) for v, ref in refs.items()]
        else:
            counts = []
            for part in term.split(":"):
                if "[" in part:
                    var, level = part.rstrip("]").split("[", 1)
                    counts += [count(var, level), count(var, refs[var])]
        return min(counts) if counts else self.n

    @functools.cached_property
    def _used(self) -> pd.DataFrame:
        """The rows of the fit, its columns as text (for counting levels)."""
        outcome, terms, _ = parse_formula(self.formula, self.data)
        cols = list(dict.fromkeys(c for t in terms for c, _, _ in t.factors))
        return self.data[[outcome, *cols]].dropna().astype(str)

    def _refs(self) -> dict[str, str]:
        """Reference level of each categorical column."""
        _, terms, _ = parse_formula(self.formula, self.data)
        cats = [(c, r) for t in terms for c, r, cat in t.factors if cat and c in self.categories]
        return {c: ref or self.categories[c][0] for c, ref in cats}

    def ame(self, variables: list[str] | None = None) -> pd.DataFrame:
        """Average marginal effects of numeric columns (svy ``margins``: the total derivative
        of the prediction, averaged with the weights; delta-method SE from the coefficients'
        covariance; p from the t distribution on the fit's degrees of freedom, as svy's
        intervals); ``identified`` is False where the SE is not finite."""
        terms = parse_formula(self.formula, self.data)[1]
        numeric = sorted({c for t in terms for c, _, cat in t.factors if not cat})
        rows = []
        for v in variables or numeric:
            for r in self.fit.margins(variables=[v]).to_polars().iter_rows(named=True):
                rows.append(
                    {
                        "term": r["term"],
                        "estimate": r["margin"],
                        "se": r["se"],
                        "ci_low": r["lci"],
                        "ci_high": r["uci"],
                    }
                )
        from scipy import stats

        out = pd.DataFrame(rows)
        df = float(self.coefs()["df"].iloc[0])  # the t quantile svy's intervals use
        out["p"] = 2 * stats.t.sf(np.abs(out["estimate"] / out["se"]), df)
        out["scale"] = "marginal effect (share)" if self.family == "binomial" else "marginal effect"
        # no finite SE: a coefficient it rests on is not identified (no covariance to use)
        out["identified"] = np.isfinite(out["se"]) & np.isfinite(out["estimate"])
        return out

    def margins(self, at: dict) -> pd.DataFrame:
        """Predictive margins at given values (svy ``margins(at=...)``); a tuple key is a grid."""
        t = self.fit.margins(at=at).to_polars().to_pandas()
        t = t.rename(columns={"margin": "estimate", "lci": "ci_low", "uci": "ci_high"})
        t["identified"] = np.isfinite(t["se"]) & np.isfinite(t["estimate"])
        return t.drop(columns=["term"])

    def predict(self, grid: pd.DataFrame) -> pd.DataFrame:
        """Predictions with 95 % intervals (on the link scale, transformed) at ``grid`` rows."""
        import polars as pl

        p = self.fit.predict(pl.from_pandas(grid)).to_polars().to_pandas()
        out = grid.reset_index(drop=True).copy()
        out["estimate"], out["se"] = p["yhat"], p["se"]
        out["ci_low"], out["ci_high"] = p["lci"], p["uci"]
        # no finite SE: it rests on a coefficient that is not identified (withheld, as they are)
        out["identified"] = np.isfinite(out["se"]) & np.isfinite(out["estimate"])
        return out


def svyglm(
    formula: str,
    data: pd.DataFrame,
    family: str = "binomial",
    design: str = DESIGN_YEAR,
    variance: str | None = None,
) -> DesignFit:
    """Fit ``formula`` survey-weighted with svy on the respondents ``data`` (weights ``w``).

    ``design``: :data:`DESIGN_YEAR` (strata = size class, no FPC) or :data:`DESIGN_POOLED`
    (PSU = ``panel_id``). The variance honours the calibration: ``variance`` "jackknife" (default
    for one year; refitted with each re-calibrated JKn replicate's weights, df = respondents less
    their classes less the slopes) or "taylor" (default and only choice for pooled years).
    Where a coefficient separates in a replicate refit (no jackknife variance for it or the
    marginal effects resting on it), the default refits with Taylor if that identifies more
    coefficients: ``variance`` is then :data:`FALLBACK` and the method says so. Where a
    replicate cannot be fitted at all (a class of a few municipalities, one deleted), the
    default refits with Taylor: ``variance`` is :data:`UNFIT`; terms resting on fewer than five
    respondents are withheld by the results' disclosure control as everywhere.
    Rows with a missing outcome or covariate leave the fit but stay in
    the design (domain estimation, as R's ``subset``). Warnings of separation or
    non-convergence are kept in ``DesignFit.warnings``.
    """
    import svy

    outcome, terms, intercept = parse_formula(formula, data)
    cols = list(dict.fromkeys(c for t in terms for c, _, _ in t.factors))
    psu = "panel_id" if design == DESIGN_POOLED else None
    keep = ["kommunenr", *weights.DESIGN_COLUMNS, *([psu] if psu else [])]
    d = data[list(dict.fromkeys([outcome, *cols, *keep]))].copy()
    cats: dict[str, list[str]] = {}
    complete = d[[outcome, *cols]].notna().all(axis=1)  # the rows the fit uses

    def feature(col: str, ref: str | None, cat: bool):
        if not cat:
            return col
        d[col] = d[col].map(lambda v: None if pd.isna(v) else str(v))
        levels = sorted(d.loc[complete, col].dropna().unique())
        cats[col] = levels
        return svy.Cat(col, ref=ref or levels[0])

    x = []
    for t in terms:
        fs = [feature(*f) for f in t.factors]
        x.append(fs[0] if len(fs) == 1 else _cross(fs))
    chosen = variance or ("taylor" if design == DESIGN_POOLED else "jackknife")
    if chosen not in ("jackknife", "taylor") or (design, chosen) == (DESIGN_POOLED, "jackknife"):
        raise ValueError(f"variance {chosen!r} is not available for the {design!r} design")

    def run(how: str):
        if how == "taylor":
            sample, extra = weights.design(d, [outcome, *cols], fpc=False, psu=psu), {}
        else:
            dof = int(complete.sum() - d.loc[complete, "size_class"].astype(str).nunique())
            sample, extra = replication.design(d, [outcome, *cols], dof), {"method": "replication"}
        extra.update(y=outcome, x=x, family=family, intercept=intercept, tol=1e-10)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit = sample.glm.fit(**extra)
        notes = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
        return fit, notes, int(fit.to_polars()["std_err"].is_nan().sum())

    try:
        fit, notes, missing = run(chosen)
    except svy.errors.ModelError as exc:  # a replicate with a column left without information
        if variance is not None or chosen != "jackknife" or exc.code != "REPLICATE_FIT_FAILED":
            raise
        (fit, notes, missing), chosen = run("taylor"), UNFIT
    if variance is None and chosen == "jackknife" and missing:  # see the docstring
        taylor = run("taylor")
        if taylor[2] < missing:
            (fit, notes, _), chosen = taylor, FALLBACK
    jk = chosen == "jackknife"
    unit = replication.describe(replication.replicates(d, fpc=False)[0]) if jk else ""
    return DesignFit(
        formula, family, design, fit, data, int(complete.sum()), notes, cats, chosen, unit
    )


def _cross(features: list):
    import svy

    out = features[0]
    for f in features[1:]:
        out = svy.Cross(out, f)
    return out


def tidy_statsmodels(res, scale: str | None = None) -> pd.DataFrame:
    """term, estimate, se, ci_low, ci_high, p, scale, identified of a statsmodels result."""
    ci = res.conf_int()
    names = list(res.params.index)
    out = pd.DataFrame(
        {
            "term": [term_id(n) for n in names],
            "estimate": res.params.to_numpy(dtype=float),
            "se": res.bse.to_numpy(dtype=float),
            "ci_low": np.asarray(ci)[:, 0].astype(float),
            "ci_high": np.asarray(ci)[:, 1].astype(float),
            "p": res.pvalues.to_numpy(dtype=float),
        }
    )
    if scale is None:
        scale = (
            "log-odds"
            if "Logit" in type(res.model).__name__ or "Ordered" in type(res.model).__name__
            else "coefficient"
        )
    out["scale"] = scale
    out["identified"] = np.isfinite(out["se"])
    return out


def statsmodels_method(res) -> str:
    """One-line description of a statsmodels fit (model and covariance type)."""
    model = type(res.model).__name__
    cov = getattr(res, "cov_type", "nonrobust")
    return f"unweighted {model} (statsmodels), {cov} standard errors"


def odds_ratios(coefs: pd.DataFrame) -> pd.DataFrame:
    """Log-odds rows as odds ratios (exp of estimate and interval; no intercept, no SE)."""
    c = coefs[(coefs["scale"] == "log-odds") & (coefs["term"] != "Intercept")].copy()
    for col in ("estimate", "ci_low", "ci_high"):
        c[col] = np.exp(c[col])
    c["se"] = np.nan
    c["scale"] = "odds ratio"
    return c


# the ordered logit and its check (analysis.ordinal), part of this module's API
from analysis.ordinal import OrderedFit, proportional_odds, svyolr  # noqa: E402

__all__ = ["DesignFit", "OrderedFit", "proportional_odds", "svyglm", "svyolr"]
