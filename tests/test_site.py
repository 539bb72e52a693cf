"""The barometer reviewers read: self-contained, traceable, accessible pages in two languages.

Built once in Bokmål for every demo year (fixture ``site``) and once in English for 2019
with the pooled pages (``site_en``); checked for structure, self-containment, provenance,
disclosure control, Norwegian conventions, accessibility, and in a real browser.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pandas as pd
import pytest

from analysis import config, ingest, plots, results

pytestmark = pytest.mark.slow

YEARS = [2015, 2016, 2017, 2018, 2019]
YEAR_PAGES = ["index.html", "beskrivende.html", "regresjoner.html", "metode.html"]
CSS = (config.PROJECT_ROOT / "src/analysis/templates/barometer/barometer.css").read_text()


def pages(site):
    return sorted(site.rglob("*.html"))


def reviewer_pages(site):
    return [p for p in pages(site) if not p.name.startswith("analyst-")]


def test_every_year_has_a_small_site(site):
    index = (site / "index.html").read_text()
    for y in YEARS:
        for p in (
            YEAR_PAGES + [f"analyst-{p}" for p in YEAR_PAGES] + ["results.csv", "provenance.json"]
        ):
            assert (site / str(y) / p).is_file(), (y, p)
        assert f'href="{y}/index.html"' in index
    assert 'href="pooled/index.html"' in index and (site / "pooled" / "results.csv").is_file()
    assert 'href="ingest/index.html"' in index and (site / "results_dictionary.csv").is_file()
    for top in ("ordliste.html", "proveniens.html"):
        assert f'href="{top}"' in index and (site / top).is_file(), top


def test_pages_are_self_contained(site, site_en):
    for p in pages(site) + pages(site_en):
        text = p.read_text()
        assert "<script" not in text.lower(), p
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text), p
        assert "@import" not in text and "url(http" not in text, p


def test_provenance_on_every_page(site):
    """One line in every page's footer (build time, version, commit) with a link to the
    provenance page; the full record (inputs a part is built from, parameters, packages with
    svy) is on that page and in each part's provenance.json, with no path of the build machine
    on any page (the analyst pages show the injected parameters with roles for paths)."""
    for p in pages(site):
        text = p.read_text()
        assert str(site.parent).lstrip("/") not in text, p
        assert str(config.PROJECT_ROOT).lstrip("/") not in text, p
        assert 'class="provenance"' in text and "<details><summary>Inndata" not in text, p
        assert re.search(r"Bygd \d{4}-\d\d-\d\dT.*commit [0-9a-f]{12}", text), p
        href = "proveniens.html" if p.parent == site else "../proveniens.html"
        assert f'href="{href}"' in text and (p.parent / href).is_file(), p
    page = (site / "proveniens.html").read_text()
    for part in [*YEARS, "pooled", "ingest"]:
        prov = json.loads((site / str(part) / "provenance.json").read_text())
        assert {"commit", "parameters", "inputs_sha256", "packages"} <= set(prov)
        # the inputs a part is built from: its year's export and the year before's; every
        # export for the pooled and ingest parts
        used = [part - 1, part] if isinstance(part, int) else YEARS
        for y in YEARS:
            assert any(f"raw/kommuneundersokelsen_{y}." in f for f in prov["inputs_sha256"]) == (
                y in used
            ), (part, y)
        for f, digest in prov["inputs_sha256"].items():
            assert f in page and digest in page, (part, f)
    prov = json.loads((site / "2019" / "provenance.json").read_text())
    assert prov["packages"]["svy"] != "not installed" and prov["parameters"]["year"] == "2019"
    assert re.search(r">svy</th>\s*<td[^>]*>" + re.escape(prov["packages"]["svy"]) + "<", page)
    for record in site.rglob("provenance.json"):  # no path of the build machine
        params = json.loads(record.read_text())["parameters"]
        paths = [v for v in params.values() if "/" in v or "\\" in v]
        assert all(v.startswith("data/") or v.startswith("<") for v in paths), (record, params)
        assert not any(".." in v or str(site.parent) in v for v in params.values()), record
    assert str(site.parent) not in page and "build/" not in page


def _raw_personal_data():
    from analysis.codebook import load_codebook

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


EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
IMAGE = re.compile(r"data:image/[a-z+]+;base64,[A-Za-z0-9+/=]+")


def test_no_personal_data_or_row_level_data_under_reports(site, site_en):
    pii = _raw_personal_data()
    # an address the pattern below matches needs no search of its own (the pattern finds any)
    pii["emails"] = {v for v in pii["emails"] if not EMAIL.fullmatch(v)}
    for root in (site, site_en):
        for p in root.rglob("*"):
            if not p.is_file() or p.suffix not in (".html", ".csv", ".json"):
                continue
            # no e-mail address but the barometer's own contact (configuration, not data); the
            # figures' base64 is left out of the search (40 % of the text, and it cannot hold
            # a value as text)
            text = IMAGE.sub("", p.read_text().replace(config.CONTACT, ""))
            assert not EMAIL.search(text), p
            for kind, values in pii.items():
                hit = next((v for v in values if v in text), None)
                assert hit is None, (p, kind, hit)
            assert "respondent_id" not in text and "source_row" not in text, p


def test_results_files_respect_the_cell_minimum_and_schema(site):
    for p in site.rglob("results.csv"):
        r = results.read_csv(p)
        results.schema().validate(r)
        small = r[r["n"].fillna(results.MIN_CELL) < results.MIN_CELL]
        assert small["estimate"].isna().all() and small["suppressed"].all(), p
        assert r["method"].ne("").all(), p
        shown = r[~r["suppressed"] & r["estimate"].notna()]
        ok_without_se = shown["scale"].isin(["count", "alpha", "weight", "ratio", "odds ratio"])
        assert (shown["se"].notna() | ok_without_se).all(), p  # never an estimate without its SE


def test_results_ids_do_not_depend_on_the_language(site, site_en):
    """The same inputs give byte-identical results files in Bokmål and English."""
    for name in ("2019", "pooled"):
        assert (site / name / "results.csv").read_bytes() == (
            site_en / name / "results.csv"
        ).read_bytes()


class _Struct(HTMLParser):
    def __init__(self):
        super().__init__()
        self.headings, self.imgs, self.tds, self._td, self.text = [], [], [], False, []

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
        self.text.append(data)
        if self._td:
            self.tds[-1] += data


@pytest.mark.parametrize("which", ["site", "site_en"])
def test_headings_in_order_and_figures_described(which, request):
    site = request.getfixturevalue(which)
    lang = "nb" if which == "site" else "en"
    for p in reviewer_pages(site):
        s = _Struct()
        text = p.read_text()
        s.feed(text)
        assert s.headings.count(1) == 1 and s.headings[0] == 1, p
        for a, b in zip(s.headings, s.headings[1:], strict=False):
            assert b <= a + 1, (p, s.headings)
        for img in s.imgs:
            assert len(img.get("alt", "")) > 40, (p, img.get("alt"))
        # every figure has its data table (plus the provenance footer's details)
        assert text.count("<details>") == len(s.imgs), p
        assert text.count("<table") == text.count("<caption>"), p  # every table has a caption
        assert f'<html lang="{lang}">' in text
        assert 'class="input_area"' not in text and "import " not in text, p  # no code


def test_figures_on_the_pages_that_need_them(site):
    for page, n in (
        ("index.html", 1),
        ("2019/index.html", 2),
        ("2019/regresjoner.html", 2),
        ("pooled/index.html", 1),
        ("pooled/regresjoner.html", 1),
    ):
        assert (site / page).read_text().count("<img") == n, page


def test_norwegian_decimal_comma_in_tables(site):
    s = _Struct()
    s.feed(
        (site / "2019" / "index.html").read_text()
        + (site / "2019" / "regresjoner.html").read_text()
    )
    cells = [c for c in s.tds if re.search(r"\d", c)]
    assert cells and not [c for c in cells if re.search(r"\d\.\d", c)]
    assert any(re.search(r"\d,\d", c) for c in cells)
    assert "Andel, %" in (site / "2019" / "index.html").read_text()


def _contrast(a: str, b: str) -> float:
    def lum(h):
        r, g, bl = (int(h.lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4))
        f = lambda c: c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4  # noqa: E731
        return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(bl)

    hi, lo = sorted([lum(a), lum(b)], reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_contrast_passes_wcag_aa():
    pairs = {
        "text": ("#1a1a1a", "#ffffff"),
        "heading": ("#0b2e4f", "#ffffff"),
        "link": ("#0b4f8a", "#ffffff"),
        "table head": ("#1a1a1a", "#eef2f6"),
        "notice": ("#1a1a1a", "#fff4e5"),
        "code": ("#333333", "#f6f6f6"),
    }
    for name, (fg, bg) in pairs.items():
        assert _contrast(fg, bg) >= 4.5, name
        assert fg in CSS and bg in CSS, name
    for c in plots.PALETTE:
        assert _contrast(c, "#ffffff") >= 3.0, c  # non-text contrast of figure marks


def test_change_from_last_year_with_series_breaks(site):
    text = (site / "2019" / "index.html").read_text()
    assert "Endring fra året før" in text and "2018, %" in text
    assert "Seriebrudd i 2019" in text and " |</th>" in text
    r = results.read_csv(site / "2019" / "results.csv")
    ch = r[r["section"] == "change from last year"]
    assert (
        len(ch) >= 5
        and (ch["contrast"] == "2019-2018").all()
        and (ch["scale"] == "share difference").all()
    )


def _key_findings(page) -> list[str]:
    """The text of each key finding: the items of the list under the heading 'Hovedfunn'."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(page.read_text(), "html.parser")
    heading = next((h for h in soup("h2") if h.get_text().startswith("Hovedfunn")), None)
    assert heading is not None, page
    return [
        li.get_text(" ", strip=True).replace("\u2212", "-") for li in heading.find_next("ul")("li")
    ]


