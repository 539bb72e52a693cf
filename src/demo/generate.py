"""Synthetic demonstration survey: a documented data-generating process and vendor-style exports.

The real survey microdata is not public. This module writes, deterministically from a
seed and the real municipality register, one raw export per survey year 2015-2019 in
the formats a vendor delivers (semicolon CSV in Windows-1252 with decimal commas, Excel,
SPSS ``.sav`` with value labels), with the quirks of real deliveries, and writes the
true parameters of the process to ``data/demo_truth/`` for tests. The pipeline never
reads the truth. See ``docs/demo_dgp.md`` for the process in prose.

Data-generating process (per survey year *t*, municipality *i*, in the register of *t*):

* ``x = ln(population) - ln(10 000)``.
* Latent change resistance ``R = -0.15 x + u_i + e_it`` with a persistent
  ``u_i ~ N(0, 0.8^2)`` and ``e_it ~ N(0, 0.4^2)``; three 1-5 agreement items are
  ordinal cuts of ``R + N(0, 0.6^2)``. The observed change-resistance index ``CRI`` is the
  mean of the answered items (at least two), centred at 3.
* Binary outcomes: ``logit P = a_t + b_x x + b_c (CRI - 3)``, drawn by systematic sampling
  on these probabilities (each municipality keeps its model probability; totals within a
  size class among respondents are within one of their expectation). Ordinal outcomes:
  cumulative logit with cut points ``k_t`` on ``b_x x + b_c (CRI - 3)``.
* Intercepts and cut points are calibrated, given the drawn respondents, so that the
  expected share among them matches the published figures (2015-2017 trends, 2019 headline figures).
* Sampling: about 100-113 municipalities a year, drawn without replacement with
  probability proportional to ``exp(0.45 ln(pop) + 1.3 v_i)``: larger municipalities and
  those with a high persistent propensity ``v_i`` answer more often and in several years.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import optimize, special

from analysis import config
from analysis.register import Register, load_register, sha256_file
from demo import questionnaire as survey_spec

SEED = 20150101
RESPONDENTS: dict[int, int] = {2015: 113, 2016: 106, 2017: 108, 2018: 103, 2019: 100}
X_CENTRE = float(np.log(10_000))
MANIFEST = "MANIFEST.sha256"
_EDU_CACHE: dict[tuple[int, int], tuple[float, float]] = {}

#: Published (or interpolated, marked) targets for shares among respondents.
TARGETS: dict[str, dict[int, float]] = {
    # published 2015 and 2017 (Computerworld/Infotorg), 2016/2018/2019 interpolated/assumed
    "handlingsplan": {2015: 0.68, 2016: 0.72, 2017: 0.76, 2018: 0.78, 2019: 0.80},
    "forventer_kvalitet": {2015: 0.24, 2016: 0.44, 2017: 0.64, 2018: 0.66, 2019: 0.68},
    "forventer_forenkling": {2015: 0.23, 2016: 0.45, 2017: 0.68, 2018: 0.70, 2019: 0.71},
    # 2019 published 68 %, earlier years assumed
    "barriere_endringsvilje": {2015: 0.62, 2016: 0.63, 2017: 0.65, 2018: 0.66, 2019: 0.68},
    # "steadily more than 50 %" give high or very high priority
    "prioritet_hoy": {2015: 0.53, 2016: 0.55, 2017: 0.57, 2018: 0.59, 2019: 0.61},
}
#: 2019 published: further education programme for ICT staff by size class.
EDU_TARGET_2019 = {"small": 0.22, "medium": 0.34, "large": 0.45}

SLOPES = {  # (b_x, b_c): effect of log population and of the change-resistance index
    "handlingsplan": (0.40, -0.20),
    "forventer_kvalitet": (0.20, -0.30),
    "forventer_forenkling": (0.20, -0.30),
    "barriere_endringsvilje": (-0.10, 1.10),
    "etterutdanning_ikt": (None, -0.35),  # b_x calibrated to the 2019 size-class figures
    "evaluerer_effekt": (0.50, -0.30),
    "prioritet": (0.30, -0.30),
    "suksess_tjenester": (0.45, -0.40),
    "digital_plan_bygg": (0.30, -0.20),
    "digital_sykehjem": (0.30, -0.20),
    "digital_skole": (0.30, -0.20),
    "digital_sosial": (0.30, -0.20),
}
EVALUATE_INTERCEPT = -0.60
SUCCESS_CUTS = [-2.4, -0.9, 0.8, 2.6]
PRIORITY_CUTS = [-3.0, -1.5, 0.0, 2.0]
#: 2015 cumulative shares of the four digital levels (<= level 1, 2, 3), from EVRY 2015
#: for planning/building (10 % all digital, a further 32 % mostly) and nursing homes
#: (49.6 / 38.1 / 11.5 / 0.9 %); school and social services assumed.
DIGITAL_CUM_2015 = {
    "digital_plan_bygg": [0.20, 0.58, 0.90],
    "digital_sykehjem": [0.496, 0.877, 0.991],
    "digital_skole": [0.10, 0.40, 0.85],
    "digital_sosial": [0.30, 0.70, 0.95],
}
DIGITAL_TREND = 0.25  # shift of the latent digital level per year after 2015
P_DONT_KNOW, P_BLANK = 0.04, 0.02

FIRST = [
    "Anne",
    "Bjørn",
    "Camilla",
    "Dag",
    "Eva",
    "Frode",
    "Guro",
    "Hans",
    "Ingrid",
    "Jon",
    "Kari",
    "Lars",
    "Marit",
    "Nils",
    "Ola",
    "Per",
    "Randi",
    "Siri",
    "Tor",
    "Åse",
]
LAST = [
    "Hansen",
    "Johansen",
    "Olsen",
    "Larsen",
    "Andersen",
    "Pedersen",
    "Nilsen",
    "Kristiansen",
    "Jensen",
    "Karlsen",
    "Johnsen",
    "Pettersen",
    "Eriksen",
    "Berg",
    "Haugen",
    "Hagen",
    "Johannessen",
    "Andreassen",
    "Jacobsen",
    "Dahl",
]
COMMENTS = [
    "Vi mangler kapasitet i IKT-avdelingen til å følge opp alle prosjekter.",
    "Interkommunalt samarbeid er avgjørende for oss.",
    "Det er vanskelig å rekruttere folk med riktig kompetanse.",
    "Ansatte i helse og omsorg trenger mer opplæring.",
    "Vi venter på nasjonale fellesløsninger før vi investerer.",
    "Ledelsen er positiv, men økonomien setter grenser.",
]


@dataclass(frozen=True)
class DemoResult:
    """Paths written by :func:`generate`."""

    files: dict[int, Path]
    manifest: Path
    truth: Path


def _ascii_fold(name: str) -> str:
    s = name.replace("æ", "ae").replace("Æ", "Ae").replace("ø", "o").replace("Ø", "O")
    s = s.replace("å", "aa").replace("Å", "Aa")
    return unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode()


_ANCESTORS: dict[tuple[int, int, str], str] = {}


def _ancestor_2015(reg: Register, year: int, code: str) -> str:
    """A stable identity: the smallest 2015 code this year's code descends from (cached)."""
    key = (id(reg), year, code)
    if key not in _ANCESTORS:
        _ANCESTORS[key] = _ancestor_2015_uncached(reg, year, code)
    return _ANCESTORS[key]


