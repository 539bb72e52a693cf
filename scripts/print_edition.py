"""The printable edition: each survey year's four pages as one PDF with page numbers.

    python scripts/print_edition.py [--reports reports] [--years 2019 ...]

Joins the main content of a year's pages (summary, descriptives, regressions, methods) into one
document with the site's CSS, opens every figure's data table, and prints it with headless
Chromium (Playwright) to ``<reports>/<year>/kommunebarometer-<year>.pdf``. Needs Chromium
(``apt-get install chromium``); ``make pdf`` runs it after ``make report``. A later build that
republishes the site removes the PDFs, so a PDF never outlives the pages it was printed from.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path

PAGES = ("index.html", "beskrivende.html", "regresjoner.html", "metode.html")
FOOTER = (
    '<div style="font-size:8px;width:100%;text-align:center;color:#444">'
    '<span class="title"></span> · <span class="pageNumber"></span> / <span class="totalPages"></span></div>'
)


def joined(year_dir: Path) -> str:
    """One HTML document: the first page's head and footer around every page's <main>."""
    first = (year_dir / PAGES[0]).read_text(encoding="utf-8")
    mains = []
    for name in PAGES:
        html = (year_dir / name).read_text(encoding="utf-8")
        main = re.search(r"<main id=\"main\">(.*)</main>", html, re.S)
        if main is None:
            raise SystemExit(f"{year_dir / name}: no <main> element; is it a barometer page?")
        body = main.group(1).replace("<details>", "<details open>")
        mains.append(f'<section class="print-page">{body}</section>')
    head = first[: first.index("<nav")]  # doctype, head, skip link
    foot = first[first.index("</main>") + len("</main>") :]
    style = (
        "<style>.print-page{break-before:page}.print-page:first-child{break-before:auto}"
        ".skip{display:none}.output_html,.output_subarea{overflow:visible!important}"
        "table{font-size:7pt}td,th{padding:.1rem .25rem}body{max-width:none}</style>"
    )
    return (
        head.replace("</head>", style + "</head>")
        + '<main id="main">'
        + "".join(mains)
        + "</main>"
        + foot
    )


def print_year(year_dir: Path, browser) -> Path:
    out = year_dir / f"kommunebarometer-{year_dir.name}.pdf"
    with tempfile.TemporaryDirectory() as tmp:
        doc = Path(tmp) / "edition.html"
        doc.write_text(joined(year_dir), encoding="utf-8")
        page = browser.new_page()
        page.goto(doc.as_uri(), wait_until="load")
        page.pdf(
            path=str(out),
            format="A4",
            print_background=True,
            scale=0.8,
            display_header_footer=True,
            header_template="<div></div>",
            footer_template=FOOTER,
            margin={"top": "15mm", "bottom": "18mm", "left": "12mm", "right": "12mm"},
        )
        page.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reports", default="reports", help="the published site")
    ap.add_argument("--years", nargs="*", help="years to print (default: every year built)")
    a = ap.parse_args(argv)
    reports = Path(a.reports)
    years = a.years or sorted(p.name for p in reports.iterdir() if p.name.isdigit())
    if not years:
        print(f"no survey year under {reports}; run make report first", file=sys.stderr)
        return 1
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("the printable edition needs Chromium: apt-get install chromium", file=sys.stderr)
        return 1
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        for y in years:
            print(f"pdf: {print_year(reports / str(y), browser)}")
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
