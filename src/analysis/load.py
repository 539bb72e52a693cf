"""The analyst's entry point: the weighted respondent table of a year, or of all years.

>>> from analysis import load
>>> d = load.year(2019)              # weighted respondents of 2019 (pandas DataFrame)
>>> load.dictionary(d)               # what every column means

``load.survey(...)`` returns a :class:`Survey` for other inputs (another processed folder,
register snapshot or size thresholds); the notebooks use it with their parameters. The
processed tables come from the ingest step (``notebooks/01_ingest.ipynb``, ``make report``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd

from analysis import config, derive, processed, trends, weights
from analysis.codebook import Codebook, load_codebook
from analysis.register import Register, load_register

#: Columns the pipeline adds to the survey variables (see :func:`dictionary`).
DERIVED_COLUMNS: dict[str, tuple[str, str]] = {
    "year": ("int", "survey year"),
    "kommunenr": ("str", "municipality number valid on 1 January of the survey year"),
    "population": ("int", "inhabitants on 1 January of the survey year (SSB table 07459)"),
    "county_nr": ("str", "county number of the survey year"),
    "region": ("str", "region (landsdel) of the county; raking margin and control"),
    "size_class": ("category", "small / medium / large by the size thresholds"),
    "complete": ("bool", "the export marks the submission as complete"),
    "ln_pop_c": ("float", "ln(population) - ln(10 000): log size centred at 10 000 inhabitants"),
    "change_resistance": ("float", "change-resistance index: mean of 3 items (1-5), >= 2 answered"),
    "cri_c": ("float", "change-resistance index - 3 (centred at the scale midpoint)"),
    "maturity": ("float", "digital-maturity index: mean of 4 service areas (1-4), >= 3 answered"),
    "prioritet_hoy": ("0/1", "digitalisation has high or very high priority (prioritet >= 4)"),
    "suksess_topp2": ("0/1", "succeeds to a large or very large extent (suksess_tjenester >= 4)"),
    "N_h": ("float", "municipalities in the size class in the register (stratum size, FPC)"),
    "w_base": ("float", "base weight N_h / n_h"),
    "w": ("float", "final weight: calibrated to the register (bands, region, ln(population))"),
    "size_band": ("str", "population band the weights are raked to ('lo-hi', hi exclusive)"),
    "region_cell": ("str", "raking cell of the region: the region, or regions merged with '+'"),
    "cal_size": ("str", "calibration cell of the population-band margin: '<year>:<band>'"),
    "cal_region": ("str", "calibration cell of the region margin: '<year>:<region>' ('*': none)"),
    "cal_class": ("str", "group of the ln(population) total: '<year>:<size class>'"),
    "cal_lnpop": ("float", "ln(population), calibrated to its register total (0: not calibrated)"),
    "panel_id": ("str", "municipality code in the last survey year (follows mergers)"),
    "panel_mapping": ("str", "how the code was mapped to panel_id"),
}
PRIVATE_COLUMNS = ("respondent_id", "source_file", "source_row", "kommunenavn")


@dataclass
class Survey:
    """All survey years of a delivery, weighted to the register and ready for analysis."""

    processed_dir: Path = config.PROCESSED_DIR
    register_snapshot: Path | None = None
    thresholds: config.SizeThresholds = field(default_factory=config.SizeThresholds)
    codebook_path: Path = config.CODEBOOK_PATH

    @cached_property
    def _processed(self) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
        return processed.load_processed(self.processed_dir)

    @cached_property
    def register(self) -> Register:
        """The verified register snapshot."""
        return load_register(self.register_snapshot)

    @cached_property
    def codebook(self) -> Codebook:
        """The codebook (labels, questions, series breaks)."""
        return load_codebook(self.codebook_path)

    @property
    def meta(self) -> dict:
        """Ingest metadata: delivery, row accounting, input checksums, years."""
        return self._processed[3]

    @property
    def item_missing(self) -> pd.DataFrame:
        """Valid, "Vet ikke" and blank answers per year and item (counts)."""
        return self._processed[2]

    @property
    def synthetic(self) -> bool:
        """Whether the delivery is the synthetic demonstration survey."""
        return bool(self.meta.get("delivery", {}).get("synthetic", False))

    @cached_property
    def _weighted(self) -> tuple[pd.DataFrame, dict[int, weights.Weighting]]:
        return weight_all(self._processed[0], self.register, self.thresholds)

    @property
    def years(self) -> list[int]:
        """Survey years in the data."""
        return sorted(int(y) for y in self._processed[0]["year"].unique())

    @cached_property
    def _by_year(self) -> dict[int, tuple[pd.DataFrame, weights.Weighting]]:
        return {}

    def _one_year(self, year: int) -> tuple[pd.DataFrame, weights.Weighting]:
        """One year weighted alone, as :func:`weight_all` weights it (a year page needs no
        other year; the panel ids still map to the last year of the data)."""
        if year not in self.years:
            raise ValueError(
                f"no respondents for {year} in {self.processed_dir}; years: {self.years}"
            )
        if "_weighted" in self.__dict__:
            d, diag = self._weighted
            return d[d["year"] == year].reset_index(drop=True), diag[year]
        if year not in self._by_year:
            resp = self._processed[0]
            d, diag = weight_all(
                resp[resp["year"] == year], self.register, self.thresholds, max(self.years)
            )
            self._by_year[year] = (d, diag[year])
        return self._by_year[year]

    def all_years(self) -> pd.DataFrame:
        """Weighted respondents of every year (a copy), with ``panel_id`` across reforms."""
        return self._weighted[0].copy()

    def year(self, year: int) -> pd.DataFrame:
        """Weighted respondents of one survey year (a copy)."""
        return self._one_year(year)[0].copy()

    def weighting(self, year: int) -> weights.Weighting:
        """Weighting diagnostics of a year: targets against achieved, weight range, Kish."""
        return self._one_year(year)[1]

    def register_year(self, year: int) -> pd.DataFrame:
        """The register of a survey year (municipalities, population, region)."""
        return self.register.year(year)


def weight_all(
    respondents: pd.DataFrame,
    register: Register,
    thresholds: config.SizeThresholds,
    panel_year: int | None = None,
) -> tuple[pd.DataFrame, dict[int, weights.Weighting]]:
    """Derived variables, design columns and calibrated weights of every year, ``panel_id`` across
    the reforms (the codes of ``panel_year``, default the last year); private columns dropped.
    Returns the table and each year's diagnostics."""
    parts, diag = [], {}
    for y in sorted(respondents["year"].unique()):
        d = derive.add_derived(respondents[respondents["year"] == y], thresholds)
        w = weights.weight_year(d, register.year(int(y)), thresholds)
        parts.append(w.data)
        diag[int(y)] = w
    allw = trends.add_panel_id(pd.concat(parts, ignore_index=True), register, panel_year)
    allw["size_class"] = pd.Categorical(
        allw["size_class"].astype(str), categories=list(config.SIZE_CLASSES), ordered=True
    )
    return allw.drop(columns=[c for c in PRIVATE_COLUMNS if c in allw]), diag


