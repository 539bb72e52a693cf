"""Regression suite linking municipality size and change resistance to outcomes.

* Design-based (survey-weighted) fits with svy: logistic (binary outcomes and the top-two
  split of the ordinal success item) and linear (maturity index) GLMs on the stratified
  design with raked weights, without the finite-population correction: a regression
  coefficient is an analytic (model) parameter, not a finite-population quantity, and with
  sampling fractions of 20-45 % the FPC would understate its uncertainty (measured by
  ``scripts/coverage_simulation.py``: 95 % intervals with FPC covered the true change-
  resistance slope in only 89-91 % of 300 simulated surveys) (pooled: weights of each year, PSU = municipality
  followed across the reforms, so standard errors are clustered by municipality).
* Model-based fits with statsmodels beside them: Logit / OLS with HC1 robust standard
  errors (pooled: clustered by municipality) and the ordered logit (``OrderedModel``) for
  the 1-5 success item.
* Average marginal effects and predictive margins by size class (svy ``margins``;
  statsmodels ``get_margeff``), all with delta-method standard errors.

Specifications (``SPECS``): M1 log population + change resistance; M2 adds controls
(respondent role, region); M3 size class instead of log population; M4 adds the size x
change-resistance interaction. Pooled models add year effects.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

REFS = {"size_class": "small", "rolle": "Rådmann/kommunedirektør", "region": "Østlandet"}

#: spec -> list of (column, is_categorical)
SPECS: dict[str, list[tuple[str, bool]]] = {
    "M1": [("ln_pop_c", False), ("cri_c", False)],
    "M2": [("ln_pop_c", False), ("cri_c", False), ("rolle", True), ("region", True)],
    "M3": [("size_class", True), ("cri_c", False)],
    "M4": [("ln_pop_c", False), ("cri_c", False), ("ln_pop_x_cri", False)],
}
SPEC_LABELS = {
    "M1": {
        "nb": "M1: log innbyggere + endringsmotstand",
        "en": "M1: log population + change resistance",
    },
    "M2": {"nb": "M2: M1 + rolle og landsdel", "en": "M2: M1 + role and region"},
    "M3": {
        "nb": "M3: størrelsesklasse + endringsmotstand",
        "en": "M3: size class + change resistance",
    },
    "M4": {"nb": "M4: M1 + samspill", "en": "M4: M1 + interaction"},
}
TERM_LABELS = {
    "Intercept": {"nb": "Konstantledd", "en": "Intercept"},
    "ln_pop_c": {"nb": "ln(innbyggere) - ln(10 000)", "en": "ln(population) - ln(10,000)"},
    "cri_c": {"nb": "Endringsmotstand (indeks - 3)", "en": "Change resistance (index - 3)"},
    "ln_pop_x_cri": {
        "nb": "Samspill størrelse x endringsmotstand",
        "en": "Size x change resistance",
    },
    "size_class[medium]": {"nb": "Mellomstor (ref. liten)", "en": "Medium (ref. small)"},
    "size_class[large]": {"nb": "Stor (ref. liten)", "en": "Large (ref. small)"},
}


def term_label(term: str, lang: str) -> str:
    """Readable label of a model term (categorical levels as 'variable: level (ref. ...)')."""
    if term in TERM_LABELS:
        return TERM_LABELS[term][lang]
    if "[" in term:
        var, level = term.rstrip("]").split("[", 1)
        names = {
            "rolle": {"nb": "rolle", "en": "role"},
            "region": {"nb": "landsdel", "en": "region"},
            "year": {"nb": "år", "en": "year"},
        }
        ref = REFS.get(var, "første år" if lang == "nb" else "first year")
        return f"{names.get(var, {}).get(lang, var)}: {level} (ref. {ref})"
    return term


@dataclass
class Fit:
    """One fitted model in a uniform shape for tables and the results file."""

    outcome: str
    spec: str
    kind: str  # "design" or "model"
    family: str
    method: str
    n: int
    coefficients: pd.DataFrame  # term, coef, se, ci_low, ci_high, p_value, df
    ame: pd.DataFrame = field(default_factory=pd.DataFrame)  # term, ame, se, ci_low, ci_high
    margins: pd.DataFrame = field(default_factory=pd.DataFrame)  # size_class, margin, se, ci
    stats: dict = field(default_factory=dict)


def prepare(
    df: pd.DataFrame, outcome: str, spec: str, extra: list[str] | None = None, complete: bool = True
) -> pd.DataFrame:
    """The outcome, the spec's columns and design columns; complete cases if ``complete``.

    Design-based fits keep every respondent (``complete=False``): svy drops incomplete rows
    from the fit but keeps them in the design (domain estimation, as R's ``subset``).
    """
    d = df.copy()
    d["ln_pop_x_cri"] = d["ln_pop_c"] * d["cri_c"]
    cols = [c for c, _ in SPECS[spec]] + (extra or [])
    design = [c for c in ("kommunenr", "size_class", "N_h", "w", "panel_id", "year") if c in d]
    d = d[list(dict.fromkeys([outcome, *cols, *design]))]
    if complete:
        d = d.dropna(subset=[outcome, *cols])
    d["size_class"] = d["size_class"].astype(str)
    return d


def _svy_terms(terms: list[str]) -> list[str]:
    out = []
    for t in terms:
        if t == "_intercept_":
            out.append("Intercept")
        else:
            for var in ("size_class", "rolle", "region", "year"):
                if t.startswith(var + "_"):
                    t = f"{var}[{t[len(var) + 1 :]}]"
                    break
            out.append(t)
    return out


def fit_design(
    df: pd.DataFrame, outcome: str, spec: str = "M1", family: str = "binomial", pooled: bool = False
) -> Fit:
    """Survey-weighted GLM (svy): coefficients, AMEs of numeric terms, margins by size class."""
    import polars as pl
    import svy

    extra = ["year"] if pooled else []
    d = prepare(df, outcome, spec, extra, complete=False)
    if pooled:
        d["year"] = d["year"].astype(str)
        design = svy.Design(psu="panel_id", wgt="w")
    else:
        # analytic inference about model parameters: no finite-population correction
        design = svy.Design(stratum="size_class", wgt="w")
    x = [svy.Cat(c, ref=REFS.get(c)) if cat else c for c, cat in SPECS[spec]]
    if pooled:
        x.append(svy.Cat("year", ref=str(min(d.loc[d[outcome].notna(), "year"]))))
    s = svy.Sample(pl.from_pandas(d), design)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = s.glm.fit(y=outcome, x=x, family=family)
    notes = [
        str(w.message).split(":")[0] + ": " + str(w.message).split(":", 2)[-1].strip()[:200]
        for w in caught
        if "SEPARATION" in str(w.message) or "converge" in str(w.message).lower()
    ]
    t = m.to_polars().to_pandas()
    coef = pd.DataFrame(
        {
            "term": _svy_terms(t["term"].tolist()),
            "coef": t["estimate"],
            "se": t["std_err"],
            "ci_low": t["conf_low"],
            "ci_high": t["conf_high"],
            "p_value": t["p_value"],
            "df": t["df"],
        }
    )
    numeric = [c for c, cat in SPECS[spec] if not cat and c != "ln_pop_x_cri"]
    ame = pd.DataFrame(
        [
            {
                "term": r["term"],
                "ame": r["margin"],
                "se": r["se"],
                "ci_low": r["lci"],
                "ci_high": r["uci"],
            }
            for v in numeric
            for r in m.margins(variables=[v]).to_polars().iter_rows(named=True)
        ]
    )
    margins = pd.DataFrame()
    if spec == "M3":
        mg = m.margins(at={"size_class": ["small", "medium", "large"]}).to_polars().to_pandas()
        margins = mg.rename(columns={"margin": "margin", "lci": "ci_low", "uci": "ci_high"})[
            ["size_class", "margin", "se", "ci_low", "ci_high"]
        ]
    where = (
        "pooled over years, PSU = municipality across reforms, year effects"
        if pooled
        else "strata = size class, raked weights, no FPC (model parameters)"
    )
    link = "logistic" if family == "binomial" else "linear"
    method = f"survey-weighted {link} regression (svy, Taylor linearisation; {where})"
    n = int(d[[outcome, *[c for c, _ in SPECS[spec]]]].notna().all(axis=1).sum())
    return Fit(
        outcome,
        spec,
        "design",
        family,
        method,
        n,
        coef,
        ame,
        margins,
        {"df": int(coef["df"].iloc[0]), "warnings": notes},
    )


def _formula(outcome: str, spec: str, pooled: bool) -> str:
    parts = []
    for c, cat in SPECS[spec]:
        parts.append(f"C({c}, Treatment({REFS[c]!r}))" if cat else c)
    if pooled:
        parts.append("C(year)")
    return f"{outcome} ~ " + " + ".join(parts)


def _sm_terms(names: list[str]) -> list[str]:
    out = []
    for n in names:
        if n.startswith("C("):
            var = n[2 : n.index(",") if "," in n else n.index(")")]
            level = n[n.index("[T.") + 3 : -1]
            n = f"{var}[{level}]"
        out.append(n)
    return out


def fit_model(
    df: pd.DataFrame, outcome: str, spec: str = "M1", family: str = "binomial", pooled: bool = False
) -> Fit:
    """Model-based fit (statsmodels): Logit or OLS, HC1 robust SE (pooled: clustered)."""
    import statsmodels.formula.api as smf

    d = prepare(df, outcome, spec, ["year"] if pooled else [])
    formula = _formula(outcome, spec, pooled)
    cov = (
        {"cov_type": "cluster", "cov_kwds": {"groups": pd.factorize(d["panel_id"])[0]}}
        if pooled
        else {"cov_type": "HC1"}
    )
    if family == "binomial":
        res = smf.logit(formula, data=d).fit(disp=False, **cov)
        stats = {"pseudo_r2_mcfadden": float(res.prsquared), "aic": float(res.aic)}
    else:
        res = smf.ols(formula, data=d).fit(**cov)
        stats = {"r2": float(res.rsquared), "aic": float(res.aic)}
    ci = res.conf_int()
    coef = pd.DataFrame(
        {
            "term": _sm_terms(list(res.params.index)),
            "coef": res.params.to_numpy(),
            "se": res.bse.to_numpy(),
            "ci_low": ci[0].to_numpy(),
            "ci_high": ci[1].to_numpy(),
            "p_value": res.pvalues.to_numpy(),
            "df": np.nan,
        }
    )
    ame = pd.DataFrame()
    if family == "binomial":
        mf = res.get_margeff(at="overall").summary_frame()
        numeric = [c for c, cat in SPECS[spec] if not cat and c != "ln_pop_x_cri"]
        mf = mf.loc[[i for i in mf.index if i in numeric]]
        ame = pd.DataFrame(
            {
                "term": mf.index,
                "ame": mf["dy/dx"].to_numpy(),
                "se": mf["Std. Err."].to_numpy(),
                "ci_low": mf.iloc[:, 4].to_numpy(),
                "ci_high": mf.iloc[:, 5].to_numpy(),
            }
        )
    se_type = "cluster-robust by municipality" if pooled else "HC1 robust"
    kind = "logistic" if family == "binomial" else "linear (OLS)"
    method = f"unweighted {kind} regression (statsmodels), {se_type} SE"
    return Fit(
        outcome, spec, "model", family, method, int(res.nobs), coef, ame, pd.DataFrame(), stats
    )


def fit_ordered(df: pd.DataFrame, outcome: str, spec: str = "M1", pooled: bool = False) -> Fit:
    """Ordered logit (statsmodels OrderedModel), unweighted, robust (sandwich) SE."""
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    d = prepare(df, outcome, spec, ["year"] if pooled else [])
    rhs = _formula(outcome, spec, pooled).split("~", 1)[1]
    import patsy

    X = patsy.dmatrix(rhs, d, return_type="dataframe")  # treatment coding, then drop the constant
    X = X.loc[:, [c for c in X.columns if c != "Intercept"]]
    y = pd.Series(pd.Categorical(d[outcome].astype(int), ordered=True), index=d.index)
    model = OrderedModel(y, X, distr="logit")
    if pooled:
        res = model.fit(
            method="bfgs",
            disp=False,
            maxiter=2000,
            cov_type="cluster",
            cov_kwds={"groups": pd.factorize(d["panel_id"])[0]},
        )
    else:
        res = model.fit(method="bfgs", disp=False, maxiter=2000, cov_type="HC0")
    ci = res.conf_int()
    k = X.shape[1]  # slopes first, then the threshold parameters
    names = _sm_terms(list(res.params.index))[:k]
    coef = pd.DataFrame(
        {
            "term": names,
            "coef": res.params.to_numpy()[:k],
            "se": res.bse.to_numpy()[:k],
            "ci_low": ci[0].to_numpy()[:k],
            "ci_high": ci[1].to_numpy()[:k],
            "p_value": res.pvalues.to_numpy()[:k],
            "df": np.nan,
        }
    )
    cuts = model.transform_threshold_params(res.params.to_numpy())[1:-1]
    se_type = "cluster-robust by municipality" if pooled else "robust (sandwich)"
    return Fit(
        outcome,
        spec,
        "model",
        "ordinal",
        f"ordered logit (statsmodels OrderedModel), unweighted, {se_type} SE",
        int(res.nobs),
        coef,
        pd.DataFrame(),
        pd.DataFrame(),
        {
            "aic": float(res.aic),
            "cut_points": [float(c) for c in cuts],
            "converged": bool(res.mle_retvals.get("converged", True)),
        },
    )
