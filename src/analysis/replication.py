"""Replication: re-calibrated delete-one jackknife (JKn) replicate weights of one survey year.

Every replicate leaves one respondent out (above :data:`MAX_REPLICATES` respondents, one
random group), scales up the base weights of the rest of its size class by n_h / (n_h - 1)
and is calibrated again to the same totals as the full sample (R's ``calibrate(...,
calfun = "raking")`` on ``as.svrepdesign(design, type = "JKn")``), so the replicate variance
honours the calibration.
:func:`replicates` gives them once per design (cached); estimates use them directly
(:mod:`analysis.estimates`) and models through a svy replicate design (:func:`design`,
``method="replication"``). Checked against R in ``tests/test_r_oracle.py``.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from analysis import weights

#: At most this many replicates: a larger survey year (an employee-level survey, the
#: benchmark's 10x and 100x) deletes random groups instead of single respondents, so the cost
#: grows with the respondents, not with their square.
MAX_REPLICATES = 200
GROUP_SEED = 20260101  # the random groups are the same on every run


def groups(cls: np.ndarray, max_replicates: int = MAX_REPLICATES) -> np.ndarray:
    """The jackknife group of each respondent: itself when there are at most
    ``max_replicates`` respondents, else one of about ``max_replicates * n_h / n`` (at least 2)
    random groups within its size class. Group ids run over all classes."""
    n = len(cls)
    if n <= max_replicates:
        return np.arange(n)
    rng = np.random.default_rng(GROUP_SEED)
    out, first = np.empty(n, dtype=int), 0
    for h in np.unique(cls):
        idx = np.flatnonzero(cls == h)
        g = min(len(idx), max(2, round(max_replicates * len(idx) / n)))
        out[idx[rng.permutation(len(idx))]] = first + np.arange(len(idx)) % g
        first += g
    return out


def jackknife(
    d: pd.DataFrame, fpc: bool = True, max_replicates: int = MAX_REPLICATES
) -> tuple[np.ndarray, np.ndarray, int]:
    """Delete-one jackknife (JKn, strata = size class) replicate weights of calibrated respondents
    (:func:`analysis.weights.weight_year`'s output), each replicate calibrated again to the
    same totals; R's ``calibrate(as.svrepdesign(design, type = "JKn"), ...)``. Returns the replicate
    weights (one row per replicate, 0 for the deleted municipality), their scales
    (1 - f_h)(G_h - 1)/G_h with G_h = n_h replicates in the class (the variance of an estimate
    is sum(scale * (replicate estimate - mean of the replicate estimates)^2), R's default
    ``mse = FALSE``) and how many replicates did not meet their margins to 1e-10 (their last
    iterate is kept, as R keeps it). ``fpc=False``: no finite-population correction, as the
    models' design. Above ``max_replicates`` respondents a replicate deletes a random group
    (:func:`groups`) and scales the rest of its class by n_h / (n_h - m_g). The auxiliaries are
    :func:`analysis.weights.calibration_matrix` (as :func:`analysis.weights.design`), their
    totals those of the final weights ``w``."""
    d = d.reset_index(drop=True)
    cls = d["size_class"].astype(str).to_numpy()
    alone = sorted(c for c, n in pd.Series(cls).value_counts().items() if n < 2)
    if alone:
        year = f" in {int(d['year'].iloc[0])}" if "year" in d and len(d) else ""
        raise ValueError(
            f"a delete-one jackknife needs two respondents in every size class{year}; {alone} "
            "has one, so no variance can be estimated for it (nor by linearisation): choose size "
            "thresholds (MEDIUM, LARGE) that leave two answers in every class"
        )
    group = groups(cls, max_replicates)
    n_groups = group.max() + 1
    base = np.tile(d["w_base"].to_numpy(float), (n_groups, 1))
    scales = np.empty(n_groups)
    for g in range(n_groups):
        out = group == g
        h = cls == cls[out][0]
        n_h, m_g, g_h = h.sum(), out.sum(), len(np.unique(group[h]))
        base[g, h] *= n_h / (n_h - m_g)
        base[g, out] = 0.0
        f_h = n_h / float(d["N_h"].to_numpy()[out][0]) if fpc else 0.0
        scales[g] = (1 - f_h) * (g_h - 1) / g_h
    x = weights.calibration_matrix(d)
    reps, met = weights.calibrate(base, x, d["w"].to_numpy(float) @ x)
    return reps, scales, int((~met).sum())


def describe(reps: np.ndarray) -> str:
    """How the replicates were made, for a method text."""
    n = reps.shape[1]
    return "delete one" if len(reps) == n else f"delete one of {len(reps)} random groups"


#: Columns :func:`replicates` needs (and the key of its cache).
JACKKNIFE_COLUMNS = ("kommunenr", "size_class", "N_h", "w_base", "w", *weights.CALIBRATION_COLUMNS)
_REPLICATE_CACHE: dict[tuple[bool, str], tuple[np.ndarray, np.ndarray, int]] = {}


def replicates(d: pd.DataFrame, fpc: bool = True) -> tuple[np.ndarray, np.ndarray, int]:
    """:func:`jackknife` of ``d``, computed once per distinct design (cached on a hash of
    :data:`JACKKNIFE_COLUMNS`): every estimate of one year's respondents shares them."""
    missing = [c for c in JACKKNIFE_COLUMNS if c not in d]
    if missing:
        raise ValueError(
            f"the jackknife needs column(s) {missing}: use the respondents from analysis.load"
        )
    cols = d[list(JACKKNIFE_COLUMNS)].reset_index(drop=True)
    digest = hashlib.sha256(pd.util.hash_pandas_object(cols, index=False).to_numpy().tobytes())
    key = (fpc, digest.hexdigest())
    if key not in _REPLICATE_CACHE:
        if len(_REPLICATE_CACHE) >= 64:
            _REPLICATE_CACHE.pop(next(iter(_REPLICATE_CACHE)))
        _REPLICATE_CACHE[key] = jackknife(d, fpc)
    return _REPLICATE_CACHE[key]


def design(df: pd.DataFrame, cols: list[str], dof: int, fpc: bool = False):
    """svy Sample of ``df`` with the final weights ``w`` and the re-calibrated JKn replicate
    weights of :func:`replicates` (columns ``rw1`` ...), declared as a jackknife with their
    scales and ``dof`` design degrees of freedom: svy's ``method="replication"`` refits a
    model with every replicate's weights (R's ``svyglm`` on a ``svrepdesign``)."""
    import polars as pl
    import svy

    reps, scales, _ = replicates(df, fpc)
    data = {
        c: df[c].reset_index(drop=True)
        for c in dict.fromkeys(["kommunenr", "size_class", "w", *cols])
    }
    data["size_class"] = data["size_class"].astype(str)
    frame = pl.concat(
        [
            pl.from_pandas(pd.DataFrame(data)),
            pl.from_numpy(reps.T, schema=[f"rw{i + 1}" for i in range(len(reps))], orient="row"),
        ],
        how="horizontal",
    )
    rep = svy.JackknifeWgts(prefix="rw", n_reps=len(reps), scale=list(scales), df=dof)
    return svy.Sample(frame, svy.Design(stratum="size_class", wgt="w", rep_wgts=rep))
