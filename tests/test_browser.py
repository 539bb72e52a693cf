"""The barometer in a real browser (headless Chromium): every page at 320 px (reflow) and
the latest year and the top pages at a desktop width too; axe-core's WCAG rules on one page
of each kind; the printable edition. On the shared sites of tests/test_site.py (fixtures
``site`` and ``site_en``); a file of its own so that pytest-xdist runs it beside the other
site checks.

Screenshots (1100 and 390 px, the latest year and the top pages) are written only when
``KB_SCREENSHOTS`` names a folder: they are for a look, and took a third of the browser pass.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from analysis import config

pytestmark = pytest.mark.slow


def pages(site):
    return sorted(site.rglob("*.html"))


def _chromium() -> str:
    """The browser's path; without one the test is skipped locally and fails in CI."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("chromium not found in CI: .ci/run must install it")
        pytest.skip("chromium not installed (apt-get install chromium)")
    return chromium


BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.mark.parametrize("which", ["site", "site_en"])
def test_every_page_in_a_real_browser(which, request):
    site = request.getfixturevalue(which)
    chromium = _chromium()
    from playwright.sync_api import sync_playwright

    shots = Path(os.environ["KB_SCREENSHOTS"]) / which if os.environ.get("KB_SCREENSHOTS") else None
    if shots:
        shots.mkdir(parents=True, exist_ok=True)
    problems, now = [], {"page": ""}

    def latest(p):  # the latest year and the top pages
        return p.parent == site or p.parent.name in ("2019", "pooled")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=BROWSER_ARGS)
        for width in (1100, 390, 320) if shots else (1100, 320):  # 320 px: reflow (WCAG 1.4.10)
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.on(
                "console",
                lambda m: (
                    problems.append((now["page"], m.type, m.text))
                    if m.type in ("error", "warning")
                    else None
                ),
            )
            page.on("pageerror", lambda e: problems.append((now["page"], "pageerror", str(e))))
            page.on(
                "request",
                lambda r: (
                    problems.append((now["page"], "external", r.url[:80]))
                    if not r.url.startswith(("file:", "data:"))
                    else None
                ),
            )
            for p in pages(site):
                if width != 320 and not latest(p):
                    continue  # every page at 320 px (reflow); a desktop and a phone on a sample
                now["page"] = str(p.relative_to(site))
                page.goto(p.as_uri(), wait_until="load")
                assert page.title()
                imgs = page.eval_on_selector_all(
                    "img", "els => els.map(e => e.complete && e.naturalWidth > 0)"
                )
                assert all(imgs), (p, imgs)
                # on a phone the page itself never scrolls sideways (wide tables scroll in their box)
                wide = page.evaluate("document.documentElement.scrollWidth")
                assert wide <= width + 1, (p, width, wide)
                if shots and width != 320:
                    name = now["page"].replace("/", "_").replace(".html", f"-{width}.png")
                    page.screenshot(path=str(shots / name), full_page=True)
            page.close()
        browser.close()
    assert problems == [], problems[:10]


def test_printable_edition_of_a_year(site, tmp_path):
    """scripts/print_edition.py (make pdf): a year's four pages as one paginated PDF."""
    import subprocess
    import sys

    _chromium()
    shutil.copytree(site / "2019", tmp_path / "2019")
    script = config.PROJECT_ROOT / "scripts" / "print_edition.py"
    args = [sys.executable, str(script), "--reports", str(tmp_path), "--years", "2019"]
    subprocess.run(args, check=True, capture_output=True)
    pdf = (tmp_path / "2019" / "kommunebarometer-2019.pdf").read_bytes()
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert pdf.startswith(b"%PDF") and pages >= 8, pages  # four pages of the site, paginated
    assert pdf.count(b"/Subtype /Image") >= 3  # the figures are in it


AXE_VERSION = "4.10.3"


def _axe_script() -> str:
    """axe-core from the npm registry, cached under build/ (test tool only, not on the pages)."""
    import subprocess

    target = config.BUILD_DIR / "axe" / "node_modules" / "axe-core" / "axe.min.js"
    if not target.is_file():
        npm = shutil.which("npm")
        if npm is None:
            if os.environ.get("CI"):
                pytest.fail("npm not found in CI: .ci/run must install it")
            pytest.skip("npm not installed: axe-core cannot be fetched")
        (config.BUILD_DIR / "axe").mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [npm, "install", "--silent", "--no-audit", "--no-fund", f"axe-core@{AXE_VERSION}"],
            cwd=config.BUILD_DIR / "axe",
            check=True,
            capture_output=True,
        )
    return str(target)


@pytest.mark.parametrize("which", ["site", "site_en"])
def test_pages_have_no_axe_core_violations(which, request):
    """WCAG 2.1 A/AA rules of axe-core on one page of each kind (the script is injected by the
    test only). The English site has the same template and notebooks: there, the pages whose
    markup differs most (the landing page, a year's summary with its figures, an analyst page
    with code, the glossary), for the language and the texts. The analyst page is the pooled
    site's: the same template and cell kinds as a year's, in a quarter of the nodes (axe took
    3.2 s on 2019's 5 400 nodes, 1.2 s on the pooled page's 1 400)."""
    site = request.getfixturevalue(which)
    chromium = _chromium()
    axe = _axe_script()
    from playwright.sync_api import sync_playwright

    sample = [
        "index.html",
        "ingest/index.html",
        "2019/index.html",
        "2019/beskrivende.html",
        "2019/regresjoner.html",
        "2019/metode.html",
        "pooled/index.html",
        "pooled/regresjoner.html",
        "pooled/analyst-regresjoner.html",
        "ordliste.html",
        "proveniens.html",
    ]
    if which == "site_en":
        sample = [
            "index.html",
            "2019/index.html",
            "pooled/analyst-regresjoner.html",
            "ordliste.html",
        ]
    found = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium,
            args=BROWSER_ARGS,
        )
        for name in sample:
            page = browser.new_page(bypass_csp=True)  # axe is a script the pages forbid
            page.goto((site / name).as_uri(), wait_until="load")
            page.add_script_tag(path=axe)
            v = page.evaluate(
                "async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'], resultTypes: ['violations']})).violations.map(v => v.id + ' x' + v.nodes.length)"
            )
            if v:
                found[name] = v
            page.close()
        browser.close()
    assert found == {}