def _shown(text: str) -> float:
    return float(text.replace("\u00a0", "").replace(" ", "").replace(",", "."))


def _rounds_to(value: float, text: str) -> bool:
    """Whether ``text`` (a number as the page shows it) is ``value`` rounded."""
    dec = len(text.split(",")[1]) if "," in text else 0
    return abs(value - _shown(text)) <= 0.5 * 10.0**-dec + 1e-9


@pytest.mark.parametrize("year", YEARS)
def test_key_findings_are_the_estimates_they_cite(site, year):
    """3-5 findings; every number in them is a number of results.csv; every verdict is the
    verdict results.csv stores for the row whose interval it stands beside (its family's rule,
    analysis.findings); each lead sentence names exactly the outcomes with a verdict; the
    research question (size, change resistance) is answered. (tests/claims.py checks more.)"""
    findings = _key_findings(site / str(year) / "index.html")
    assert 3 <= len(findings) <= 5, findings
    assert findings[0].startswith("Endringsmotstand.") and findings[1].startswith("Størrelse.")
    rows = results.read_csv(site / str(year) / "results.csv")
    rows = rows[~rows["suppressed"]]
    pct = [100 * v for c in ("estimate", "ci_low", "ci_high") for v in rows[c].dropna()]
    pct += [abs(v) for v in pct]
    ns = set(rows["n"].dropna().astype(int))
    ps = list(rows["p"].dropna()) + list(rows["p_adj"].dropna())
    effects = rows[rows["scale"].isin(["marginal effect (share)", "share difference"])]
    verdicts = {"klart over null": "above", "klart under null": "below"}
    for text in findings:
        # every number: a year, a percentage or p.p. of a row, an n, or a p-value of a row
        for m in re.finditer(r"(?<![\w,])-?\d[\d\u00a0]*(?:,\d+)?", text):
            num, after = m.group(), text[m.end() : m.end() + 12]
            if num in (str(year), str(year - 1)) or num == "95":
                continue
            if text[max(0, m.start() - 4) : m.start()] == "n = ":
                assert int(_shown(num)) in ns, (num, text)
            elif (
                text[max(0, m.start() - 2) : m.start()] in ("= ", "< ")
                and "," in num
                and "p" in text[m.start() - 4 : m.start()]
            ):
                assert any(_rounds_to(p, num) for p in ps), (num, text)
            else:
                assert any(_rounds_to(v, num) for v in pct), (num, after, text)
        # every interval in p.p. has its verdict beside it, and the verdict is the interval's
        for m in re.finditer(
            r"\[(-?[\d,]+);\s(-?[\d,]+)\]\sp\.p\.; n = (\d+); (klart over null|klart under null|kan ikke skilles fra null)",
            text,
        ):
            lo, hi, n, said = m.groups()
            match = effects[
                [
                    _rounds_to(100 * a, lo) and _rounds_to(100 * b, hi) and k == int(n)
                    for a, b, k in zip(
                        effects["ci_low"], effects["ci_high"], effects["n"], strict=True
                    )
                ]
            ]
            assert len(match), (m.group(), text)
            r = match.iloc[0]
            assert verdicts.get(said, "none") == r.verdict, (m.group(), r)
    # the lead sentence names exactly the outcomes with a verdict (adjusted p < 0.05)
    key = rows[rows["section"] == "key findings"]
    for text, term in ((findings[0], "cri_c"), (findings[1], "ln_pop_c*log(2)")):
        k = key[key["term"] == term]
        clear = int(k["verdict"].isin(["above", "below"]).sum())
        lead = re.split(r" (?:Ett trinn|En dobling)", text)[0]
        assert lead.count("«") == clear, (lead, k[["outcome", "ci_low", "ci_high"]])


