"""Regression models linking municipality size and change resistance to outcomes.

Models are fitted with statsmodels. Binary outcomes: logistic regression with
heteroskedasticity-robust (HC1) standard errors; average marginal effects from
statsmodels' ``get_margeff`` (delta method).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from scipy import stats

TERM_LABELS = {
    "Intercept": {"nb": "Konstantledd", "en": "Intercept"},
    "ln_pop_c": {"nb": "ln(innbyggere) - ln(10 000)", "en": "ln(population) - ln(10,000)"},
    "cri_c": {"nb": "Endringsmotstand (indeks - 3)", "en": "Change resistance (index - 3)"},
    "ln_pop_c:cri_c": {
        "nb": "Samspill størrelse x endringsmotstand",
        "en": "Size x change resistance",
    },
}


@dataclass
class LogitFit:
    """A fitted logistic regression with its publication tables."""

    outcome: str
    formula: str
    n: int
    coefficients: pd.DataFrame
    marginal_effects: pd.DataFrame
    fit: dict
    result: object

    @property
    def method(self) -> str:
        """How the estimates were obtained."""
        return "logistic regression (statsmodels Logit, ML), HC1 robust SE, unweighted"


def fit_logit(
    df: pd.DataFrame, outcome: str, rhs: str = "ln_pop_c + cri_c", level: float = 0.95
) -> LogitFit:
    """Fit ``outcome ~ rhs`` on complete cases; coefficients, odds ratios and AMEs."""
    terms = [t.strip() for t in rhs.replace("*", "+").replace(":", "+").split("+")]
    data = df[[outcome, *dict.fromkeys(terms)]].dropna().astype(float)
    formula = f"{outcome} ~ {rhs}"
    res = smf.logit(formula, data=data).fit(disp=False, cov_type="HC1")
    z = stats.norm.ppf(0.5 + level / 2)
    ci = res.conf_int(alpha=1 - level)
    coef = pd.DataFrame(
        {
            "term": res.params.index,
            "coef": res.params.to_numpy(),
            "se": res.bse.to_numpy(),
            "ci_low": ci[0].to_numpy(),
            "ci_high": ci[1].to_numpy(),
            "p_value": res.pvalues.to_numpy(),
        }
    )
    coef["odds_ratio"] = np.exp(coef["coef"])
    coef["or_ci_low"] = np.exp(coef["ci_low"])
    coef["or_ci_high"] = np.exp(coef["ci_high"])
    me = res.get_margeff(at="overall", method="dydx")
    mf = me.summary_frame(alpha=1 - level)
    ame = pd.DataFrame(
        {
            "term": mf.index,
            "ame": mf["dy/dx"].to_numpy(),
            "se": mf["Std. Err."].to_numpy(),
            "ci_low": mf.iloc[:, 4].to_numpy(),
            "ci_high": mf.iloc[:, 5].to_numpy(),
        }
    )
    fit = {
        "n": int(res.nobs),
        "pseudo_r2_mcfadden": float(res.prsquared),
        "aic": float(res.aic),
        "log_likelihood": float(res.llf),
        "converged": bool(res.mle_retvals["converged"]),
        "z": float(z),
    }
    return LogitFit(outcome, formula, int(res.nobs), coef, ame, fit, res)