def _ancestor_2015_uncached(reg: Register, year: int, code: str) -> str:
    codes = {code}
    for yr in range(year, 2015, -1):
        step = reg.changes[reg.changes["valid_from"] == yr]
        prev: set[str] = set()
        for c in codes:
            rows = step[step["new_kommunenr"] == c]
            prev.update(rows["old_kommunenr"]) if len(rows) else prev.add(c)
        codes = prev
    return min(codes)


def _stable_normal(key: str, salt: str, seed: int) -> float:
    h = hashlib.sha256(f"{seed}:{salt}:{key}".encode()).digest()
    return float(np.random.default_rng(int.from_bytes(h[:8], "little")).standard_normal())


def _ordinal(latent: np.ndarray, cuts: list[float], rng: np.random.Generator) -> np.ndarray:
    """Cumulative-logit draw: category 1..k given latent index and cut points."""
    u = rng.uniform(size=latent.shape)
    y_star = latent + np.log(u / (1 - u))  # standard logistic noise
    return 1 + np.searchsorted(np.asarray(cuts), y_star)


def _systematic_binary(p: np.ndarray, order: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """0/1 draws with P(y_i = 1) = p_i, by systematic sampling along ``order``.

    With one uniform start s, unit k (in order) gets floor(C_k + s) - floor(C_(k-1) + s),
    C the cumulative sum of p. Any run of consecutive units then has a total within one of
    its expectation (less Bernoulli noise, same marginal probabilities).
    """
    c = np.concatenate([[0.0], np.cumsum(p[order])])
    s = rng.uniform()
    y_sorted = np.floor(c[1:] + s) - np.floor(c[:-1] + s)
    y = np.empty_like(p, dtype=int)
    y[order] = y_sorted.astype(int)
    return y


def _expected_share(a: float, lin: np.ndarray, pi: np.ndarray) -> float:
    return float(np.sum(pi * special.expit(a + lin)) / np.sum(pi))


def _calibrate_intercept(target: float, lin: np.ndarray, pi: np.ndarray) -> float:
    return float(optimize.brentq(lambda a: _expected_share(a, lin, pi) - target, -15, 15))


def simulate_year(
    reg: Register, year: int, seed: int = SEED, n: int | None = None, population: bool = False
) -> tuple[pd.DataFrame, dict] | tuple[pd.DataFrame, dict, pd.DataFrame]:
    """Simulate every municipality's answers in ``year`` and draw the respondents.

    Returns the respondents' true (pre-export) answers and the true parameters; with
    ``population=True`` also every municipality's answers (the finite population).
    """
    n = n or RESPONDENTS[year]
    rng = np.random.default_rng([seed, year])
    frame = reg.year(year)
    frame["identity"] = [_ancestor_2015(reg, year, c) for c in frame["kommunenr"]]
    x = np.log(frame["population"].to_numpy(float)) - X_CENTRE
    m = len(frame)
    u = np.array([_stable_normal(k, "resist", seed) for k in frame["identity"]]) * 0.8
    v = np.array([_stable_normal(k, "respond", seed) for k in frame["identity"]])
    latent_r = -0.15 * x + u + rng.normal(0, 0.4, m)
    items = {}
    for name in ("endring_skeptiske", "endring_rutiner", "endring_ledere"):
        items[name] = 1 + np.searchsorted([-1.4, -0.5, 0.4, 1.3], latent_r + rng.normal(0, 0.6, m))
    # item non-response on the index items, then the observed index
    masks = {}
    for name in items:
        r = rng.uniform(size=m)
        masks[name] = np.where(
            r < P_DONT_KNOW, "dk", np.where(r < P_DONT_KNOW + P_BLANK, "blank", "")
        )
    obs = np.column_stack([np.where(masks[k] == "", items[k], np.nan) for k in items]).astype(float)
    n_obs = np.sum(~np.isnan(obs), axis=1)
    cri = np.where(n_obs >= 2, np.nanmean(np.where(n_obs[:, None] >= 1, obs, 0), axis=1), np.nan)
    cri_c = np.where(np.isnan(cri), latent_r, cri - 3)  # latent fill where the index is missing

    # draw the respondents (own random stream): Efraimidis-Spirakis keys give a weighted
    # draw without replacement; calibration then conditions on the drawn respondents
    w = np.exp(0.45 * np.log(frame["population"].to_numpy(float)) + 1.3 * v)
    keys = np.random.default_rng([seed, year, 2]).uniform(size=m) ** (1 / w)
    chosen = np.sort(np.argsort(-keys)[:n])
    pi = np.zeros(m)
    pi[chosen] = 1.0
    truth: dict = {"year": year, "n_respondents": n, "x_centre_ln_population": X_CENTRE}
    out = pd.DataFrame({"kommunenr": frame["kommunenr"], "name": frame["name"]})
    for k, vals in items.items():
        out[k] = vals
    out["_cri_true"] = cri

    cls = np.select(
        [frame["population"] < 5000, frame["population"] < 20000], ["small", "medium"], "large"
    )
    # respondents first, grouped by size class, random order within: a systematic draw along
    # this order keeps each unit's probability and fixes class totals to within one
    order = np.lexsort(
        (rng.uniform(size=m), np.searchsorted(["large", "medium", "small"], cls), pi == 0)
    )

    def binary(name: str, a: float, bx: float, bc: float) -> None:
        out[name] = _systematic_binary(special.expit(a + bx * x + bc * cri_c), order, rng)
        truth[name] = {
            "model": "logit",
            "intercept": a,
            "b_log_population": bx,
            "b_change_resistance_index": bc,
            "b_interaction": 0.0,
        }

    for name in (
        "handlingsplan",
        "forventer_kvalitet",
        "forventer_forenkling",
        "barriere_endringsvilje",
    ):
        bx, bc = SLOPES[name]
        lin = bx * x + bc * cri_c
        binary(name, _calibrate_intercept(TARGETS[name][year], lin, pi), bx, bc)
    # further education programme: calibrate (a, b_x) to the 2019 size-class figures
    bc = SLOPES["etterutdanning_ikt"][1]
    if year == 2019:
        a_edu, bx_edu = _calibrate_education(x, cri_c, cls, pi, bc)
        _EDU_CACHE[(id(reg), seed)] = (a_edu, bx_edu)
    else:
        if (id(reg), seed) not in _EDU_CACHE:
            simulate_year(reg, 2019, seed)
        a_edu, bx_edu = _EDU_CACHE[(id(reg), seed)]
    binary("etterutdanning_ikt", a_edu - 0.10 * (2019 - year), bx_edu, bc)
    bx, bc = SLOPES["evaluerer_effekt"]
    binary("evaluerer_effekt", EVALUATE_INTERCEPT + 0.05 * (year - 2016), bx, bc)

    def ordinal(
        name: str, cuts: list[float], shift: float, extra: np.ndarray | float = 0.0
    ) -> None:
        bx, bc = SLOPES[name]
        out[name] = _ordinal(bx * x + bc * cri_c + extra, [c - shift for c in cuts], rng)
        truth[name] = {
            "model": "ordered logit",
            "cut_points": [c - shift for c in cuts],
            "b_log_population": bx,
            "b_change_resistance_index": bc,
        }

    bx, bc = SLOPES["prioritet"]
    lin = bx * x + bc * cri_c
    target = TARGETS["prioritet_hoy"][year]
    shift = float(
        optimize.brentq(lambda s: _expected_share(s - PRIORITY_CUTS[2], lin, pi) - target, -10, 10)
    )
    ordinal("prioritet", PRIORITY_CUTS, shift)
    ordinal("suksess_tjenester", SUCCESS_CUTS, 0.1 * (year - 2015))
    # a persistent digital-maturity trait shared by the four service areas
    maturity = np.array([_stable_normal(k, "maturity", seed) for k in frame["identity"]]) * 1.2
    maturity = maturity + rng.normal(0, 0.3, m)
    for name, cum in DIGITAL_CUM_2015.items():
        bx, bc = SLOPES[name]
        lin = bx * x + bc * cri_c + maturity
        cuts = [-_calibrate_intercept(1 - c, lin, pi) for c in cum]  # P(y > j) = 1 - cum_j
        ordinal(name, cuts, DIGITAL_TREND * (year - 2015), maturity)
        truth[name]["maturity_trait_sd"] = 1.2
    out["rolle"] = rng.choice(len(survey_spec.ROLES), size=m, p=[0.4, 0.4, 0.2])
    out["ikt_andel_budsjett"] = np.round(np.exp(np.log(2.5) + 0.05 * x + rng.normal(0, 0.35, m)), 1)
    for name, mask in masks.items():
        out[name + "_mask"] = mask
    out["size_class_default"] = cls
    sample = out.iloc[chosen].reset_index(drop=True)
    truth["sampling"] = {"weight": "exp(0.45 ln(pop) + 1.3 v_i)", "frame_size": m}
    return (sample, truth, out) if population else (sample, truth)


def _calibrate_education(
    x: np.ndarray, cri_c: np.ndarray, cls: np.ndarray, pi: np.ndarray, bc: float
) -> tuple[float, float]:
    """(intercept, b_x) so that the expected 2019 shares by size class match 22/34/45 %."""

    def resid(p: np.ndarray) -> np.ndarray:
        pr = special.expit(p[0] + p[1] * x + bc * cri_c)
        return np.array(
            [
                np.sum(pi[cls == k] * pr[cls == k]) / np.sum(pi[cls == k]) - t
                for k, t in EDU_TARGET_2019.items()
            ]
        )

    sol = optimize.least_squares(resid, x0=[-1.0, 0.3])
    return float(sol.x[0]), float(sol.x[1])


def _name_variant(name: str, rng: np.random.Generator) -> str:
    if "(" in name:
        return name  # disambiguated names keep their suffix
    base = name.split(" - ")[-1] if " - " in name and rng.uniform() < 0.5 else name
    r = rng.uniform()
    if r < 0.55:
        return base
    if r < 0.70:
        return f"{base} kommune"
    if r < 0.80:
        return base.upper()
    if r < 0.90:
        return _ascii_fold(base)
    return f"  {base.lower()} "


def _blank(df: pd.DataFrame, rows: pd.Index | list, cols: list[str]) -> None:
    """Blank answers in place (NaN for numeric columns, None for labels)."""
    for c in cols:
        df.loc[rows, c] = np.nan if pd.api.types.is_float_dtype(df[c]) else None


def _to_labels(sample: pd.DataFrame, year: int, rng: np.random.Generator) -> pd.DataFrame:
    """True codes -> answer labels, with 'Vet ikke' and blanks; one column per variable name."""
    out = pd.DataFrame(index=sample.index)
    for name, (vtype, labels, per_year) in survey_spec.VARIABLES.items():
        if year not in per_year:
            continue
        vals = sample[name].to_numpy()
        if vtype == "numeric":
            col = pd.Series(vals, dtype="float64")
            col[rng.uniform(size=len(col)) < 0.10] = np.nan
            out[name] = col
            continue
        if vtype == "binary":
            lab = np.array([labels[int(v)] for v in vals], dtype=object)
        elif vtype == "nominal":
            lab = np.array([labels[int(v)] for v in vals], dtype=object)
        else:
            lab = np.array([labels[int(v) - 1] for v in vals], dtype=object)
        if name + "_mask" in sample:
            mask = sample[name + "_mask"].to_numpy()
        elif vtype == "nominal":
            mask = np.where(rng.uniform(size=len(vals)) < 0.01, "blank", "")
        else:
            r = rng.uniform(size=len(vals))
            mask = np.where(r < P_DONT_KNOW, "dk", np.where(r < P_DONT_KNOW + P_BLANK, "blank", ""))
        lab[mask == "dk"] = survey_spec.DONT_KNOW
        lab[mask == "blank"] = None
        out[name] = lab
    return out


def build_export(reg: Register, year: int, seed: int = SEED) -> tuple[pd.DataFrame, dict]:
    """The vendor's export for ``year`` as a frame with canonical names, plus the truth."""
    sample, truth = simulate_year(reg, year, seed)
    rng = np.random.default_rng([seed, year, 1])
    answers = _to_labels(sample, year, rng)
    n = len(sample)
    # partial completes: four respondents stopped part-way
    status = np.array([survey_spec.STATUS_LABELS[0]] * n, dtype=object)
    partial = rng.choice(n, size=4, replace=False)
    cols = list(answers.columns)
    for i in partial:
        stop = int(rng.integers(len(cols) // 2, len(cols) - 1))
        _blank(answers, [i], cols[stop:])
        status[i] = survey_spec.STATUS_LABELS[1]
    export = answers.copy()
    export.insert(0, "kommunenr", sample["kommunenr"].to_numpy())
    export.insert(1, "kommunenavn", [_name_variant(nm, rng) for nm in sample["name"]])
    export.insert(2, "status", status)
    export["rolle"] = export["rolle"]
    first = rng.choice(FIRST, size=n)
    last = rng.choice(LAST, size=n)
    export["navn"] = [f"{f} {la}" for f, la in zip(first, last, strict=True)]
    slug = [
        _ascii_fold(s.split(" - ")[-1].split(" (")[0]).lower().replace(" ", "")
        for s in sample["name"]
    ]
    export["epost"] = [
        f"{_ascii_fold(f).lower()}.{_ascii_fold(la).lower()}@{s}.kommune.no"
        for f, la, s in zip(first, last, slug, strict=True)
    ]
    export["kommentar"] = [
        str(rng.choice(COMMENTS)) if rng.uniform() < 0.3 else None for _ in range(n)
    ]
    start = pd.Timestamp(f"{year}-02-01 08:00")
    export["innsendt"] = [
        start + pd.Timedelta(minutes=int(m_))
        for m_ in np.sort(rng.integers(0, 60 * 24 * 40, size=n))
    ]
    # a duplicate submission: an earlier partial attempt by an already sampled municipality
    dup_src = int(rng.integers(0, n))
    dup = export.iloc[[dup_src]].copy()
    dup["innsendt"] = dup["innsendt"] - pd.Timedelta(days=3)
    dup["status"] = survey_spec.STATUS_LABELS[1]
    flip = [c for c in ("handlingsplan", "forventer_kvalitet") if c in dup]
    for c in flip:
        dup[c] = "Nei" if dup[c].iloc[0] == "Ja" else "Ja"
    _blank(dup, dup.index, cols[len(cols) // 2 :])
    # an abandoned questionnaire: a municipality that opened the survey and answered nothing
    frame = reg.year(year)
    unsampled = frame[~frame["kommunenr"].isin(sample["kommunenr"])].iloc[int(rng.integers(0, 50))]
    empty = pd.DataFrame({c: [None] for c in export.columns})
    empty["kommunenr"] = unsampled["kommunenr"]
    empty["kommunenavn"] = unsampled["name"]
    empty["status"] = survey_spec.STATUS_LABELS[1]
    empty["innsendt"] = start + pd.Timedelta(days=20)
    empty["navn"], empty["epost"], empty["kommentar"] = "Test Testesen", None, None
    export = pd.concat([export, dup, empty], ignore_index=True)
    export = export.sort_values("innsendt", kind="stable").reset_index(drop=True)
    export.insert(0, "respondent_id", np.arange(1, len(export) + 1) + year * 1000)
    truth["raw_rows"] = len(export)
    truth["duplicate_of"] = str(sample["kommunenr"].iloc[dup_src])
    truth["abandoned"] = str(unsampled["kommunenr"])
    truth["respondents"] = sorted(sample["kommunenr"].tolist())
    return export, truth


def _vendor_frame(export: pd.DataFrame, year: int, fmt: str) -> pd.DataFrame:
    """Rename canonical columns to the year's vendor headers and apply the format's quirks."""
    cols: dict[str, str] = {}
    for name, headers in survey_spec.META.items():
        if year in headers:
            cols[name] = headers[year]
    for name, (_, _, per_year) in survey_spec.VARIABLES.items():
        if year in per_year:
            header, sav_name, _ = per_year[year]
            cols[name] = sav_name if fmt == "sav" else header
    df = export[[c for c in export.columns if c in cols]].rename(columns=cols)
    knr = cols.get("kommunenr")
    if knr and fmt == "xlsx" and year == 2016:
        df[knr] = df[knr].astype(int)  # Excel turns "0301" into 301
    for name, (vtype, _, _years) in survey_spec.VARIABLES.items():
        if vtype == "numeric" and name in cols:
            df[cols[name]] = pd.to_numeric(df[cols[name]]).astype("float64")
    innsendt = cols["innsendt"]
    df[innsendt] = pd.to_datetime(df[innsendt]).dt.strftime("%d.%m.%Y %H:%M")
    return df


def _write_sav(df: pd.DataFrame, year: int, path: Path) -> None:
    import pyreadstat

    value_labels: dict[str, dict[float, str]] = {}
    column_labels: list[str] = []
    out = pd.DataFrame(index=df.index)
    by_sav = {
        per_year[year][1]: (name, vtype, labels, per_year[year][2])
        for name, (vtype, labels, per_year) in survey_spec.VARIABLES.items()
        if year in per_year
    }
    meta_labels = {
        "resp_id": "Respondent-ID",
        "innsendt": "Tidspunkt for innsending",
        "status": "Status",
        "knr": "Kommunenummer",
        "navn": "Navn",
        "epost": "E-post",
        "fritekst": "Kommentar (fritekst)",
    }
    for col in df.columns:
        if col in by_sav:
            name, vtype, labels, text = by_sav[col]
            column_labels.append(text)
            if vtype == "numeric":
                out[col] = df[col].astype(float)
                continue
            if vtype == "binary":
                codes = {"Ja": 1.0, "Nei": 2.0}
            else:
                codes = {lab: float(i + 1) for i, lab in enumerate(labels)}
            codes[survey_spec.DONT_KNOW] = 9.0
            out[col] = df[col].map(codes).astype(float)
            value_labels[col] = {v: k for k, v in codes.items()}
        else:
            column_labels.append(meta_labels[col])
            out[col] = df[col].astype(float) if col in ("knr", "resp_id") else df[col].fillna("")
    pyreadstat.write_sav(
        out, str(path), column_labels=column_labels, variable_value_labels=value_labels
    )


def _fix_zip_times(path: Path, year: int) -> None:
    """Rewrite an .xlsx (zip) with fixed entry times so that regeneration is byte-identical."""
    import zipfile

    with zipfile.ZipFile(path) as zin:
        entries = [(i.filename, zin.read(i.filename)) for i in zin.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for name, data in entries:
            if name == "docProps/core.xml":  # openpyxl stamps the save time as 'modified'
                data = re.sub(
                    rb"(<dcterms:modified[^>]*>)[^<]*",
                    rb"\g<1>" + f"{year}-04-01T00:00:00Z".encode(),
                    data,
                )
            info = zipfile.ZipInfo(name, date_time=(year, 4, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zout.writestr(info, data)


def _fix_sav_time(path: Path, year: int) -> None:
    """Set the SPSS header's creation date and time (bytes 92-108) to a fixed value."""
    data = bytearray(path.read_bytes())
    if data[:4] != b"$FL2":
        raise ValueError(f"{path} is not an SPSS .sav file")
    data[92:109] = f"01 Apr {year % 100:02d}00:00:00".encode("ascii")
    path.write_bytes(bytes(data))


def write_export(df: pd.DataFrame, year: int, fmt: str, raw_dir: Path) -> Path:
    """Write one year's vendor frame in its delivery format; returns the path."""
    path = raw_dir / f"kommuneundersokelsen_{year}.{fmt}"
    if fmt == "csv":
        text = df.to_csv(
            sep=";", decimal=",", index=False, lineterminator="\r\n" if year == 2018 else "\n"
        )
        path.write_bytes(text.encode("cp1252"))
    elif fmt == "xlsx":
        with pd.ExcelWriter(path, engine="openpyxl") as xw:
            df.to_excel(xw, index=False, sheet_name=f"Svar {year}")
            xw.book.properties.created = pd.Timestamp(f"{year}-04-01").to_pydatetime()
            xw.book.properties.modified = pd.Timestamp(f"{year}-04-01").to_pydatetime()
        _fix_zip_times(path, year)
    elif fmt == "sav":
        _write_sav(df, year, path)
        _fix_sav_time(path, year)
    else:
        raise ValueError(f"unknown format {fmt}")
    return path


def generate(
    raw_dir: Path = config.RAW_DIR,
    truth_dir: Path = config.DEMO_TRUTH_DIR,
    register_dir: Path | None = None,
    seed: int = SEED,
    years: tuple[int, ...] = survey_spec.YEARS,
) -> DemoResult:
    """Write the demo exports, their checksum manifest and the true parameters."""
    reg = load_register(register_dir)
    raw_dir, truth_dir = Path(raw_dir), Path(truth_dir)
    raw_dir.mkdir(parents=True, exist_ok=True)
    truth_dir.mkdir(parents=True, exist_ok=True)
    files, truths = {}, {}
    for year in years:
        export, truth = build_export(reg, year, seed)
        fmt = survey_spec.FORMATS[year]
        files[year] = write_export(_vendor_frame(export, year, fmt), year, fmt, raw_dir)
        truths[str(year)] = truth
    (raw_dir / "DELIVERY.json").write_text(
        json.dumps(
            {
                "synthetic": True,
                "generator": "analysis.demo",
                "seed": seed,
                "description": "Synthetic demonstration survey; see docs/demo_dgp.md",
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    manifest = raw_dir / MANIFEST
    manifest.write_text(
        "".join(
            f"{sha256_file(p)}  {p.name}\n" for p in sorted(raw_dir.glob("kommuneundersokelsen_*"))
        ),
        encoding="utf-8",
    )
    truth_path = truth_dir / "parameters.json"
    truth_path.write_text(
        json.dumps(
            {"seed": seed, "register_checksums": reg.checksums, "years": truths},
            indent=2,
            ensure_ascii=False,
        )
        + "\n",
        encoding="utf-8",
    )
    return DemoResult(files=files, manifest=manifest, truth=truth_path)
