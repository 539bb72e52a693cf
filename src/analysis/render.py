"""Pages are the executed notebooks: nbconvert's HTML exporter with the project template.

One Jinja2 template (``templates/barometer/index.html.j2``, extending nbconvert's ``basic``)
makes every page: inline CSS, no scripts, navigation, the synthetic-data notice and the
provenance footer. Reviewer pages hide all code and drop cells tagged ``parameters``,
``injected-parameters``, ``remove-cell`` or ``analyst-only``; analyst pages are the same
executed notebook with its code. Markdown cells are written in Bokmål; for another
language they are translated from the message catalog while rendering.

What a delivery or a codebook says is text, never markup: markdown that a cell displays has its
``<`` escaped before it is rendered (tables escape their cells in :mod:`analysis.tables`), every
page carries a Content-Security-Policy that forbids scripts and outside resources, and a page
that would still hold active content (a script, an event handler, a ``javascript:`` link) is
not written (:func:`check_inert`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from analysis import __version__, i18n

TEMPLATE_DIR = Path(__file__).parent / "templates"
TEMPLATE = "barometer"
REVIEWER_REMOVE = (
    "parameters",
    "injected-parameters",
    "remove-cell",
    "analyst-only",
    "notebook-title",
)
ANALYST_REMOVE = ("notebook-title",)


class MissingTranslation(KeyError):
    """A markdown cell has no entry in the language's message catalog."""


class ActiveContent(ValueError):
    """A page would hold a script, an event handler or a link that runs code."""


#: Elements and attributes no page of the barometer has: the template and the tables make
#: none, so one found came from data that was not escaped
ACTIVE_TAGS = {"script", "iframe", "frame", "object", "embed", "applet", "base", "form", "link",
               "meta", "svg", "math", "template", "input", "button", "textarea"}  # fmt: skip
SAFE_URL = re.compile(r"^(?:[#./]|[A-Za-z0-9_.-]+(?:[/#?]|$)|https?:|mailto:|data:image/png;)")
META_OK = {("charset", "utf-8"), ("name", "viewport"), ("http-equiv", "content-security-policy")}


def csp() -> str:
    """The Content-Security-Policy of every page: no scripts, nothing loaded from elsewhere;
    the inline CSS and the embedded PNG figures only."""
    return (
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; "
        "form-action 'none'"
    )


#: the content of the meta elements the template writes
_META_ATTRS = {("content", "width=device-width, initial-scale=1"), ("content", csp().lower())}


def check_inert(html: str, where: str) -> None:
    """Raise :class:`ActiveContent` if ``html`` holds an element, attribute or link that can
    run code or load from elsewhere (the embedded figures are skipped: base64 is not markup)."""
    from html.parser import HTMLParser

    found: list[str] = []

    class Scan(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            pairs = {(k, (v or "").lower()) for k, v in attrs}
            if tag in ACTIVE_TAGS and not (tag == "meta" and pairs <= META_OK | _META_ATTRS):
                found.append(f"<{tag}>")
            for k, v in attrs:
                if k.startswith("on"):
                    found.append(f"{k}= on <{tag}>")
                elif k in ("href", "src", "action", "formaction", "xlink:href") and v:
                    if not SAFE_URL.match(v.strip()):
                        found.append(f"{k}={v[:40]!r} on <{tag}>")

    Scan().feed(re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "data:image/png;", html))
    if found:
        raise ActiveContent(
            f"{where}: the page would hold active content ({', '.join(found[:3])}); text from "
            "the delivery or the codebook reached it unescaped. Nothing was published."
        )


def escape_markdown_outputs(nb) -> None:
    """Markdown displayed by a cell is text with emphasis, never markup: its ``<`` are
    escaped (a municipality name, a column header or a label stays as written)."""
    for c in nb.cells:
        for o in c.get("outputs", []):
            md = o.get("data", {}).get("text/markdown")
            if md is not None:
                text = "".join(md) if isinstance(md, list) else md
                o["data"]["text/markdown"] = text.replace("<", "&lt;")


@dataclass
class Page:
    """What the template needs besides the notebook."""

    title: str
    lang: str
    nav: list[dict] = field(default_factory=list)  # href, label, current
    synthetic: bool = False
    provenance_line: str = ""
    provenance_href: str = "proveniens.html"  # the provenance page, relative to this page


