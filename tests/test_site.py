"""The barometer reviewers read: a self-contained, traceable, accessible site per year.

Built once for every demo year (session fixture ``site``); checked for structure,
self-containment, provenance, disclosure control, Norwegian conventions, accessibility,
and in a real browser (headless Chromium via Playwright).
"""

from __future__ import annotations

import os
import re
import shutil
from html.parser import HTMLParser

import pandas as pd
import pytest

from analysis import config, ingest, plots, report, tables
from analysis.codebook import load_codebook

YEARS = [2015, 2016, 2017, 2018, 2019]
YEAR_PAGES = ["index.html", "beskrivende.html", "regresjoner.html", "metode.html", "analyst.html"]


def pages(site):
    return sorted(site.rglob("*.html"))


def test_every_year_has_a_small_site(site):
    index = (site / "index.html").read_text()
    for y in YEARS:
        for p in YEAR_PAGES + ["results.csv", "provenance.json"]:
            assert (site / str(y) / p).is_file(), (y, p)
        assert f'href="{y}/index.html"' in index
    assert 'href="pooled/index.html"' in index and (site / "pooled" / "results.csv").is_file()
    assert 'href="ingest/index.html"' in index


def test_pages_are_self_contained(site):
    for p in pages(site):
        text = p.read_text()
        assert "<script" not in text.lower(), p
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text), p
        assert "@import" not in text and "url(http" not in text, p
        assert re.search(r"<table", text) or p.parent.name == "reports", p


def test_provenance_on_every_page(site):
    for p in pages(site):
        text = p.read_text()
        assert 'class="provenance"' in text or p == site / "index.html", p
        if p != site / "index.html":
            for key in (
                "commit",
                "inputs_sha256",
                "parameters",
                "statsmodels",
                "raw/kommuneundersokelsen_2019.xlsx",
            ):
                assert key in text, (p, key)
            assert re.search(r"(bygd|built) \d{4}-\d\d-\d\dT", text), p


def _raw_personal_data():
    cb = load_codebook(config.CODEBOOK_PATH)
    found = {"emails": set(), "names": set(), "comments": set()}
    for path in ingest.discover_exports(config.RAW_DIR).values():
        df, _ = ingest.read_export(path, cb)
        for col in df.columns:
            lc = col.lower()
            vals = {str(v).strip() for v in df[col].dropna() if str(v).strip()}
            if "post" in lc:
                found["emails"] |= vals
            elif lc in ("navn",):
                found["names"] |= vals
            elif "komment" in lc or "fritekst" in lc:
                found["comments"] |= vals
    assert all(found.values())  # the demo carries such fields, so the scan has something to catch
    return found


def test_no_personal_data_or_row_level_data_under_reports(site):
    pii = _raw_personal_data()
    for p in site.rglob("*"):
        if not p.is_file() or p.suffix not in (".html", ".csv", ".json"):
            continue
        text = p.read_text()
        assert not re.search(r"[\w.+-]+@[\w-]+\.[\w.]+", text), p
        for kind, values in pii.items():
            hit = next((v for v in values if v in text), None)
            assert hit is None, (p, kind, hit)
        assert "respondent_id" not in text and "source_row" not in text, p


def test_small_cells_are_suppressed_in_results_and_pages():
    res = report.Results(2099)
    long = pd.DataFrame(
        {
            "variable": "v",
            "group": ["small", "large", "all"],
            "estimate": [0.5, 0.75, 0.6],
            "se": 0.1,
            "ci_low": 0.3,
            "ci_high": 0.8,
            "n": [30, 4, 34],
            "N": [200, 10, 210],
            "df": 30,
            "method": "m",
            "published": None,
        }
    )
    tables.record(res, "headline", long)
    f = res.frame().set_index("group")
    assert pd.isna(f.loc["large", "estimate"]) and "suppressed" in f.loc["large", "method"]
    assert f.loc["small", "estimate"] == 0.5
    cb = load_codebook(config.CODEBOOK_PATH)
    disp = tables.display_shares(long, cb, config.SizeThresholds(), "nb")
    assert disp.iloc[0][config.SizeThresholds().labels("nb")["large"]] == tables.SUPPRESSED


def test_results_files_respect_the_cell_minimum(site):
    for p in site.rglob("results.csv"):
        r = pd.read_csv(p)
        est = r[r["section"].isin(["headline", "descriptives", "descriptives (means)", "indices"])]
        small = est[est["n"] < tables.MIN_CELL]
        assert small["estimate"].isna().all(), p
        assert r["method"].notna().all() and r["n"].notna().all(), p


