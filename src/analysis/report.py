"""Report helpers: the results file, provenance, number formatting and HTML pages.

Every published estimate goes through :class:`Results`, which writes it to a
machine-readable ``results.csv`` beside the HTML (estimate, standard error, interval, N,
method). HTML pages are rendered from executed notebooks without code cells, with
nbconvert's ``basic`` template wrapped in a self-contained page (no scripts, fonts or
styles fetched from elsewhere).
"""

from __future__ import annotations

import html
import json
import math
import platform
import subprocess
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pandas as pd

from analysis import __version__, config

RESULT_COLUMNS = [
    "year",
    "section",
    "quantity",
    "group",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "n",
    "N",
    "method",
]
SYNTHETIC_NOTICE = {
    "nb": "Syntetiske data: denne rapporten er bygd på en syntetisk demonstrasjonsundersøkelse "
    "med kjent datagenererende prosess, ikke på ekte svar fra kommunene.",
    "en": "Synthetic data: this report is built from a synthetic demonstration survey with a "
    "known data-generating process, not from real answers of municipalities.",
}
KEY_PACKAGES = (
    "pandas",
    "numpy",
    "scipy",
    "statsmodels",
    "matplotlib",
    "seaborn",
    "papermill",
    "nbconvert",
    "pyreadstat",
    "openpyxl",
    "pandera",
)


def _num(x: object) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    if isinstance(x, float):
        return f"{x:.10g}"
    return str(x)


@dataclass
class Results:
    """Collector of published estimates for one report."""

    year: int | str
    rows: list[dict] = field(default_factory=list)

    def add(
        self,
        section: str,
        quantity: str,
        group: str,
        estimate: float,
        se: float | None,
        ci_low: float | None,
        ci_high: float | None,
        n: int,
        N: int | None,
        method: str,
    ) -> None:
        """Record one published number."""
        self.rows.append(
            {
                "year": self.year,
                "section": section,
                "quantity": quantity,
                "group": group,
                "estimate": estimate,
                "se": se,
                "ci_low": ci_low,
                "ci_high": ci_high,
                "n": n,
                "N": N,
                "method": method,
            }
        )

    def add_frame(self, section: str, quantity: str, frame: pd.DataFrame) -> None:
        """Record rows of an estimates table (columns group, estimate, se, ci_low, ...)."""
        for r in frame.to_dict("records"):
            self.add(
                section,
                quantity,
                str(r["group"]),
                r["estimate"],
                r.get("se"),
                r.get("ci_low"),
                r.get("ci_high"),
                int(r["n"]),
                r.get("N"),
                r["method"],
            )

    def frame(self) -> pd.DataFrame:
        """All recorded rows."""
        return pd.DataFrame(self.rows, columns=RESULT_COLUMNS)

    def write(self, out_dir: Path) -> Path:
        """Write ``results.csv`` (UTF-8, fixed number formatting: byte-identical on rerun)."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        df = self.frame()
        for c in ("estimate", "se", "ci_low", "ci_high"):
            df[c] = [_num(float(v)) if v is not None else "" for v in df[c]]
        for c in ("n", "N"):
            df[c] = [_num(int(v)) if v is not None and not pd.isna(v) else "" for v in df[c]]
        path = out_dir / "results.csv"
        df.to_csv(path, index=False, lineterminator="\n")
        return path


def git_commit() -> str:
    """Commit of the working tree (``+dirty`` when it has uncommitted changes), or 'unknown'."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=config.PROJECT_ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=config.PROJECT_ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape the numbers."""
    out = {"python": platform.python_version()}
    for p in KEY_PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = "not installed"
    return out


def provenance(parameters: dict, inputs: dict[str, str]) -> dict:
    """Provenance record: version, commit, parameters, input checksums, package versions."""
    return {
        "project": "kommunebarometer",
        "version": __version__,
        "commit": git_commit(),
        "parameters": {k: str(v) for k, v in sorted(parameters.items())},
        "inputs_sha256": dict(sorted(inputs.items())),
        "packages": package_versions(),
    }


def fmt_num(x: float, decimals: int = 1, lang: str = "nb") -> str:
    """Format a number with a decimal comma (nb) or point (en); thin space thousands."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    s = f"{x:,.{decimals}f}"
    if lang == "nb":
        s = s.replace(",", " ").replace(".", ",")
    return s


def fmt_pct(x: float, decimals: int = 0, lang: str = "nb") -> str:
    """Format a proportion as a percentage: 0.684 -> '68 %' (nb) or '68%' (en)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return fmt_num(100 * x, decimals, lang) + (" %" if lang == "nb" else "%")


