"""The survey-weighted ordered logit (R's ``svyolr``) and its proportional-odds check, fitted
on one year's respondents with the design of :mod:`analysis.weights` (used as
``models.svyolr`` and ``models.proportional_odds``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis import weights
from analysis.models import parse_formula


@dataclass
class OrderedFit:
    """A survey-weighted ordered logit (proportional odds), as R's ``svyolr``.

    The weighted log-likelihood is maximised with statsmodels' ``OrderedModel``; the variance
    is the design-based variance of the linearised estimator: each respondent's influence
    H^-1 s_i (H the weighted information, s_i the score) is a column whose weighted total
    svy estimates on the calibrated design (:func:`analysis.weights.design`, no FPC), so strata
    and the calibration residuals enter as for :func:`svyglm`.
    """

    formula: str
    n: int
    params: pd.Series  # slopes, then statsmodels' threshold parameters
    cuts: np.ndarray  # cut points on the logit scale
    influence: pd.DataFrame  # one column per parameter, zero for rows outside the fit
    se: pd.Series
    df: int  # residual design df, as R's svyglm: PSUs - strata + 1 - parameters
    converged: bool
    method: str = (
        "survey-weighted ordered logit (statsmodels OrderedModel, weighted likelihood; svy "
        "Taylor with calibration residuals on the influence functions; strata = size class, no FPC)"
    )

    def coefs(self) -> pd.DataFrame:
        """The slopes: term, estimate, se, ci_low, ci_high, p, df, scale, identified."""
        from scipy import stats

        slopes = self.params.index[: len(self.params) - len(self.cuts)]
        est, se = self.params[slopes].to_numpy(float), self.se[slopes].to_numpy(float)
        q = stats.t.ppf(0.975, self.df)
        return pd.DataFrame(
            {
                "term": list(slopes),
                "estimate": est,
                "se": se,
                "ci_low": est - q * se,
                "ci_high": est + q * se,
                "p": 2 * stats.t.sf(np.abs(est / se), self.df),
                "df": float(self.df),
                "scale": "log-odds",
                "identified": np.isfinite(se),
            }
        )


def _linearised_se(data: pd.DataFrame, influence: pd.DataFrame) -> pd.Series:
    """Design-based SEs of estimators with the given influence columns (weighted totals)."""
    cols = [f"_z{i}" for i in range(influence.shape[1])]
    d = data.assign(**{c: influence.iloc[:, i].to_numpy() for i, c in enumerate(cols)})
    s = weights.design(d, cols, fpc=False)
    se = [float(s.estimation.total(c).to_polars()["se"][0]) for c in cols]
    return pd.Series(se, index=influence.columns)


def svyolr(formula: str, data: pd.DataFrame) -> OrderedFit:
    """Fit ``formula`` (e.g. ``"suksess_tjenester ~ ln_pop_c + cri_c"``, no intercept: the cut
    points take its place) as a survey-weighted ordered logit on the respondents of one year."""
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    class Weighted(OrderedModel):
        def loglike(self, params):
            return float(np.sum(self.case_weights * self.loglikeobs(params)))

    outcome, terms, _ = parse_formula(formula, data)
    cols = list(dict.fromkeys(c for t in terms for c, _, _ in t.factors))
    fit_rows = data[[outcome, *cols]].notna().all(axis=1).to_numpy()
    d = data.loc[fit_rows].reset_index(drop=True)
    rhs = formula.split("~", 1)[1]
    model = Weighted.from_formula(f"{outcome} ~ 0 + {rhs}", d, distr="logit")
    w = d["w"].to_numpy(float)
    model.case_weights = w / w.mean()  # the same maximum, better conditioned
    res = model.fit(method="bfgs", disp=False, maxiter=5000, gtol=1e-8)
    params = pd.Series(np.asarray(res.params), index=model.exog_names)
    model.case_weights = w
    info = -model.hessian(params.to_numpy())  # weighted information
    scores = model.score_obs(params.to_numpy())  # one row per respondent in the fit
    z = np.zeros((len(data), len(params)))
    z[fit_rows] = scores @ np.linalg.inv(info)  # H^-1 is symmetric
    influence = pd.DataFrame(z, columns=params.index)
    se = _linearised_se(data, influence)
    # residual design df as R's svyglm: PSUs - strata in the fit, + 1 - parameters
    df = int(fit_rows.sum()) - d["size_class"].nunique() + 1 - len(params)
    converged = bool(res.mle_retvals.get("converged", False))
    cuts = model.transform_threshold_params(params.to_numpy())[1:-1]
    return OrderedFit(formula, int(fit_rows.sum()), params, cuts, influence, se, df, converged)


def proportional_odds(fit: OrderedFit, data: pd.DataFrame) -> pd.DataFrame:
    """A check of the proportional-odds assumption of ``fit``: for each cut k, the binary logit
    of "answer above k" is fitted the same way (survey-weighted, linearised), and its slopes
    are compared with the ordered slopes. The SE of each difference comes from the difference
    of the two influence functions (same design); p-values are adjusted by Holm over all
    cuts and terms. Rows: cut, term, estimate (binary slope), ordered, difference, se, p,
    converged (the binary fit), ci_low, ci_high (of the difference, t on the ordered fit's
    df), p_adj."""
    from scipy import stats
    from statsmodels.stats.multitest import multipletests

    outcome, rhs = (x.strip() for x in fit.formula.split("~", 1))
    slopes = list(fit.coefs()["term"])
    levels = np.sort(data[outcome].dropna().unique())
    rows = []
    for k in levels[:-1]:
        binary = data.assign(_above=(data[outcome] > k).astype(float).where(data[outcome].notna()))
        b = svyolr(f"_above ~ {rhs}", binary)
        diff = b.influence[slopes] - fit.influence[slopes]
        se = _linearised_se(data, diff)
        for t in slopes:
            d = float(b.params[t] - fit.params[t])
            rows.append(
                {
                    "cut": f">{k:g}",
                    "term": t,
                    "estimate": float(b.params[t]),
                    "ordered": float(fit.params[t]),
                    "difference": d,
                    "se": float(se[t]),
                    "p": float(2 * stats.t.sf(abs(d / se[t]), fit.df)),
                    "converged": b.converged,
                }
            )
    out = pd.DataFrame(rows)
    q = stats.t.ppf(0.975, fit.df)
    out["ci_low"], out["ci_high"] = (
        out["difference"] - q * out["se"],
        out["difference"] + q * out["se"],
    )
    out["p_adj"] = multipletests(out["p"], method="holm")[1]
    return out
