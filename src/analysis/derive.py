"""Derived variables: size classes with given thresholds, indices and model covariates."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import config
from analysis.register import size_class

#: Items of the change-resistance index (1-5 agreement; higher = more resistance).
CHANGE_RESISTANCE_ITEMS = ("endring_skeptiske", "endring_rutiner", "endring_ledere")
#: Items of the digital-maturity index (1-4 digital level of four service areas).
MATURITY_ITEMS = ("digital_plan_bygg", "digital_sykehjem", "digital_skole", "digital_sosial")
#: Centre of log population in the models: ln(10 000 inhabitants).
LN_POP_CENTRE = float(np.log(10_000))


def item_mean(df: pd.DataFrame, items: tuple[str, ...], min_items: int) -> pd.Series:
    """Mean of the answered items, missing when fewer than ``min_items`` are answered.

    "Vet ikke" and blanks are both missing here (ingest codes them as NaN).
    """
    present = [c for c in items if c in df]
    if not present:
        return pd.Series(np.nan, index=df.index)
    block = df[list(present)]
    n = block.notna().sum(axis=1)
    return block.mean(axis=1).where(n >= min_items)


def add_derived(df: pd.DataFrame, thresholds: config.SizeThresholds | None = None) -> pd.DataFrame:
    """Return a copy with size class (for ``thresholds``), indices and model covariates."""
    thresholds = thresholds or config.SizeThresholds()
    out = df.copy()
    out["size_class"] = size_class(out["population"], thresholds).to_numpy()
    out["size_class"] = pd.Categorical(
        out["size_class"], categories=list(config.SIZE_CLASSES), ordered=True
    )
    out["ln_pop_c"] = np.log(out["population"].astype(float)) - LN_POP_CENTRE
    out["change_resistance"] = item_mean(out, CHANGE_RESISTANCE_ITEMS, min_items=2)
    out["cri_c"] = out["change_resistance"] - 3.0
    out["maturity"] = item_mean(out, MATURITY_ITEMS, min_items=3)
    if "prioritet" in out:
        out["prioritet_hoy"] = (out["prioritet"] >= 4).astype(float).where(out["prioritet"].notna())
    if "suksess_tjenester" in out:
        s = out["suksess_tjenester"]
        out["suksess_topp2"] = (s >= 4).astype(float).where(s.notna())
    return out


def rcs_nonlinear(x: pd.Series, knots: np.ndarray) -> pd.Series:
    """The nonlinear term of a restricted cubic spline with three knots (Harrell, rms
    ``rcspline.eval``, normalised by (t3 - t1)^2): linear beyond the outer knots; with ``x``
    beside it in a model, its coefficient tests whether ``x`` acts linearly."""
    t1, t2, t3 = (float(k) for k in knots)
    v = np.asarray(x, dtype=float)

    def cube(a):
        return np.clip(v - a, 0, None) ** 3

    r = cube(t1) - cube(t2) * (t3 - t1) / (t3 - t2) + cube(t3) * (t2 - t1) / (t3 - t2)
    return pd.Series(r / (t3 - t1) ** 2, index=getattr(x, "index", None))


def frame_counts(reg_year: pd.DataFrame, thresholds: config.SizeThresholds) -> pd.Series:
    """Number of municipalities per size class in the register (the population N_h)."""
    cls = size_class(reg_year["population"], thresholds)
    return cls.value_counts().reindex(list(config.SIZE_CLASSES), fill_value=0)


def cronbach_alpha(
    df: pd.DataFrame, items: tuple[str, ...], weights: str | None = None
) -> tuple[float, int]:
    """Cronbach's alpha on complete cases of the items; returns (alpha, n used).

    alpha = k / (k - 1) * (1 - sum of item variances / variance of the item sum), from the
    item covariance matrix (numpy ``cov``); with ``weights``, the survey-weighted covariance
    (``aweights``), so alpha describes the population the weights stand for.
    """
    block = df[list(items) + ([weights] if weights else [])].dropna().astype(float)
    k, n = len(items), len(block)
    if k < 2 or n < 3:
        return float("nan"), n
    w = block[weights].to_numpy() if weights else None
    cov = np.atleast_2d(np.cov(block[list(items)].to_numpy(), rowvar=False, aweights=w))
    return float(k / (k - 1) * (1 - np.trace(cov) / cov.sum())), n


#: The two indices: their items and the least number of answered items.
INDICES: dict[str, tuple[tuple[str, ...], int]] = {
    "change_resistance": (CHANGE_RESISTANCE_ITEMS, 2),
    "maturity": (MATURITY_ITEMS, 3),
}