def test_landing_page_informs(site):
    """The landing page says what the survey is, shows the latest year's findings (the same as
    the year's page) and the headline indicators over all years with series breaks marked."""
    from bs4 import BeautifulSoup

    text = (site / "index.html").read_text()
    soup = BeautifulSoup(text, "html.parser")
    headings = [h.get_text(strip=True).rstrip("¶") for h in soup("h2")]
    assert "Om undersøkelsen" in headings and f"Hovedfunn {YEARS[-1]}" in headings, headings
    assert "Hovedindikatorene over tid" in headings and "Årene" in headings
    assert _key_findings(site / "index.html") == _key_findings(site / str(YEARS[-1]) / "index.html")
    assert len(soup("img")) == 1 and "seriebrudd" in soup.img["alt"]
    for link in ("ordliste.html", f"{YEARS[-1]}/metode.html", "pooled/index.html"):
        assert f'href="{link}"' in text, link
    # response per year: the register's N from results.csv, the answers from the accounting
    table = soup.find("caption", string="Svar per år").find_parent("table")
    cells = [td.get_text(strip=True) for td in table("td")]
    for y in YEARS:
        rows = results.read_csv(site / str(y) / "results.csv")
        n = rows.loc[(rows["section"] == "headline") & (rows["group"] == "all"), "N"].iloc[0]
        assert f"{int(n)}" in [c.replace("\u00a0", "") for c in cells], (y, n)


