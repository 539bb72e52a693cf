"""Design-based estimates: shares and means by size class, differences, FDR.

Design (see :mod:`analysis.weights`): strata = size classes with the register's counts N_h
(finite-population correction), calibrated weights. Standard errors come from re-calibrated delete-one
jackknife replicates (JKn within size class, every replicate calibrated again to the same totals:
:func:`replication.replicates`; R's ``calibrate()`` on ``as.svrepdesign(type = "JKn")``, the variance
centred on the mean of the replicates as R's default ``mse = FALSE``).
On repeated samples their intervals covered the true shares at the nominal rate where the
Taylor linearisation (``variance="taylor"``: svy, calibration residuals swept out) was about 8 %
too small (docs/methods.md). Item non-response is handled as domain estimation (a respondent
without a valid answer leaves the estimate but stays in the design), i.e. assumed missing at
random given the weights. Intervals for shares are computed on the logit scale from the
standard error (delta method) with a t quantile on the design degrees of freedom (respondents
with an answer less the strata they fall in, as R's ``degf``); at 0 % or 100 %, where the
logit interval does not exist, the exact Clopper-Pearson interval on the number of answers.
Differences between size classes are design-based contrasts; their p-values are adjusted for
the number of comparisons a report publishes (Benjamini-Hochberg false discovery rate).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import config, replication, results, weights

_JK = "re-calibrated JKn replicates (delete one, strata = size class, FPC)"
_TAYLOR = "svy, Taylor with calibration residuals: strata = size class, FPC"
METHOD_SHARE = f"design-based ({_JK}); logit CI"
METHOD_MEAN = f"design-based ({_JK}); t CI"
METHOD_CONTRAST = f"design-based contrast of size-class estimates ({_JK}); t CI; n = smaller class"
METHOD_SHARE_TAYLOR = f"design-based ({_TAYLOR}); logit CI"
METHOD_MEAN_TAYLOR = f"design-based ({_TAYLOR}); t CI"
METHOD_CONTRAST_TAYLOR = (
    f"design-based contrast of size-class estimates ({_TAYLOR}); t CI; n = smaller class"
)
METHOD_SHARE_EXACT = "design-based: share at 0 or 1, exact Clopper-Pearson CI on the n answers"
METHOD_UNWEIGHTED = "unweighted respondent share (sensitivity check); logit CI, no FPC"
#: How the variance of a share, mean or class difference is estimated.
VARIANCES = ("jackknife", "taylor")

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
    """svy Sample of the respondents: stratified by size class with FPC, weights calibrated
    again from the base weights so that the variance honours the calibration (:func:`weights.design`)."""
    import polars as pl
    import svy

    if weighted:
        return weights.design(df, cols)
    keep = list(dict.fromkeys(["kommunenr", "size_class", *cols]))
    data = df[keep].copy()
    data["size_class"] = data["size_class"].astype(str)
    return svy.Sample(pl.from_pandas(data))


def exact_interval(k: int, n: int) -> tuple[float, float]:
    """Clopper-Pearson 95 % interval of k answers out of n (for a share at 0 % or 100 %)."""
    from scipy import stats

    lo = 0.0 if k == 0 else float(stats.beta.ppf(0.025, k, n - k + 1))
    return lo, 1.0 if k == n else float(stats.beta.ppf(0.975, k + 1, n - k))


def _share_interval(est: float, se: float, n: int, df: int) -> tuple[float, float, bool]:
    """Logit interval from the SE (delta method, t on ``df``), or exact at 0 % or 100 %."""
    from scipy import special, stats

    if 1e-12 < est < 1 - 1e-12:
        half = stats.t.ppf(0.975, df) * se / (est * (1 - est))
        lo, hi = special.expit(special.logit(est) + np.array([-half, half]))
        return float(lo), float(hi), False
    lo, hi = exact_interval(round(est * n), n)
    return lo, hi, True


class _Replicated:
    """Domain means of one variable and their re-calibrated JKn replicates (``replication``)."""

    def __init__(self, df: pd.DataFrame, var: str) -> None:
        d = df.reset_index(drop=True)
        self.reps, self.scales, _ = replication.replicates(d)
        self.y = d[var].to_numpy(float)
        self.w = d["w"].to_numpy(float)
        self.cls = d["size_class"].astype(str).to_numpy()
        self.answered = ~np.isnan(self.y)
        self.unit = replication.describe(self.reps)

    def method(self, text: str) -> str:
        """``text`` with how the replicates were made (delete one, or one of G groups)."""
        return text.replace("delete one", self.unit)

    def mask(self, group: str) -> np.ndarray:
        return self.answered & ((self.cls == group) | (group == "all"))

    def mean(self, group: str) -> tuple[float, np.ndarray]:
        """The estimate and its replicates (NaN where a replicate deletes the domain)."""
        m = self.mask(group)
        est = float(self.w[m] @ self.y[m] / self.w[m].sum())
        tot = self.reps[:, m].sum(axis=1)
        rep = np.divide(
            self.reps[:, m] @ self.y[m], tot, out=np.full(len(tot), np.nan), where=tot > 0
        )
        return est, rep

    def se(self, rep: np.ndarray) -> float:
        """sqrt(sum of scale * (replicate - mean of the replicates)^2): R's default (mse =
        FALSE), as svy's replicate refits of a model."""
        return float(np.sqrt(np.sum(self.scales * (rep - rep.mean()) ** 2)))

    def df(self, group: str) -> int:
        """Respondents with an answer less the strata they fall in (R's degf of the domain)."""
        m = self.mask(group)
        return int(m.sum() - len(set(self.cls[m])))


