"""The codebook: every variable's column and question per year, type, labels and missing codes.

Ingest is driven by the codebook alone (``data/codebook.yml``). This module reads and
validates it and answers the questions ingest and reports ask of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

VARIABLE_TYPES = {"binary", "ordinal", "nominal", "numeric"}
FIELD_TYPES = {"id", "datetime", "status", "municipality_name", "municipality_number", "pii"}


class CodebookError(ValueError):
    """The codebook is malformed."""


def normalise_label(value: Any) -> str:
    """Trim, collapse inner whitespace and case-fold an answer label for matching."""
    return re.sub(r"\s+", " ", str(value)).strip().casefold()


@dataclass(frozen=True)
class Variable:
    """One survey item as described by the codebook."""

    name: str
    type: str
    label: dict[str, str]
    years: dict[int, dict[str, str]]
    values: dict[str, Any] = field(default_factory=dict)
    missing: tuple[str, ...] = ()
    range: tuple[float, float] | None = None
    aliases: dict[str, str] = field(default_factory=dict)

    def lookup(self) -> dict[str, Any]:
        """Normalised answer label (or declared alias) -> code."""
        out = {normalise_label(k): v for k, v in self.values.items()}
        out.update({normalise_label(a): self.values[c] for a, c in self.aliases.items()})
        return out

    def missing_lookup(self) -> set[str]:
        """Normalised labels that mean "don't know"."""
        return {normalise_label(m) for m in self.missing}

    def columns(self) -> list[str]:
        """Every column name the variable has had, newest year first."""
        return list(
            dict.fromkeys(
                self.years[y]["column"]
                for y in sorted(self.years, reverse=True)
                if "column" in self.years[y]
            )
        )

    @property
    def codes(self) -> list[Any]:
        """Valid codes in label order."""
        return list(dict.fromkeys(self.values.values()))


@dataclass(frozen=True)
class Codebook:
    """Fields (identification, metadata, personal) and survey variables."""

    fields: dict[str, Variable]
    variables: dict[str, Variable]
    path: Path | None = None
    raw: dict = field(default_factory=dict, repr=False)

    @property
    def pii_columns(self) -> set[str]:
        """Every column name of every personal field, in any year."""
        return {c for f in self.fields.values() if f.type == "pii" for c in f.columns()}

    def known_columns(self) -> set[str]:
        """Every column name the codebook knows (fields and variables, any year)."""
        out: set[str] = set()
        for v in [*self.fields.values(), *self.variables.values()]:
            out.update(v.columns())
        return out

    def dont_know(self) -> frozenset[str]:
        """Normalised labels that mean "don't know" for every item (top-level ``missing``)."""
        labels = (self.raw.get("missing") or {}).get("dont_know") or []
        return frozenset(normalise_label(m) for m in labels)

    def question_table(self) -> pd.DataFrame:
        """Variable x year: column, question text and whether the wording changed (series break)."""
        rows = []
        for v in self.variables.values():
            prev = None
            for y in sorted(v.years):
                if v.years[y].get("not_asked") == "True":
                    continue
                q = v.years[y].get("question") or prev or ""  # no wording given: unchanged
                rows.append(
                    {
                        "variable": v.name,
                        "year": y,
                        "column": v.years[y].get("column", ""),
                        "question": q,
                        "wording_changed": prev is not None and q != prev,
                    }
                )
                prev = q
        return pd.DataFrame(rows)

    def series_breaks(self) -> dict[str, list[int]]:
        """Variable -> years in which its wording differs from the year before."""
        qt = self.question_table()
        qt = qt[qt["wording_changed"]]
        return {v: sorted(g["year"].tolist()) for v, g in qt.groupby("variable")}

    def label(self, name: str, lang: str = "nb") -> str:
        """Short label of a variable in ``lang`` (falls back to its name)."""
        v = self.variables.get(name)
        if v:
            return v.label.get(lang, name)
        derived = (self.raw.get("derived") or {}).get(name) or {}
        return (derived.get("label") or {}).get(lang, name)


class _UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """YAML loader that refuses a key given twice in one mapping (PyYAML keeps the last); the
    libyaml parser where PyYAML has it (the pure-Python one took 0.1 s per kernel)."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise CodebookError(
                    f"line {key_node.start_mark.line + 1}: the key {key!r} is given twice in one "
                    f"mapping (first on line {seen[key]}); YAML would silently keep the last one. "
                    "Remove one of them."
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def validate_schema(raw: dict, path: Path) -> None:
    """Validate the whole codebook against ``codebook.schema.json`` (JSON Schema)."""
    import json
    import sys

    # jsonschema imports an optional IRI format checker whose grammar takes about 2 s to build,
    # in every kernel; the codebook schema uses no formats, so that module is kept out.
    absent = sys.modules.setdefault("rfc3987_syntax", None) is None
    try:
        import jsonschema
    finally:
        if absent:
            sys.modules.pop("rfc3987_syntax", None)

    schema = json.loads(
        (Path(__file__).parent / "codebook.schema.json").read_text(encoding="utf-8")
    )
    data = json.loads(json.dumps(raw, default=str))  # year keys as text, as in the schema
    errors = sorted(
        jsonschema.Draft202012Validator(schema).iter_errors(data),
        key=lambda e: list(map(str, e.path)),
    )
    if errors:

        def message(e) -> str:
            if e.validator == "oneOf" and "values" in list(e.path):
                return f"{e.instance!r}: a code is a number or a text without ':', '[' or ']' (they would break model terms)"
            return e.message

        lines = [f"  {'.'.join(map(str, e.path)) or '(top)'}: {message(e)}" for e in errors[:8]]
        raise CodebookError(
            f"codebook {path} does not follow the schema (src/analysis/codebook.schema.json):\n"
            + "\n".join(lines)
        )


