"""Fetch the register tables from Statistics Norway's open APIs.

* Population on 1 January: StatBank table 07459 through the PxWebApi (v0), JSON-stat 2.0.
* Municipality names per year: Klass classification 131, ``codesAt``.
* Code changes: Klass classification 131, ``changes``.

The results are written in the format of the register snapshot (see
:mod:`analysis.register`) with a ``SHA256SUMS`` file, so that a fetched folder can be
given as ``REGISTER_SNAPSHOT``. The HTTP layer is a small injectable function so that the
parsing is tested against hand-written response fixtures without network.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis import register

PXWEB_URL = "https://data.ssb.no/api/v0/no/table/07459"
KLASS_URL = "https://data.ssb.no/api/klass/v1/classifications/131"

#: ``http(method, url, params, json_body) -> parsed JSON``
HttpFn = Callable[[str, str, dict | None, dict | None], Any]


def requests_http(method: str, url: str, params: dict | None, body: dict | None) -> Any:
    """Default HTTP function (``requests``), 60 s time-out, raises on HTTP errors."""
    import requests

    resp = requests.request(
        method, url, params=params, json=body, timeout=60, headers={"Accept": "application/json"}
    )
    resp.raise_for_status()
    return resp.json()


def population_query(years: list[int]) -> dict:
    """PxWebApi query for residents on 1 January (``Personer1``), all regions, summed over age and sex."""
    return {
        "query": [
            {"code": "Region", "selection": {"filter": "all", "values": ["*"]}},
            {"code": "ContentsCode", "selection": {"filter": "item", "values": ["Personer1"]}},
            {"code": "Tid", "selection": {"filter": "item", "values": [str(y) for y in years]}},
        ],
        "response": {"format": "json-stat2"},
    }


def jsonstat2_to_frame(obj: dict) -> pd.DataFrame:
    """Flatten a JSON-stat 2.0 dataset into one row per cell (category codes and ``value``)."""
    if obj.get("class") != "dataset" or "id" not in obj or "value" not in obj:
        raise ValueError("not a JSON-stat 2.0 dataset (needs class='dataset', id, value)")
    ids: list[str] = obj["id"]
    sizes: list[int] = obj["size"]
    codes = []
    for dim, size in zip(ids, sizes, strict=True):
        index = obj["dimension"][dim]["category"]["index"]
        if isinstance(index, list):
            ordered = index
        else:
            ordered = [c for c, _ in sorted(index.items(), key=lambda kv: kv[1])]
        if len(ordered) != size:
            raise ValueError(f"dimension {dim}: {len(ordered)} categories but size {size}")
        codes.append(ordered)
    n = int(np.prod(sizes))
    values = obj["value"]
    if isinstance(values, dict):  # sparse form {"index": value}
        dense = [None] * n
        for k, v in values.items():
            dense[int(k)] = v
        values = dense
    if len(values) != n:
        raise ValueError(f"JSON-stat value has {len(values)} cells, dimensions give {n}")
    rows = list(itertools.product(*codes))  # row-major, last dimension fastest
    df = pd.DataFrame(rows, columns=ids)
    df["value"] = pd.to_numeric(pd.Series(values, dtype="object"), errors="coerce")
    return df


def parse_klass_codes(obj: dict) -> pd.DataFrame:
    """Municipality codes and names from a Klass ``codesAt`` response (``9999 Uoppgitt`` dropped)."""
    codes = pd.DataFrame(obj["codes"])
    codes = codes[(codes["level"].astype(str) == "1") & (codes["code"] != "9999")]
    return codes[["code", "name"]].rename(columns={"code": "kommunenr"}).reset_index(drop=True)


def classify_changes(ch: pd.DataFrame) -> pd.Series:
    """Change type within one ``valid_from`` year: split, merger, code_change or name_change."""
    out = []
    for _, r in ch.iterrows():
        same_year = ch[ch["valid_from"] == r["valid_from"]]
        n_new = (same_year["old_kommunenr"] == r["old_kommunenr"]).sum()
        n_old = (same_year["new_kommunenr"] == r["new_kommunenr"]).sum()
        if n_new > 1:
            out.append("split")
        elif n_old > 1:
            out.append("merger")
        elif r["old_kommunenr"] != r["new_kommunenr"]:
            out.append("code_change")
        else:
            out.append("name_change")
    return pd.Series(out, index=ch.index, dtype="object")


def parse_klass_changes(obj: dict, first_year: int, last_year: int) -> pd.DataFrame:
    """Klass ``changes`` response -> the snapshot's ``municipality_changes.csv`` table."""
    raw = pd.DataFrame(obj.get("codeChanges", []))
    if raw.empty:
        return pd.DataFrame(columns=register.CHANGES_COLUMNS)
    ch = pd.DataFrame(
        {
            "old_kommunenr": raw["oldCode"].astype(str),
            "old_name": raw["oldName"],
            "new_kommunenr": raw["newCode"].astype(str),
            "new_name": raw["newName"],
            "valid_from": pd.to_datetime(raw["changeOccurred"]).dt.year.astype("int64"),
        }
    )
    ch = ch[(ch["valid_from"] > first_year) & (ch["valid_from"] <= last_year)].copy()
    ch["change_type"] = classify_changes(ch)
    return ch.sort_values(["valid_from", "new_kommunenr", "old_kommunenr"]).reset_index(drop=True)