def _jackknife_rows(df: pd.DataFrame, var: str, share: bool) -> pd.DataFrame:
    from scipy import stats

    jk = _Replicated(df, var)
    rows = []
    for group in ["all", *sorted(set(jk.cls[jk.answered]))]:
        est, rep = jk.mean(group)
        se, dof, n = jk.se(rep), jk.df(group), int(jk.mask(group).sum())
        if share:
            lo, hi, exact = _share_interval(est, se, n, dof)
            method = METHOD_SHARE_EXACT if exact else jk.method(METHOD_SHARE)
        else:
            half = stats.t.ppf(0.975, dof) * se
            lo, hi, method = est - half, est + half, jk.method(METHOD_MEAN)
        rows.append(
            {"size_class": group, "est": est, "se": se, "lci": lo, "uci": hi, "n": n, "df": dof,
             "method": method}
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
    t["method"] = METHOD_SHARE_TAYLOR
    for i in t.index:
        est, n = float(t.at[i, "est"]), int(t.at[i, "n"])
        if est <= 1e-12 or est >= 1 - 1e-12:
            t.at[i, "lci"], t.at[i, "uci"] = exact_interval(round(est * n), n)
            t.at[i, "method"] = METHOD_SHARE_EXACT
    return t


def _taylor_rows(df: pd.DataFrame, var: str, share: bool, weighted: bool) -> pd.DataFrame:
    s = sample(df, [var], weighted)
    if share:
        all_ = _share_rows(s, var, None).assign(size_class="all")
        by = _share_rows(s, var, "size_class")
    else:
        est = s.estimation
        all_ = est.mean(var, drop_nulls=True).to_polars().to_pandas().assign(size_class="all")
        by = est.mean(var, by="size_class", drop_nulls=True).to_polars().to_pandas()
        all_["method"] = by["method"] = METHOD_MEAN_TAYLOR
    return pd.concat([by, all_], ignore_index=True)


def _check(variance: str) -> str:
    if variance not in VARIANCES:
        raise ValueError(f"variance must be one of {VARIANCES}, not {variance!r}")
    return variance


def by_size_class(
    df: pd.DataFrame, var: str, share: bool, weighted: bool = True, variance: str = "jackknife"
) -> pd.DataFrame:
    """Estimates for each size class and for all: group, estimate, se, ci, n, N, df, method.

    ``variance``: "jackknife" (re-calibrated JKn replicates; the published estimator) or "taylor"
    (svy's linearisation with the calibration residuals swept out). ``weighted=False``: the
    unweighted respondent share (a sensitivity check)."""
    if df[var].notna().sum() == 0:
        return pd.DataFrame()
    if weighted and _check(variance) == "jackknife":
        t = _jackknife_rows(df, var, share)
    else:
        t = _taylor_rows(df, var, share, weighted)
    N = df.groupby(df["size_class"].astype(str))["N_h"].first()
    rows = []
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


CONTRASTS = (("large", "small"), ("large", "medium"), ("medium", "small"))


def _contrasts_taylor(df: pd.DataFrame, var: str, pairs: list[tuple[str, str]]) -> list[dict]:
    import svy

    res = sample(df, [var]).estimation.mean(var, by="size_class", drop_nulls=True)
    out = []
    for a, b in pairs:
        c = res.contrast(svy.estd(a) - svy.estd(b)).to_polars().to_pandas().iloc[0]
        out.append(
            {"estimate": float(c["est"]), "se": float(c["se"]), "ci_low": float(c["lci"]),
             "ci_high": float(c["uci"]), "t": float(c["t"]), "df": int(c["df"]),
             "p": float(c["p_value"]), "method": METHOD_CONTRAST_TAYLOR}
        )  # fmt: skip
    return out


def _contrasts_jackknife(df: pd.DataFrame, var: str, pairs: list[tuple[str, str]]) -> list[dict]:
    """Difference of two domain means, replicate by replicate; t on the design df."""
    from scipy import stats

    jk = _Replicated(df, var)
    dof = jk.df("all")
    q = stats.t.ppf(0.975, dof)
    out = []
    for a, b in pairs:
        (ea, ra), (eb, rb) = jk.mean(a), jk.mean(b)
        est, se = ea - eb, jk.se(ra - rb)
        t = est / se if se > 0 else np.nan
        out.append(
            {"estimate": est, "se": se, "ci_low": est - q * se, "ci_high": est + q * se, "t": t,
             "df": dof, "p": float(2 * stats.t.sf(abs(t), dof)),
             "method": jk.method(METHOD_CONTRAST)}
        )  # fmt: skip
    return out


def class_differences(df: pd.DataFrame, var: str, variance: str = "jackknife") -> pd.DataFrame:
    """Design-based differences between size classes (large-small, large-medium, medium-small);
    ``variance`` as in :func:`by_size_class`."""
    answered = df.loc[df[var].notna(), "size_class"].astype(str).value_counts()
    present = set(answered.index)
    share = set(df[var].dropna().unique()) <= {0.0, 1.0}
    hidden = results.hidden_classes(answered.to_dict())  # a difference with a withheld class
    pairs = [(a, b) for a, b in CONTRASTS if a in present and b in present]
    if not pairs:
        return pd.DataFrame()
    how = _contrasts_jackknife if _check(variance) == "jackknife" else _contrasts_taylor
    rows = []
    for (a, b), c in zip(pairs, how(df, var, pairs), strict=True):
        rows.append(
            {
                "outcome": var,
                "group": "all",
                "contrast": f"{a}-{b}",
                **c,
                "n": int(min(answered[a], answered[b])),
                "scale": "share difference" if share else "mean difference",
                "suppressed": bool(hidden & {a, b}),
            }
        )
    return pd.DataFrame(rows)


#: The binary indicators derived from scales (load.DERIVED_COLUMNS): shown with the binary ones
DERIVED_SHARES = ("prioritet_hoy", "suksess_topp2")


def descriptive_variables(codebook, df: pd.DataFrame) -> tuple[list[str], list[str]]:
    """The year's binary indicators (with the two derived ones) and its scales (ordinal and
    numeric), each answered by someone: what the descriptives page shows by size class."""
    kinds = {v: var.type for v, var in codebook.variables.items() if df[v].notna().any()}
    binary = [v for v, t in kinds.items() if t == "binary"] + list(DERIVED_SHARES)
    return binary, [v for v, t in kinds.items() if t in ("ordinal", "numeric")]


def class_difference_family(df: pd.DataFrame, codebook) -> pd.DataFrame:
    """Every pairwise size-class difference of the descriptives page, adjusted as one family
    (``analysis.findings``: the family the summary's size-class finding belongs to too)."""
    from analysis import findings

    binary, scales = descriptive_variables(codebook, df)
    diffs = pd.concat([class_differences(df, v) for v in binary + scales], ignore_index=True)
    return findings.adjust(diffs, "class-differences")


def adjust_fdr(p: pd.Series | np.ndarray, alpha: float = 0.05) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (statsmodels)."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(p, dtype=float)
    if len(p) == 0:
        return p
    return multipletests(p, alpha=alpha, method="fdr_bh")[1]


#: How :func:`design_effect` is computed (results.csv's method)
METHOD_DEFF = (
    "design effect of the published estimate: its variance (re-calibrated JKn, as published) "
    "over that of a simple random sample of the same size without replacement (svy's 'wor' "
    "reference variance)"
)


def design_effect(df: pd.DataFrame, var: str) -> float:
    """Design effect of the overall estimate of ``var`` as published: the variance of the
    published estimate (:func:`by_size_class`, the re-calibrated jackknife) over svy's variance
    of a simple random sample of the same size without replacement (its 'wor' reference)."""
    s = sample(df, [var])
    t = s.estimation.mean(var, drop_nulls=True, deff="wor").to_polars().to_pandas()
    srs = float(t["se"].iloc[0]) ** 2 / float(t["deff"].iloc[0])
    share = set(df[var].dropna().unique()) <= {0.0, 1.0}
    rows = by_size_class(df, var, share=share)
    return float(rows.loc[rows["group"] == "all", "se"].iloc[0]) ** 2 / srs


def response_by_class(resp: pd.DataFrame, N_h: pd.Series) -> pd.DataFrame:
    """Respondents against the register per size class: n, N, response rate, base weight."""
    n = resp["size_class"].astype(str).value_counts().reindex(N_h.index, fill_value=0)
    out = pd.DataFrame(
        {"size_class": N_h.index, "respondents": n.to_numpy(), "municipalities": N_h.to_numpy()}
    )
    out["response_rate"] = out["respondents"] / out["municipalities"]
    out["weight"] = out["municipalities"] / out["respondents"].replace(0, np.nan)
    return out