def translate_markdown(nb, lang: str) -> None:
    """Replace each markdown cell's Bokmål source by its translation (in place)."""
    if lang == i18n.SOURCE_LANGUAGE:
        return
    cat = i18n.catalog(lang)
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        key = cell.source.strip()
        if key not in cat:
            raise MissingTranslation(
                f"markdown cell {key[:60]!r}... has no {lang} translation; run "
                "scripts/i18n_extract.py and translate it in " + str(i18n.po_path(lang))
            )
        cell.source = cat[key]


def _texts(lang: str) -> dict[str, str]:
    _ = i18n.Lang(lang)
    return {
        "skip": _("Hopp til innhold"),
        "nav": _("Sider i barometeret"),
        "synthetic": _(
            "Syntetiske data: denne rapporten er bygd på en syntetisk demonstrasjonsundersøkelse med kjent datagenererende prosess, ikke på ekte svar fra kommunene."
        ),
        "figure_data": _("Tallene bak figuren"),
        "provenance": _("Proveniens"),
        "provenance_link": _("Full proveniens: parametre, sjekksummer og pakkeversjoner"),
    }


def render(executed: Path, out: Path, page: Page, with_code: bool = False) -> Path:
    """Write the HTML page of an executed notebook."""
    import nbformat
    from nbconvert.preprocessors import TagRemovePreprocessor

    nb = nbformat.read(str(executed), as_version=4)
    for i, c in enumerate(nb.cells):  # papermill gives injected cells random ids
        c["id"] = f"cell-{i}"
    translate_markdown(nb, page.lang)
    for c in nb.cells:
        if "injected-parameters" in c.metadata.get("tags", []):
            c.source = public_parameters(c.source)
    remove = TagRemovePreprocessor(
        remove_cell_tags=set(ANALYST_REMOVE if with_code else REVIEWER_REMOVE), enabled=True
    )
    nb, _ = remove.preprocess(nb, {})
    if not with_code:
        for c in nb.cells:  # warnings and logs are for analysts, not reviewers
            if c.cell_type == "code":
                c.outputs = [o for o in c.outputs if o.get("name") != "stderr"]
    escape_markdown_outputs(nb)
    resources = {"page": {**page.__dict__, "text": _texts(page.lang), "csp": csp()}}
    body, _ = _page_exporter(with_code).from_notebook_node(nb, resources=resources)
    check_inert(body, f"{out.name.strip('.').removesuffix('.tmp')} of {Path(executed).name}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(body, encoding="utf-8")
    return out


@lru_cache(maxsize=2)
def _page_exporter(with_code: bool) -> object:
    """The exporter of one kind of page, made once per process: its templates are compiled
    once (in the warm server for every step forked from it, see :func:`warm_up`)."""
    return _exporter()(
        template_name=TEMPLATE,
        extra_template_basedirs=[str(TEMPLATE_DIR)],
        exclude_input=not with_code,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )


def warm_up() -> None:
    """Compile both kinds of page by rendering an empty notebook (writes nothing)."""
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1", id="cell-0")])
    page = {**Page(title="", lang="nb").__dict__, "text": _texts("nb"), "csp": csp()}
    for with_code in (False, True):
        _page_exporter(with_code).from_notebook_node(nb, resources={"page": page})


def _exporter() -> type:
    """nbconvert's HTML exporter without the BeautifulSoup pass it ends with (a placeholder
    alt text for images without one, a tabindex on JupyterLab cells, then the page parsed and
    written again): this template gives every figure its alt text (tested) and has no
    JupyterLab cells, and html.parser over the embedded figures took more than half of each
    page's rendering. The filters it registers first are registered the same way."""
    from nbconvert import HTMLExporter
    from nbconvert.exporters.templateexporter import TemplateExporter
    from nbconvert.filters.highlight import Highlight2HTML
    from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

    class PageExporter(HTMLExporter):
        def from_notebook_node(self, nb, resources=None, **kw):  # type: ignore[override]
            info = nb.metadata.get("language_info", {})
            lexer = info.get("pygments_lexer", info.get("name", None))
            highlight = self.filters.get(
                "highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self)
            )
            resources = self._init_resources(resources)
            data_type = WidgetsDataTypeFilter(
                notebook_metadata=self._nb_metadata, parent=self, resources=resources
            )
            self.register_filter("highlight_code", highlight)
            self.register_filter("filter_data_type", data_type)
            body, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
            return _characters(body), resources

    return PageExporter


def _characters(body: str) -> str:
    """Numeric character references as the characters (markdown headings come out as
    "p&#229;"), except those that must stay escaped: what the BeautifulSoup pass did."""
    import re

    def char(m: re.Match) -> str:
        c = chr(int(m[1][1:], 16) if m[1][0] in "xX" else int(m[1]))
        return m[0] if c in "<>&\"'" else c

    return re.sub(r"&#([xX][0-9a-fA-F]+|[0-9]+);", char, body)


def public_parameters(source: str) -> str:
    """Papermill's injected parameters as an analyst page shows them: a path of the build
    machine is replaced by its role, as in the provenance record
    (:func:`analysis.provenance.public_params`)."""
    import ast
    import json

    from analysis import provenance

    given = {
        n.targets[0].id: n.value.value
        for n in ast.parse(source).body
        if isinstance(n, ast.Assign)
        and isinstance(n.targets[0], ast.Name)
        and isinstance(n.value, ast.Constant)
        and isinstance(n.value.value, str)
    }
    public = provenance.public_params(given)
    lines = []
    for line in source.splitlines():
        name = line.split("=")[0].strip()
        lines.append(
            f"{name} = {json.dumps(public[name])}"
            if public.get(name, given.get(name)) != given.get(name)
            else line
        )
    return "\n".join(lines)


def nav(lang: str, kind: str, pages: list, current: str, analyst: bool, pooled: bool) -> list[dict]:
    """Links of a site's pages (``pages``: notebook, file, label), the analyst page, results."""
    _ = i18n.Lang(lang)
    links = [{"href": "../index.html", "label": _("Alle år"), "current": False}]
    links += [
        {"href": f, "label": _(lbl), "current": f == current and not analyst}
        for _nb, f, lbl in pages
    ]
    links.append(
        {"href": f"analyst-{current}", "label": _("Med kode (analytikere)"), "current": analyst}
    )
    if kind != "ingest":
        links.append({"href": "results.csv", "label": "results.csv", "current": False})
    links.append({"href": "../ordliste.html", "label": _("Ordliste"), "current": False})
    if kind == "year" and pooled:
        links.append(
            {"href": "../pooled/index.html", "label": _("Utvikling over år"), "current": False}
        )
    return links


def top_nav(lang: str, pooled: bool, current: str) -> list[dict]:
    """Links of the top-level pages: all years, trends, ingest, glossary, results dictionary."""
    _ = i18n.Lang(lang)
    links = [("index.html", _("Alle år"))]
    if pooled:
        links.append(("pooled/index.html", _("Utvikling over år")))
    links += [
        ("ingest/index.html", _("Innlesing og radregnskap")),
        ("ordliste.html", _("Ordliste og dataordbok")),
        ("results_dictionary.csv", _("Ordliste for results.csv")),
    ]
    return [{"href": h, "label": lbl, "current": h == current} for h, lbl in links]


def page_meta(lang: str, title: str, nav: list[dict], synthetic: bool, site: str = "") -> Page:
    """The page frame: title, navigation, synthetic-data notice, one provenance line and the
    link to the provenance page (from a site's folder, or from the top for ``site`` empty)."""
    from analysis import provenance

    _ = i18n.Lang(lang)
    line = _(
        "Bygd {time} av kommunebarometer {version} (commit {commit}).",
        time=datetime.now(UTC).isoformat(timespec="seconds"),
        version=__version__,
        commit=provenance.git_commit()[:12],
    )
    href = "../proveniens.html" if site else "proveniens.html"
    return Page(title, lang, nav, synthetic, line, href)


def site_title(lang: str, site: str) -> str:
    """Title of a site: the ingest report, a year, or all years."""
    _ = i18n.Lang(lang)
    if site == "ingest":
        return _("Kommunebarometeret: innlesing av rådata")
    if site == "pooled":
        return _("Kommunebarometeret: alle år")
    return _("Kommunebarometeret {year}", year=site)