class _Struct(HTMLParser):
    def __init__(self):
        super().__init__()
        self.headings, self.imgs, self.tds, self._td = [], [], [], False

    def handle_starttag(self, tag, attrs):
        if re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        if tag == "img":
            self.imgs.append(dict(attrs))
        if tag == "td":
            self._td = True
            self.tds.append("")

    def handle_endtag(self, tag):
        if tag == "td":
            self._td = False

    def handle_data(self, data):
        if self._td:
            self.tds[-1] += data


def test_headings_in_order_and_figures_described(site):
    for p in pages(site):
        s = _Struct()
        text = p.read_text()
        s.feed(text)
        assert s.headings.count(1) == 1 and s.headings[0] == 1, p
        for a, b in zip(s.headings, s.headings[1:], strict=False):
            assert b <= a + 1, (p, s.headings)
        for img in s.imgs:
            assert len(img.get("alt", "")) > 20, (p, img.get("alt"))
        assert text.count("<figure>") == text.count("<details>"), (
            p
        )  # every figure has its data table
        assert '<html lang="nb">' in text


def test_norwegian_decimal_comma_in_tables(site):
    s = _Struct()
    s.feed(
        (site / "2019" / "index.html").read_text()
        + (site / "2019" / "regresjoner.html").read_text()
    )
    cells = [c for c in s.tds if re.search(r"\d", c)]
    assert cells and not [c for c in cells if re.search(r"\d\.\d", c)]
    assert any(re.search(r"\d,\d", c) for c in cells) and any(" %" in c for c in cells)


def _contrast(a: str, b: str) -> float:
    def lum(h):
        r, g, bl = (int(h.lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4))
        f = lambda c: c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4  # noqa: E731
        return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(bl)

    hi, lo = sorted([lum(a), lum(b)], reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_contrast_passes_wcag_aa():
    for name, (fg, bg) in report.COLOURS.items():
        assert _contrast(fg, bg) >= 4.5, name
        assert fg in report.PAGE_CSS and bg in report.PAGE_CSS, name
    for c in plots.PALETTE:
        assert _contrast(c, "#ffffff") >= 3.0, c  # non-text contrast of figure marks


def test_year_over_year_on_headline(site):
    text = (site / "2019" / "index.html").read_text()
    assert "Endring fra i fjor" in text and "2018:" in text
    assert "kan skilles fra 0" in text or "kan ikke skilles fra 0" in text
    r = pd.read_csv(site / "2019" / "results.csv")
    assert r["quantity"].str.contains("change 2018-2019").sum() >= 5


def test_every_page_in_a_real_browser(site):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("chromium not found in CI: .ci/run must install it")
        pytest.skip("chromium not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    shots = config.BUILD_DIR / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    problems = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        for p in pages(site):
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.on(
                "console",
                lambda m, p=p: (
                    problems.append((p.name, m.type, m.text))
                    if m.type in ("error", "warning")
                    else None
                ),
            )
            page.on("pageerror", lambda e, p=p: problems.append((p.name, "pageerror", str(e))))
            page.on(
                "requestfailed",
                lambda r, p=p: problems.append((p.name, "requestfailed", r.url[:80])),
            )
            page.on(
                "request",
                lambda r, p=p: (
                    problems.append((p.name, "external", r.url[:80]))
                    if not r.url.startswith(("file:", "data:"))
                    else None
                ),
            )
            page.goto(p.as_uri(), wait_until="load")
            assert page.title()
            imgs = page.eval_on_selector_all(
                "img", "els => els.map(e => e.complete && e.naturalWidth > 0)"
            )
            assert all(imgs), (p, imgs)
            name = str(p.relative_to(site)).replace("/", "_").replace(".html", ".png")
            page.screenshot(path=str(shots / name), full_page=True)
            page.close()
        browser.close()
    assert problems == [], problems[:10]


def test_methods_appendix_accounts_for_every_row(site):
    import json

    truth = json.loads((config.DEMO_TRUTH_DIR / "parameters.json").read_text())["years"]
    for y in YEARS:
        text = (site / str(y) / "metode.html").read_text()
        raw = truth[str(y)]["raw_rows"]
        m = re.search(rf"Radregnskap {y}: (\d+) rader i rådata, (\d+) beholdt, (\d+) utelatt", text)
        assert m, y
        assert int(m.group(1)) == raw == int(m.group(2)) + int(m.group(3))
        assert "Frafall på enkeltspørsmål" in text and "Svar og vekting" in text


def test_inputs_untouched_by_a_full_build(site):
    from analysis.register import read_checksums, sha256_file, verify_snapshot

    verify_snapshot(config.default_register_snapshot())  # raises if the snapshot changed
    for name, digest in read_checksums(config.RAW_DIR / "MANIFEST.sha256").items():
        assert sha256_file(config.RAW_DIR / name) == digest
