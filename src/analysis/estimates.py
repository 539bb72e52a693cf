"""Design-based estimates with svy: shares and means by size class, differences, FDR.

Design (see :mod:`analysis.weights`): strata = size classes with the register's counts N_h
(finite-population correction), raked weights. Item non-response is handled as domain
estimation (``drop_nulls=True``: a respondent without a valid answer leaves the estimate but
stays in the design), i.e. assumed missing at random given the weights. Intervals for shares
are computed on the logit scale with a t quantile on the design degrees of freedom (as R's
``survey::svyciprop(method = "logit")``); at 0 % or 100 %, where the logit interval does not
exist, the exact Clopper-Pearson interval on the number of answers is used.
Differences between size classes are design-based contrasts; their p-values are adjusted for
the number of comparisons a report publishes (Benjamini-Hochberg false discovery rate).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import config, results, weights

METHOD_SHARE = (
    "design-based (svy, Taylor with raking residuals): strata = size class, FPC; logit CI"
)
METHOD_SHARE_EXACT = (
    "design-based (svy): share at 0 or 1, exact Clopper-Pearson CI on the n answers"
)
METHOD_MEAN = "design-based (svy, Taylor with raking residuals): strata = size class, FPC; t CI"
METHOD_UNWEIGHTED = "unweighted respondent share (sensitivity check); logit CI, no FPC"
METHOD_CONTRAST = (
    "design-based contrast of size-class estimates (svy, Taylor), t CI; n = smaller class"
)

#: Headline shares of the barometer (binary items and derived 0/1 indicators).
HEADLINE_SHARES = (
    "barriere_endringsvilje",
    "etterutdanning_ikt",
    "evaluerer_effekt",
    "handlingsplan",
    "forventer_kvalitet",
    "forventer_forenkling",
    "prioritet_hoy",
)


def sample(df: pd.DataFrame, cols: list[str], weighted: bool = True):
    """svy Sample of the respondents: stratified by size class with FPC, weights raked again
    from the base weights so that the variance honours the raking (:func:`weights.design`)."""
    import polars as pl
    import svy

    if weighted:
        return weights.design(df, cols)
    keep = list(dict.fromkeys(["kommunenr", "size_class", *cols]))
    data = df[keep].copy()
    data["size_class"] = data["size_class"].astype(str)
    return svy.Sample(pl.from_pandas(data))


METHOD_SHARE_JK = (
    "design-based, re-raked JKn replicates (delete one, strata = size class, FPC); logit CI"
)


def exact_interval(k: int, n: int) -> tuple[float, float]:
    """Clopper-Pearson 95 % interval of k answers out of n (for a share at 0 % or 100 %)."""
    from scipy import stats

    lo = 0.0 if k == 0 else float(stats.beta.ppf(0.025, k, n - k + 1))
    return lo, 1.0 if k == n else float(stats.beta.ppf(0.975, k + 1, n - k))


def jackknife_shares(df: pd.DataFrame, var: str, reps: np.ndarray, scales: np.ndarray):
    """Shares of ``var`` for all and by size class with the variance of re-raked JKn
    replicates (:func:`weights.jackknife` of the same rows) and a logit interval on t with
    n - H df (exact Clopper-Pearson at 0 or 100 %): group, estimate, se, ci, n, method."""
    from scipy import special, stats

    y, w = df[var].to_numpy(float), df["w"].to_numpy()
    cls = df["size_class"].astype(str)
    t = stats.t.ppf(0.975, len(df) - cls.nunique())
    rows = []
    for group in ["all", *sorted(cls.unique())]:
        m = ~np.isnan(y) & ((cls == group).to_numpy() | (group == "all"))
        est = float(np.average(y[m], weights=w[m]))
        rep = (reps[:, m] @ y[m]) / reps[:, m].sum(axis=1)
        se = float(np.sqrt(np.sum(scales * (rep - est) ** 2)))
        n, method = int(m.sum()), METHOD_SHARE_JK
        if 0 < est < 1:
            half = t * se / (est * (1 - est))
            lo, hi = special.expit(special.logit(est) + np.array([-half, half]))
        else:
            (lo, hi), method = exact_interval(round(est * n), n), METHOD_SHARE_EXACT
        rows.append(
            {"group": group, "estimate": est, "se": se, "ci_low": float(lo), "ci_high": float(hi),
             "n": n, "method": method}
        )  # fmt: skip
    return pd.DataFrame(rows)


def _share_rows(s, var: str, by: str | None) -> pd.DataFrame:
    """Share of 1s (svy prop, logit CI); at 0 % or 100 % an exact Clopper-Pearson interval."""
    mean = s.estimation.mean(var, by=by, drop_nulls=True).to_polars().to_pandas()
    prop = s.estimation.prop(var, by=by, drop_nulls=True, ci_method="logit").to_polars().to_pandas()
    prop = prop[prop[var] == 1.0]
    keys = [by] if by else []
    t = (
        mean.merge(prop[[*keys, "lci", "uci"]], on=keys, how="left", suffixes=("_wald", ""))
        if keys
        else mean.assign(
            lci=prop["lci"].iloc[0] if len(prop) else np.nan,
            uci=prop["uci"].iloc[0] if len(prop) else np.nan,
        )
    )
    t["method"] = METHOD_SHARE
    for i in t.index:
        est, n = float(t.at[i, "est"]), int(t.at[i, "n"])
        if est <= 1e-12 or est >= 1 - 1e-12:
            t.at[i, "lci"], t.at[i, "uci"] = exact_interval(round(est * n), n)
            t.at[i, "method"] = METHOD_SHARE_EXACT
    return t


def by_size_class(df: pd.DataFrame, var: str, share: bool, weighted: bool = True) -> pd.DataFrame:
    """Estimates for each size class and for all: group, estimate, se, ci, n, N, df, method."""
    if df[var].notna().sum() == 0:
        return pd.DataFrame()
    s = sample(df, [var], weighted)
    rows = []
    if share:
        all_ = _share_rows(s, var, None).assign(size_class="all")
        by = _share_rows(s, var, "size_class")
    else:
        all_ = (
            s.estimation.mean(var, drop_nulls=True)
            .to_polars()
            .to_pandas()
            .assign(size_class="all", method=METHOD_MEAN)
        )
        by = (
            s.estimation.mean(var, by="size_class", drop_nulls=True)
            .to_polars()
            .to_pandas()
            .assign(method=METHOD_MEAN)
        )
    t = pd.concat([by, all_], ignore_index=True)
    N = df.groupby(df["size_class"].astype(str))["N_h"].first()
    for cls in [*config.SIZE_CLASSES, "all"]:
        r = t[t["size_class"] == cls]
        if r.empty:
            continue
        r = r.iloc[0]
        rows.append(
            {
                "outcome": var,
                "group": cls,
                "estimate": float(r["est"]),
                "se": float(r["se"]),
                "ci_low": float(r["lci"]),
                "ci_high": float(r["uci"]),
                "n": int(r["n"]),
                "N": int(N.sum() if cls == "all" else N.get(cls, 0)),
                "df": int(r["df"]),
                "method": r["method"] if weighted else METHOD_UNWEIGHTED,
                "scale": "share" if share else "mean",
            }
        )
    return pd.DataFrame(rows)


def class_differences(df: pd.DataFrame, var: str) -> pd.DataFrame:
    """Design-based differences between size classes (large-small, large-medium, medium-small)."""
    import svy

    s = sample(df, [var])
    res = s.estimation.mean(var, by="size_class", drop_nulls=True)
    answered = df.loc[df[var].notna(), "size_class"].astype(str).value_counts()
    present = set(answered.index)
    share = set(df[var].dropna().unique()) <= {0.0, 1.0}
    hidden = results.hidden_classes(answered.to_dict())  # a difference with a withheld class
    rows = []
    for a, b in (("large", "small"), ("large", "medium"), ("medium", "small")):
        if a not in present or b not in present:
            continue
        c = res.contrast(svy.estd(a) - svy.estd(b)).to_polars().to_pandas().iloc[0]
        rows.append(
            {
                "outcome": var,
                "group": "all",
                "contrast": f"{a}-{b}",
                "estimate": float(c["est"]),
                "se": float(c["se"]),
                "ci_low": float(c["lci"]),
                "ci_high": float(c["uci"]),
                "t": float(c["t"]),
                "df": int(c["df"]),
                "p": float(c["p_value"]),
                "n": int(min(answered[a], answered[b])),
                "scale": "share difference" if share else "mean difference",
                "method": METHOD_CONTRAST,
                "suppressed": bool(hidden & {a, b}),
            }
        )
    return pd.DataFrame(rows)


def adjust_fdr(p: pd.Series | np.ndarray, alpha: float = 0.05) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (statsmodels)."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(p, dtype=float)
    if len(p) == 0:
        return p
    return multipletests(p, alpha=alpha, method="fdr_bh")[1]


def design_effect(df: pd.DataFrame, var: str) -> float:
    """Design effect (Kish 'wor' reference) of the overall estimate of ``var``."""
    s = sample(df, [var])
    t = s.estimation.mean(var, drop_nulls=True, deff="wor").to_polars().to_pandas()
    return float(t["deff"].iloc[0])


def response_by_class(resp: pd.DataFrame, N_h: pd.Series) -> pd.DataFrame:
    """Respondents against the register per size class: n, N, response rate, base weight."""
    n = resp["size_class"].astype(str).value_counts().reindex(N_h.index, fill_value=0)
    out = pd.DataFrame(
        {"size_class": N_h.index, "respondents": n.to_numpy(), "municipalities": N_h.to_numpy()}
    )
    out["response_rate"] = out["respondents"] / out["municipalities"]
    out["weight"] = out["municipalities"] / out["respondents"].replace(0, np.nan)
    return out