def _parse_entry(name: str, spec: dict, kinds: set[str], where: str) -> Variable:
    if not isinstance(spec, dict):
        raise CodebookError(f"{where}: {name} must be a mapping")
    vtype = spec.get("type")
    if vtype not in kinds:
        raise CodebookError(f"{where}: {name} has type {vtype!r}; allowed: {sorted(kinds)}")
    years = spec.get("years") or {}
    if not years:
        raise CodebookError(f"{where}: {name} lists no years")
    parsed: dict[int, dict[str, str]] = {}
    for y, ys in years.items():
        if not isinstance(ys, dict) or ("column" not in ys and not ys.get("not_asked")):
            raise CodebookError(
                f"{where}: {name}, year {y} needs a `column` (or `not_asked: true`)"
            )
        parsed[int(y)] = {k: str(v) for k, v in ys.items()}
    if vtype in {"binary", "ordinal", "nominal"} and not spec.get("values"):
        raise CodebookError(f"{where}: {name} ({vtype}) needs `values`")
    values = dict(spec.get("values") or {})
    for label in [*values, *(spec.get("aliases") or {})]:
        if not isinstance(label, str):
            raise CodebookError(
                f"{where}: {name}: the answer label {label!r} is read as {str(label).lower()} by YAML; "
                "quote the label in the codebook (write 'Yes', not Yes)"
            )
    seen: dict[Any, str] = {}
    for label, code in values.items():
        if code in seen:
            raise CodebookError(
                f"{where}: {name}: the labels {seen[code]!r} and {label!r} both have code {code!r}. "
                f"Codes must be one-to-one; if both labels mean the same answer, keep {seen[code]!r} "
                f"under `values` and declare the other under `aliases:` as `{label}: {seen[code]}`"
            )
        seen[code] = label
    if vtype == "binary" and set(values.values()) != {0, 1}:
        raise CodebookError(
            f"{where}: {name} (binary) must code its two answers 0 and 1, not {sorted(map(str, values.values()))}"
        )
    if vtype == "ordinal" and not all(isinstance(c, int | float) for c in values.values()):
        raise CodebookError(f"{where}: {name} (ordinal) needs numeric codes")
    aliases = dict(spec.get("aliases") or {})
    for alias, target in aliases.items():
        if target not in values:
            raise CodebookError(
                f"{where}: {name}: alias {alias!r} points to {target!r}, which is not a label under `values`"
            )
    rng = spec.get("range")
    return Variable(
        name=name,
        type=vtype,
        label=dict(spec.get("label") or {}),
        years=parsed,
        values=values,
        missing=tuple(spec.get("missing") or ()),
        range=(float(rng[0]), float(rng[1])) if rng else None,
        aliases=aliases,
    )


def load_codebook(path: Path) -> Codebook:
    """Read and validate a codebook YAML file."""
    from analysis import limits

    path = Path(path)
    try:
        limits.regular_file(path, "codebook", limits.MAX_CODEBOOK_BYTES)
        text = path.read_text(encoding="utf-8")
        limits.yaml_text(text, path)
        raw = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506
    except limits.LimitError as exc:
        if not path.exists():
            raise CodebookError(f"codebook {path} not found; pass CODEBOOK=<path>") from None
        raise CodebookError(str(exc)) from None
    except yaml.YAMLError as exc:
        raise CodebookError(f"codebook {path} is not valid YAML: {exc}") from exc
    except CodebookError as exc:
        raise CodebookError(f"codebook {path}, {exc}") from None
    if not isinstance(raw, dict) or "variables" not in raw or "fields" not in raw:
        raise CodebookError(f"codebook {path} needs top-level `fields` and `variables`")
    validate_schema(raw, path)
    fields = {
        n: _parse_entry(n, s, FIELD_TYPES, f"{path} fields") for n, s in raw["fields"].items()
    }
    variables = {
        n: _parse_entry(n, s, VARIABLE_TYPES, f"{path} variables")
        for n, s in raw["variables"].items()
    }
    clash = set(fields) & set(variables)
    if clash:
        raise CodebookError(f"{path}: names used as both field and variable: {sorted(clash)}")
    if not any(f.type in {"municipality_name", "municipality_number"} for f in fields.values()):
        raise CodebookError(f"{path}: no field identifies the municipality")
    return Codebook(fields=fields, variables=variables, path=path, raw=raw)
