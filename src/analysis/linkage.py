"""Linking answers to the register: municipality numbers and names, old codes after reforms."""

from __future__ import annotations

import difflib
import re
import unicodedata

import pandas as pd

from analysis import config
from analysis.processed import R_AMBIGUOUS_NAME, R_SPLIT, R_UNKNOWN_NAME
from analysis.register import Register, size_class


def name_key(name: str) -> str:
    """Matching key for a municipality name: folded to ASCII, without 'kommune' and punctuation."""
    s = str(name).casefold().strip()
    s = s.replace("æ", "ae").replace("ø", "o").replace("å", "a").replace("aa", "a")
    s = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode()
    s = re.sub(r"\bkommune\b", " ", s)
    s = re.sub(r"[^a-z0-9()]+", " ", s)
    return re.sub(r"\s+", " ", s).strip()


class MunicipalityMatcher:
    """Resolve municipality numbers and names against one year's register."""

    def __init__(self, reg_year: pd.DataFrame, year: int, reg: Register | None = None) -> None:
        self.year = year
        self.old: dict[str, list[str]] = {}  # old code -> successors valid in ``year``
        self.old_keys: dict[str, set[str]] = {}  # old name key -> old codes
        self.old_names: dict[str, tuple[str, int]] = {}  # old code -> (name, year it ended)
        if reg is not None:
            ch = reg.changes[
                (reg.changes["valid_from"] <= year)
                & (reg.changes["valid_from"] >= reg.years[0] + 1)
            ]
            for r in ch.itertuples(index=False):
                if r.old_kommunenr in set(reg_year["kommunenr"]) and r.old_name == r.new_name:
                    continue
                self.old[r.old_kommunenr] = reg.successors(
                    r.old_kommunenr, int(r.valid_from) - 1, year
                )
                self.old_names[r.old_kommunenr] = (r.old_name, int(r.valid_from))
                self.old_keys.setdefault(name_key(r.old_name), set()).add(r.old_kommunenr)
        self.codes = set(reg_year["kommunenr"])
        self.names = dict(zip(reg_year["kommunenr"], reg_year["name"], strict=True))
        keys: dict[str, set[str]] = {}
        for code, name in self.names.items():
            variants = {name}
            variants.update(p.strip() for p in name.split(" - "))
            for v in list(variants):
                variants.add(re.sub(r"\s*\(.*\)\s*", "", v))
            for v in variants:
                keys.setdefault(name_key(v), set()).add(code)
        self.keys = keys

    def by_number(self, raw: object) -> tuple[str | None, str]:
        """(code, note) for a raw number; code None if not valid in the year."""
        text = str(raw).strip()
        if re.fullmatch(r"\d+\.0+", text):
            text = text.split(".")[0]
        if not re.fullmatch(r"\d{1,4}", text):
            return None, f"{raw!r} is not a municipality number"
        code = text.zfill(4)
        note = f"number {text} zero-padded to {code}" if code != text else ""
        if code not in self.codes:
            if code in self.old:
                return self._successor(code, f"number {code}")
            return None, f"{code} is not a municipality code valid on 1 January {self.year}"
        return code, note

    def _successor(self, old_code: str, what: str) -> tuple[str | None, str]:
        succ = self.old[old_code]
        name, yr = self.old_names[old_code]
        if len(succ) == 1:
            return succ[0], (
                f"{what} ({name}, changed {yr}) mapped to its successor "
                f"{succ[0]} {self.names.get(succ[0], '')}"
            )
        return None, f"{what} ({name}) was split in {yr} into {succ}; the answer cannot be assigned"

    def by_name(self, raw: object) -> tuple[str | None, str, str]:
        """(code, note, reason) for a raw name; code None with a reason if unresolved."""
        key = name_key(str(raw))
        hits = self.keys.get(key, set())
        if len(hits) == 1:
            code = next(iter(hits))
            exact = str(raw).strip() == self.names[code]
            return (
                code,
                "" if exact else f"name {str(raw).strip()!r} matched {self.names[code]!r}",
                "",
            )
        if len(hits) > 1:
            names = sorted(self.names[c] for c in hits)
            return None, f"{str(raw).strip()!r} matches {names}", R_AMBIGUOUS_NAME
        old_codes = self.old_keys.get(key, set())
        if old_codes:
            succ = sorted({c for oc in old_codes for c in self.old[oc]})
            if len(succ) == 1:
                code, note = self._successor(sorted(old_codes)[0], f"old name {str(raw).strip()!r}")
                return code, note, ""
            return (
                None,
                f"old name {str(raw).strip()!r} maps to several municipalities {succ}",
                R_SPLIT,
            )
        close = difflib.get_close_matches(key, list(self.keys), n=2, cutoff=0.88)
        if len(close) == 1 and len(self.keys[close[0]]) == 1:
            code = next(iter(self.keys[close[0]]))
            return code, f"name {str(raw).strip()!r} approximately matched {self.names[code]!r}", ""
        return (
            None,
            f"{str(raw).strip()!r} is not a municipality name in {self.year}",
            R_UNKNOWN_NAME,
        )


def attach_register(
    resp: pd.DataFrame, reg_year: pd.DataFrame, thresholds: config.SizeThresholds
) -> pd.DataFrame:
    """Add register name, population, county, region and size class to respondents."""
    cols = ["kommunenr", "name", "population", "county_nr", "region"]
    out = resp.merge(
        reg_year[cols].rename(columns={"name": "kommunenavn"}),
        on="kommunenr",
        how="left",
        validate="one_to_one",
    )
    out["size_class"] = size_class(out["population"], thresholds).to_numpy()
    front = ["year", "kommunenr", "kommunenavn", "population", "county_nr", "region", "size_class"]
    return out[front + [c for c in out.columns if c not in front]]