def survey(
    processed_dir: str | Path = config.PROCESSED_DIR,
    register_snapshot: str | Path | None = None,
    medium: int = config.DEFAULT_SIZE_THRESHOLDS[0],
    large: int = config.DEFAULT_SIZE_THRESHOLDS[1],
    codebook: str | Path = config.CODEBOOK_PATH,
) -> Survey:
    """A :class:`Survey` from parameters as the notebooks hold them (paths may be relative
    to the project root; an empty register snapshot means the default one)."""
    return Survey(
        processed_dir=config.resolve(processed_dir),
        register_snapshot=config.resolve(register_snapshot) if register_snapshot else None,
        thresholds=config.SizeThresholds(medium, large),
        codebook_path=config.resolve(codebook),
    )


_DEFAULT: dict[str, Survey] = {}


def year(year: int) -> pd.DataFrame:
    """Weighted respondents of ``year`` from the default inputs (see :func:`survey`)."""
    return _DEFAULT.setdefault("s", survey()).year(year)


def all_years() -> pd.DataFrame:
    """Weighted respondents of every year from the default inputs."""
    return _DEFAULT.setdefault("s", survey()).all_years()


def dictionary(df: pd.DataFrame | None = None, codebook: Codebook | None = None) -> pd.DataFrame:
    """Data dictionary of the respondent table: column, type, description, values.

    Survey items are described by the codebook (label, answer codes); derived and design
    columns by :data:`DERIVED_COLUMNS`.
    """
    codebook = codebook or load_codebook(config.CODEBOOK_PATH)
    cols = list(df.columns) if df is not None else [*DERIVED_COLUMNS, *codebook.variables]
    rows = []
    for c in cols:
        if c in codebook.variables:
            v = codebook.variables[c]
            values = "; ".join(f"{code} = {lab}" for lab, code in v.values.items())
            if v.range:
                values = f"{v.range[0]:g} to {v.range[1]:g}"
            rows.append(
                {"column": c, "type": v.type, "description": v.label.get("en", c), "values": values}
            )
        elif c in DERIVED_COLUMNS:
            t, desc = DERIVED_COLUMNS[c]
            rows.append({"column": c, "type": t, "description": desc, "values": ""})
        else:
            rows.append(
                {
                    "column": c,
                    "type": str(df[c].dtype) if df is not None else "",
                    "description": "",
                    "values": "",
                }
            )
    return pd.DataFrame(rows)
