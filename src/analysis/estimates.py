"""Design-based estimates: shares and means by size class with finite-population correction.

Design: respondents are treated as a stratified simple random sample within size class
(strata), with the register's number of municipalities per class as the stratum
population N_h (post-stratification to register counts). Each item is estimated on its
valid answers, the stratum weights N_h / n_h recomputed on them (item non-response
treated as missing at random within size class). Standard errors include the
finite-population correction (1 - n_h / N_h). Intervals for shares are computed on the
logit scale with a t quantile on the design's degrees of freedom (units - strata), as R's
``survey::svyciprop(method = "logit")`` does; at 0 % or 100 % the exact Clopper-Pearson
interval is used instead.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

from analysis import config

METHOD_SHARE = "stratified by size class, FPC from register N_h; logit CI (t, df = n - H)"
METHOD_MEAN = "stratified by size class, FPC from register N_h; t CI (df = n - H)"
METHOD_SHARE_EXACT = "stratified by size class, FPC; Clopper-Pearson CI (share at 0 or 1)"


@dataclass(frozen=True)
class Estimate:
    """One published number with its uncertainty."""

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    n: int
    N: int
    df: int
    method: str

    def as_dict(self) -> dict:
        """Plain dict (for tables and the results file)."""
        return asdict(self)


def _stratum_stats(y: np.ndarray, strata: np.ndarray, N_h: pd.Series) -> pd.DataFrame:
    rows = []
    for h, n_pop in N_h.items():
        yh = y[strata == h]
        n = len(yh)
        if n == 0:
            continue
        if n > n_pop:
            raise ValueError(f"stratum {h}: {n} respondents but only {n_pop} municipalities")
        var = float(np.var(yh, ddof=1)) if n > 1 else np.nan
        rows.append({"h": h, "n": n, "N": int(n_pop), "mean": float(np.mean(yh)), "s2": var})
    return pd.DataFrame(rows)


def stratified_mean(
    y: pd.Series | np.ndarray,
    strata: pd.Series | np.ndarray,
    N_h: pd.Series,
    share: bool = False,
    level: float = 0.95,
) -> Estimate:
    """Stratified mean (or share of a 0/1 variable) with FPC; missing values dropped."""
    y = pd.Series(np.asarray(y, dtype=float))
    strata = pd.Series(np.asarray(strata, dtype=object))
    ok = y.notna().to_numpy()
    st = _stratum_stats(y[ok].to_numpy(), strata[ok].to_numpy(), N_h)
    if st.empty:
        return Estimate(np.nan, np.nan, np.nan, np.nan, 0, int(N_h.sum()), 0, "no valid answers")
    N = int(st["N"].sum())
    W = st["N"] / N
    est = float((W * st["mean"]).sum())
    var_h = (1 - st["n"] / st["N"]) * st["s2"].fillna(0) / st["n"]
    se = float(np.sqrt((W**2 * var_h).sum()))
    n = int(st["n"].sum())
    df = max(n - len(st), 1)
    q = stats.t.ppf(0.5 + level / 2, df)
    if share:
        if 0 < est < 1 and se > 0:
            eta, se_eta = np.log(est / (1 - est)), se / (est * (1 - est))
            lo, hi = 1 / (1 + np.exp(-(eta - q * se_eta))), 1 / (1 + np.exp(-(eta + q * se_eta)))
            method = METHOD_SHARE
        else:
            k = int(round(est * n))
            alpha = 1 - level
            lo = stats.beta.ppf(alpha / 2, k, n - k + 1) if k > 0 else 0.0
            hi = stats.beta.ppf(1 - alpha / 2, k + 1, n - k) if k < n else 1.0
            method = METHOD_SHARE_EXACT
    else:
        lo, hi = est - q * se, est + q * se
        method = METHOD_MEAN
    return Estimate(est, se, float(lo), float(hi), n, N, df, method)


def by_size_class(
    df: pd.DataFrame, var: str, N_h: pd.Series, share: bool, level: float = 0.95
) -> pd.DataFrame:
    """Estimates for each size class and for all municipalities, one row each."""
    rows = []
    for h in N_h.index:
        sub = df[df["size_class"] == h]
        e = stratified_mean(sub[var], sub["size_class"].astype(object), N_h[[h]], share, level)
        rows.append({"group": h, **e.as_dict()})
    e = stratified_mean(df[var], df["size_class"].astype(object), N_h, share, level)
    rows.append({"group": "all", **e.as_dict()})
    return pd.DataFrame(rows)


def unweighted_share(y: pd.Series, level: float = 0.95) -> Estimate:
    """Share among respondents (as a vendor publishes it): Wilson interval, no FPC."""
    y = pd.Series(y, dtype=float).dropna()
    n, k = len(y), float(y.sum())
    if n == 0:
        return Estimate(np.nan, np.nan, np.nan, np.nan, 0, 0, 0, "no valid answers")
    p = k / n
    z = stats.norm.ppf(0.5 + level / 2)
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return Estimate(
        p,
        float(np.sqrt(p * (1 - p) / n)),
        centre - half,
        centre + half,
        n,
        0,
        n - 1,
        "unweighted respondent share; Wilson CI",
    )


def response_by_class(resp: pd.DataFrame, N_h: pd.Series) -> pd.DataFrame:
    """Respondents against the register per size class: n, N, response rate, shares."""
    n = resp["size_class"].astype(object).value_counts().reindex(N_h.index, fill_value=0)
    out = pd.DataFrame(
        {"size_class": N_h.index, "respondents": n.to_numpy(), "municipalities": N_h.to_numpy()}
    )
    out["response_rate"] = out["respondents"] / out["municipalities"]
    out["share_of_respondents"] = out["respondents"] / out["respondents"].sum()
    out["share_of_municipalities"] = out["municipalities"] / out["municipalities"].sum()
    out["weight"] = out["municipalities"] / out["respondents"].replace(0, np.nan)
    return out


SIZE_CLASSES = config.SIZE_CLASSES