def test_about_the_statistics_and_glossary(site):
    from bs4 import BeautifulSoup

    for y in YEARS:
        soup = BeautifulSoup((site / str(y) / "metode.html").read_text(), "html.parser")
        table = soup.find("caption", string=f"Om statistikken {y}").find_parent("table")
        rows = {
            th.get_text(strip=True): th.find_next("td").get_text(strip=True)
            for th in table("th", scope="row")
        }
        for field in (
            "Populasjon og ramme",
            "Svar",
            "Referanseperiode",
            "Datagrunnlag",
            "Sammenlignbarhet over tid",
            "Kjente svakheter",
            "Foreslått sitering",
            "Kontakt",
        ):
            assert rows.get(field), (y, field)
        assert rows["Datagrunnlag"].startswith("Syntetiske data"), rows["Datagrunnlag"]
        assert config.CONTACT in rows["Kontakt"] and "commit" in rows["Foreslått sitering"]
    glossary = BeautifulSoup((site / "ordliste.html").read_text(), "html.parser")
    for caption in ("Ordliste", "Kolonnene i results.csv", "Kolonnene i respondenttabellen"):
        assert glossary.find("caption", string=caption), caption
    described = {
        th.get_text(strip=True)
        for th in glossary.find("caption", string="Kolonnene i results.csv").find_parent("table")(
            "th", scope="row"
        )
    }
    assert described == set(results.COLUMNS)


def test_count_sentence_of_significant_differences_is_computed(site):
    text = (site / "2019" / "beskrivende.html").read_text()
    r = results.read_csv(site / "2019" / "results.csv")
    diffs = r[r["section"] == "class differences"]
    k = int((diffs["p_adj"] < 0.05).sum())
    assert (
        f"{len(diffs)} sammenligninger er testet. {k} av dem har justert p-verdi under 0,05" in text
    )


def test_english_pages_have_no_bokmal_left(site_en):
    words = [
        "Andel",
        "Sammendrag",
        "Indikator",
        "Størrelsesklasse",
        "Tallene bak",
        "Hovedfunn",
        "Endringsmotstand",
        "kommuner",
        "svarte",
        "Metodevedlegg",
        "Bygd",
        "Hopp til",
    ]
    for p in pages(site_en):
        s = _Struct()
        s.feed(p.read_text())
        visible = re.sub(r'"[^"]*"|«[^»]*»', "", " ".join(s.text))  # quoted question wordings
        visible = visible.replace("Kommuneundersøkelsen", "")  # the survey's name in sources
        left = [w for w in words if re.search(rf"\b{w}\b", visible)]
        assert not left, (p, left)


def test_methods_appendix_accounts_for_every_row(site):
    truth = json.loads((config.DEMO_TRUTH_DIR / "parameters.json").read_text())["years"]
    for y in YEARS:
        text = (site / str(y) / "metode.html").read_text()
        raw = truth[str(y)]["raw_rows"]
        m = re.search(
            rf"Rådataene for {y} har (\d+) rader: (\d+) er brukt og (\d+) er utelatt", text
        )
        assert m, y
        assert int(m.group(1)) == raw == int(m.group(2)) + int(m.group(3))
        assert "Frafall på enkeltspørsmål" in text and "Svar og vekting" in text