def fetch_register(out_dir: Path, years: list[int], http: HttpFn = requests_http) -> Path:
    """Fetch population (07459) and Klass 131 names/changes for ``years`` into ``out_dir``.

    Writes ``municipalities_population.csv``, ``municipality_changes.csv`` and ``SHA256SUMS``.
    Each year keeps exactly the codes valid in Klass on 1 January; a code without
    population raises an error rather than being dropped.
    """
    years = sorted(years)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cube = jsonstat2_to_frame(http("POST", PXWEB_URL, None, population_query(years)))
    cube = cube[cube["Region"].str.fullmatch(r"\d{4}")]
    frames = []
    for year in years:
        names = parse_klass_codes(
            http("GET", f"{KLASS_URL}/codesAt.json", {"date": f"{year}-01-01"}, None)
        )
        pop = cube[cube["Tid"] == str(year)][["Region", "value"]].rename(
            columns={"Region": "kommunenr"}
        )
        merged = names.merge(pop, on="kommunenr", how="left")
        lacking = merged[merged["value"].isna()]
        if len(lacking):
            raise register.RegisterError(
                f"07459 has no population for {year} code(s) {lacking['kommunenr'].tolist()[:5]}"
            )
        merged["year"] = year
        merged["county_nr"] = merged["kommunenr"].str[:2]
        merged["population"] = merged["value"].astype("int64")
        frames.append(merged[register.POPULATION_COLUMNS])
    pop_all = pd.concat(frames).sort_values(["year", "kommunenr"])
    pop_all.to_csv(out_dir / register.POPULATION_FILE, index=False, lineterminator="\n")
    changes = parse_klass_changes(
        http(
            "GET",
            f"{KLASS_URL}/changes.json",
            {"from": f"{years[0]}-01-02", "to": f"{years[-1]}-01-02"},
            None,
        ),
        years[0],
        years[-1],
    )
    changes.to_csv(out_dir / register.CHANGES_FILE, index=False, lineterminator="\n")
    register.write_checksums(out_dir)
    (out_dir / "PROVENANCE.json").write_text(
        json.dumps(
            {
                "population": f"SSB StatBank 07459 via {PXWEB_URL} (Personer1, summed over age and sex)",
                "names": f"SSB Klass 131 {KLASS_URL}/codesAt.json",
                "changes": f"SSB Klass 131 {KLASS_URL}/changes.json",
                "years": years,
                "fetched_at": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
                "licence": "NLOD 2.0, Statistisk sentralbyrå (SSB)",
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    return out_dir
