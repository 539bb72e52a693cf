"""The printable edition: each survey year's four pages as one PDF with page numbers.

    python scripts/print_edition.py [--reports reports] [--years 2019 ...]

(``make pdf`` passes REPORTS_DIR and YEARS as environment variables.)

Joins the main content of a year's pages (summary, descriptives, regressions, methods) into one
document with the site's CSS, opens every figure's data table, and prints it with headless
Chromium (Playwright) to ``<reports>/<year>/kommunebarometer-<year>.pdf``. Needs Chromium
(``apt-get install chromium``); ``make pdf`` runs it after ``make report``. A later build that
republishes the site removes the PDFs, so a PDF never outlives the pages it was printed from.

The pages are text from a delivery and a codebook: Chromium prints them with JavaScript
disabled (and every page's Content-Security-Policy forbids scripts), in its sandbox unless it
runs as root, where Chromium cannot use one (then it says so).
"""

from __future__ import annotations

import argparse
import os
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


#: Chromium without its calls home (refused on a closed network, many at a time)
BROWSER_ARGS = [
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


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
        "table{font-size:7pt}td,th{padding:.1rem .25rem}body{max-width:none}"
        # a table's header repeats on every page, no row or heading is left alone at a page
        # foot, and the figures' data tables print open without their toggle triangles
        "thead{display:table-header-group}tr,figure,img{break-inside:avoid}"
        "h2,h3,caption{break-after:avoid}summary{list-style:none}"
        "summary::-webkit-details-marker{display:none}</style>"
    )
    # the footer names the edition (the year), not its first page
    head = re.sub(r"<title>([^<:]*):[^<]*</title>", r"<title>\1</title>", head, count=1)
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
        page = browser.new_page(java_script_enabled=False)
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
    ap.add_argument(
        "--reports", default=os.environ.get("REPORTS_DIR") or "reports", help="the published site"
    )
    ap.add_argument(
        "--years",
        nargs="*",
        default=[y for y in re.split(r"[,\s]+", os.environ.get("YEARS", "")) if y],
        help="years to print (default: every year built)",
    )
    a = ap.parse_args(argv)
    reports = Path(a.reports)
    bad = [y for y in a.years if not re.fullmatch(r"[0-9]{4}", y)]
    if bad:
        print(f"make pdf failed: YEARS must be survey years, got {bad[0]!r}", file=sys.stderr)
        return 1
    if not reports.is_dir():
        print(f"make pdf failed: no site at {reports}; run make report first", file=sys.stderr)
        return 1
    years = a.years or sorted(p.name for p in reports.iterdir() if p.name.isdigit())
    missing = [y for y in years if not (reports / y / PAGES[0]).is_file()]
    if missing:
        print(f"make pdf failed: {reports / missing[0]} is not built", file=sys.stderr)
        return 1
    if not years:
        print(f"no survey year under {reports}; run make report first", file=sys.stderr)
        return 1
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("the printable edition needs Chromium: apt-get install chromium", file=sys.stderr)
        return 1
    from playwright.sync_api import sync_playwright

    from analysis import publish

    with sync_playwright() as pw:
        sandbox = os.geteuid() != 0
        if not sandbox:
            print("pdf: Chromium runs without its sandbox as root (scripts stay disabled)")
        browser = pw.chromium.launch(
            executable_path=chromium, chromium_sandbox=sandbox, args=BROWSER_ARGS
        )
        for y in years:
            pdf = print_year(reports / str(y), browser)
            publish.add_to_manifest(reports, pdf)  # the build's: make clean removes it
            print(f"pdf: {pdf}")
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