def test_inputs_untouched_by_a_full_build(site):
    from analysis.register import read_checksums, sha256_file, verify_snapshot

    verify_snapshot(config.default_register_snapshot())  # raises if the snapshot changed
    for name, digest in read_checksums(config.RAW_DIR / "MANIFEST.sha256").items():
        assert sha256_file(config.RAW_DIR / name) == digest


def test_results_dictionary_documents_every_column(site):
    d = pd.read_csv(site / "results_dictionary.csv")
    r = pd.read_csv(site / "2019" / "results.csv", nrows=1)
    assert list(d["column"]) == list(r.columns) and d["description"].str.len().gt(10).all()


# ---------------------------------------------------------------- the build graph (make -n)


def _graph(site, goal: str = "publish") -> list[str]:
    """make's command line for the built site (what make report runs), parameters as given."""
    from analysis import build

    p = build.parameters(config.RAW_DIR, config.CODEBOOK_PATH, site, site.parent / "processed")
    return build.make_command(p, goal=goal)


def _would_run(site, changed: str) -> set[tuple[str, str]]:
    """The steps make would run on the built site if ``changed`` were new (``make -n -W``,
    which neither runs nor touches anything): (site, notebook) pairs. An input token is
    checked against the first pass (ingest); anything else against the second (the pages),
    since -W does not reach a sub-make."""
    import subprocess

    cmd = _graph(site, "publish" if "/inputs/" in changed else "_publish")
    r = subprocess.run([*cmd, "-n", "-W", changed], capture_output=True, text=True, check=True)
    steps = re.findall(
        r"--kind step -- .*? (page|ingest)(?: --site (\S+) --notebook (\S+))?", r.stdout
    )
    return {("ingest", "01_ingest") if s == "ingest" else (site_, nb) for s, site_, nb in steps}


def _token(site, name: str) -> str:
    """An input token of the site's build, as make names it (relative to the checkout)."""
    from analysis import build

    return str((build.build_dir_for(site) / "inputs" / name).relative_to(config.PROJECT_ROOT))


def test_nothing_to_do_on_the_built_site_and_make_alone_decides(site):
    """The no-op build: make finds every page up to date and would run no step at all."""
    import subprocess

    r = subprocess.run([*_graph(site), "-n"], capture_output=True, text=True, check=True)
    assert "analysis.steps" not in r.stdout and "--kind step" not in r.stdout, r.stdout
    assert "sites: ingest 2015 2016 2017 2018 2019 pooled" in r.stdout.splitlines()[-1]


def test_a_changed_notebook_rebuilds_only_its_pages(site):
    assert _would_run(site, "notebooks/12_regressions.ipynb") == {  # as make names them
        (str(y), "12_regressions") for y in YEARS
    }
    assert _would_run(site, "notebooks/21_pooled.ipynb") == {("pooled", "21_pooled")}


def test_a_changed_plotting_function_rebuilds_only_the_pages_that_plot(site):
    """plots.py is imported by the summary, regression, trend and pooled notebooks only."""
    expected = {(str(y), nb) for y in YEARS for nb in ("10_summary", "12_regressions")}
    expected |= {("pooled", "20_trends"), ("pooled", "21_pooled")}
    assert _would_run(site, "src/analysis/plots.py") == expected


def test_a_changed_export_reruns_ingest_first(site):
    """make cannot know before ingest which years changed: it reruns ingest, whose year tokens
    then decide (tests/test_graph.py runs this for real)."""
    assert ("ingest", "01_ingest") in _would_run(site, _token(site, "raw.sha256"))


def test_a_changed_environment_rebuilds_every_page(site):
    """Another lock file or installed package (its token in the build's inputs/) rebuilds
    every page: the pages were made by the old code."""
    cmd = _graph(site, "_publish")
    env = _token(site, "environment.sha256")
    import subprocess

    r = subprocess.run([*cmd, "-n", "-W", env], capture_output=True, text=True, check=True)
    pages = set(re.findall(r"page --site (\S+) --notebook (\S+)", r.stdout))
    year_nbs = ("10_summary", "11_descriptives", "12_regressions", "13_methods")
    assert pages == {(str(y), nb) for y in YEARS for nb in year_nbs} | {
        ("pooled", "20_trends"),
        ("pooled", "21_pooled"),
    }