def fmt_ci(lo: float, hi: float, lang: str = "nb", pct: bool = True, decimals: int = 0) -> str:
    """Format an interval as '[a; b]' (nb) or '[a, b]' (en)."""
    f = (lambda v: fmt_pct(v, decimals, lang)) if pct else (lambda v: fmt_num(v, 2, lang))
    sep = "; " if lang == "nb" else ", "
    return f"[{f(lo)}{sep}{f(hi)}]"


#: Text/background colour pairs of the pages (a test checks WCAG AA contrast >= 4.5:1).
COLOURS = {
    "text": ("#1a1a1a", "#ffffff"),
    "heading": ("#0b2e4f", "#ffffff"),
    "link": ("#0b4f8a", "#ffffff"),
    "table_head": ("#1a1a1a", "#eef2f6"),
    "notice": ("#1a1a1a", "#fff4e5"),
    "provenance": ("#333333", "#ffffff"),
    "code": ("#333333", "#f6f6f6"),
}
PAGE_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
 max-width:62rem;margin:0 auto;padding:1rem 1.5rem 3rem;color:#1a1a1a;background:#ffffff;line-height:1.5}
h1,h2,h3{line-height:1.25;color:#0b2e4f} a{color:#0b4f8a}
table{border-collapse:collapse;margin:1rem 0;font-variant-numeric:tabular-nums;font-size:.92rem}
caption{text-align:left;font-weight:600;padding:.3rem 0}
th,td{border:1px solid #767676;padding:.3rem .55rem;text-align:right;vertical-align:top}
th{background:#eef2f6;color:#1a1a1a;text-align:left} td:first-child{text-align:left}
img{max-width:100%;height:auto}
.notice{border-left:6px solid #b35806;background:#fff4e5;color:#1a1a1a;padding:.6rem 1rem;margin:1rem 0}
.provenance{font-size:.82rem;color:#333333;border-top:1px solid #767676;margin-top:3rem}
.provenance pre, pre{white-space:pre-wrap;font-size:.78rem;background:#f6f6f6;color:#333333;padding:.5rem}
nav{font-size:.95rem;margin-bottom:1rem;line-height:2}
a:focus{outline:3px solid #b35806;outline-offset:2px}
.skip{position:absolute;left:-999px} .skip:focus{left:1rem;top:1rem;background:#fff;padding:.3rem}
"""


def page(title: str, body: str, lang: str = "nb", nav: str = "", footer: str = "") -> str:
    """A complete, self-contained HTML page (inline CSS, no scripts)."""
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{PAGE_CSS}</style>\n</head>\n<body>\n"
        + f'<a class="skip" href="#main">{"Hopp til innhold" if lang == "nb" else "Skip to content"}</a>\n'
        f'{nav}\n<main id="main">\n{body}\n</main>\n{footer}\n</body>\n</html>\n'
    )


def provenance_footer(prov: dict, build_time: str, lang: str = "nb") -> str:
    """HTML footer that shows the provenance record."""
    head = "Proveniens" if lang == "nb" else "Provenance"
    txt = json.dumps(prov, indent=2, ensure_ascii=False)
    return (
        f'<footer class="provenance"><h2>{head}</h2><p>kommunebarometer {html.escape(prov["version"])}, '
        f"commit <code>{html.escape(prov['commit'])}</code>; "
        f"{'bygd' if lang == 'nb' else 'built'} {html.escape(build_time)}.</p>"
        f"<pre>{html.escape(txt)}</pre></footer>"
    )


def notebook_pages(executed: Path) -> list[str]:
    """Page names of a notebook's cells (tags ``page:<name>``), in order of first appearance."""
    import nbformat

    nb = nbformat.read(str(executed), as_version=4)
    names = [t[5:] for c in nb.cells for t in c.metadata.get("tags", []) if t.startswith("page:")]
    return list(dict.fromkeys(names))


def notebook_body(executed: Path, with_code: bool = False, page: str | None = None) -> str:
    """HTML body of an executed notebook (nbconvert ``basic`` template, images embedded).

    With ``page``, only the cells tagged ``page:<page>``.
    """
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(executed), as_version=4)
    if page is not None:
        nb.cells = [c for c in nb.cells if f"page:{page}" in c.metadata.get("tags", [])]
    if not with_code:
        nb.cells = [c for c in nb.cells if "analyst-only" not in c.metadata.get("tags", [])]
    nb.cells = (
        [
            c
            for c in nb.cells
            if "parameters" not in c.metadata.get("tags", [])
            and "injected-parameters" not in c.metadata.get("tags", [])
        ]
        if not with_code
        else nb.cells
    )
    for i, c in enumerate(nb.cells):  # papermill gives injected cells random ids
        c["id"] = f"cell-{i}"
    exporter = HTMLExporter(
        template_name="basic",
        exclude_input=not with_code,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    body, _ = exporter.from_notebook_node(nb)
    return body
