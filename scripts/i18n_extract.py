"""Keep the English message catalog in step with the Bokmål texts (Babel).

Messages are every markdown cell of ``notebooks/*.ipynb`` and every string literal passed to
``_()`` or ``N_()`` in the notebooks' code cells and in ``src/analysis``. Usage:

    python scripts/i18n_extract.py            # add new messages to the catalog (empty
                                              # translations), drop obsolete ones
    python scripts/i18n_extract.py --check    # exit 1 if a message lacks a translation

Then translate the empty ``msgstr`` entries in src/analysis/locale/en/LC_MESSAGES/messages.po.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from analysis import i18n  # noqa: E402


def _calls(source: str, where: str) -> list[tuple[str, str]]:
    out = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("_", "N_")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            out.append((node.args[0].value, where))
    return out


def messages() -> list[tuple[str, str]]:
    """(msgid, location) of every translatable text, in order of appearance."""
    import nbformat

    found: list[tuple[str, str]] = []
    for nb_path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(nb_path, as_version=4)
        where = str(nb_path.relative_to(ROOT))
        for cell in nb.cells:
            if cell.cell_type == "markdown" and cell.source.strip():
                found.append((cell.source.strip(), where))
            elif cell.cell_type == "code":
                found += _calls(cell.source, where)
    for py in sorted((ROOT / "src" / "analysis").rglob("*.py")):
        found += _calls(py.read_text(encoding="utf-8"), str(py.relative_to(ROOT)))
    seen: dict[str, str] = {}
    for msg, where in found:
        seen.setdefault(msg, where)
    return list(seen.items())


def untranslated(lang: str = "en") -> list[str]:
    """Messages without a translation in ``lang``'s catalog."""
    cat = i18n.catalog.__wrapped__(lang)
    return [m for m, _ in messages() if m not in cat]


def update(lang: str = "en") -> Path:
    """Rewrite the catalog: every current message, existing translations kept."""
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import read_po, write_po

    path = i18n.po_path(lang)
    old = {}
    if path.is_file():
        with path.open("rb") as fh:
            old = {m.id: m.string for m in read_po(fh, locale=i18n.LANGUAGES[lang]) if m.id}
    cat = Catalog(locale=i18n.LANGUAGES[lang], project="kommunebarometer", domain=i18n.DOMAIN)
    for msg, where in messages():
        cat.add(msg, old.get(msg, ""), locations=[(where, None)])
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        write_po(fh, cat, width=0, omit_header=True, include_lineno=False)
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--lang", default="en")
    a = ap.parse_args()
    if a.check:
        missing = untranslated(a.lang)
        for m in missing:
            print(f"untranslated: {m[:90]!r}")
        return 1 if missing else 0
    path = update(a.lang)
    missing = untranslated(a.lang)
    print(f"{path}: {len(messages())} messages, {len(missing)} without a translation")
    return 0


if __name__ == "__main__":
    sys.exit(main())
