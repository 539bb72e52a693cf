"""Build the barometer: run the notebooks with Papermill and render them to HTML.

``python -m analysis.build`` (called by ``make report``):

1. runs ``notebooks/01_ingest.ipynb`` on the delivery (``--raw-dir``), writing the processed
   tables to ``--processed-dir``;
2. runs ``notebooks/10_year.ipynb`` once per survey year found in the data;
3. renders each to a self-contained HTML page without code (``index.html``) and one with
   code for analysts (``analyst.html``), with ``results.csv`` and ``provenance.json`` beside;
4. writes ``reports/index.html`` linking every year.

Each output is rebuilt only when stale: a key over the input checksums, the code, the
notebooks and the parameters is stored with it. Outputs are written to a staging folder
and moved into place only when complete, so a failed or interrupted build leaves the last
good report intact; a failed notebook is kept under ``build/failed/`` for debugging.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import os
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

from analysis import config, ingest, register, report

KEY_FILE = ".build-key"


class BuildError(RuntimeError):
    """A build step failed; the message names the notebook and the failing cell."""


def code_digest() -> str:
    """SHA-256 over the package source, the notebooks and the codebook schema code."""
    h = hashlib.sha256()
    for p in sorted([*Path(__file__).parent.glob("*.py"), *config.NOTEBOOKS_DIR.glob("*.ipynb")]):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def build_key(parts: dict) -> str:
    """Stable key of a build step's inputs."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _is_fresh(target: Path, key: str) -> bool:
    kf = target / KEY_FILE
    return kf.is_file() and kf.read_text().strip() == key


def _replace_dir(staging: Path, target: Path) -> None:
    """Move a complete staging folder into place (old version removed only afterwards)."""
    old = target.with_name(f".old-{target.name}-{os.getpid()}")
    if target.exists():
        target.rename(old)
    staging.rename(target)
    if old.exists():
        shutil.rmtree(old)


def _fresh_dir(p: Path) -> Path:
    shutil.rmtree(p, ignore_errors=True)
    p.mkdir(parents=True)
    return p


def _copy_results(res_dir: Path, staging: Path) -> None:
    for f in res_dir.iterdir():
        shutil.copy2(f, staging / f.name)


def run_notebook(name: str, out_ipynb: Path, params: dict) -> None:
    """Execute a notebook with Papermill in the project kernel; BuildError names the cell."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    out_ipynb.parent.mkdir(parents=True, exist_ok=True)
    try:
        pm.execute_notebook(
            str(config.NOTEBOOKS_DIR / name),
            str(out_ipynb),
            parameters=params,
            kernel_name=config.KERNEL_NAME,
            cwd=str(config.NOTEBOOKS_DIR),
            progress_bar=False,
            log_output=False,
        )
    except PapermillExecutionError as exc:
        failed = config.BUILD_DIR / "failed" / out_ipynb.name
        failed.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(out_ipynb, failed)
        raise BuildError(
            f"notebook {name} failed in cell {exc.exec_count} ({exc.ename}: {exc.evalue}). "
            f"The executed notebook is kept at {failed}."
        ) from None


PAGE_LABELS = {
    "summary": {"nb": "Sammendrag", "en": "Summary", "file": "index.html"},
    "descriptives": {"nb": "Beskrivende tall", "en": "Descriptives", "file": "beskrivende.html"},
    "regressions": {"nb": "Regresjoner", "en": "Regressions", "file": "regresjoner.html"},
    "methods": {"nb": "Metodevedlegg", "en": "Methods appendix", "file": "metode.html"},
}


def site_nav(
    pages: list[str], current: str, lang: str, extra: list[tuple[str, str]], results: bool = True
) -> str:
    """Navigation between the pages of a report, the index and related reports."""
    up = "Alle år" if lang == "nb" else "All years"
    links = [f'<a href="../index.html">{up}</a>']
    for p in pages:
        lbl, f = PAGE_LABELS[p][lang], PAGE_LABELS[p]["file"]
        links.append(
            f'<a href="{f}" aria-current="page"><strong>{lbl}</strong></a>'
            if p == current
            else f'<a href="{f}">{lbl}</a>'
        )
    code = "Med kode (analytikere)" if lang == "nb" else "With code (analysts)"
    links.append(
        f'<a href="analyst.html">{code}</a>'
        if current != "analyst"
        else f'<a href="analyst.html" aria-current="page"><strong>{code}</strong></a>'
    )
    links += [f'<a href="{href}">{html.escape(lbl)}</a>' for lbl, href in extra]
    if results:
        links.append('<a href="results.csv">results.csv</a>')
    aria = "Sider i rapporten" if lang == "nb" else "Report pages"
    return f'<nav aria-label="{aria}">' + " · ".join(links) + "</nav>"


def write_page(
    executed: Path,
    out_dir: Path,
    title: str,
    prov: dict,
    lang: str,
    extra_links: list[tuple[str, str]] | None = None,
) -> None:
    """Render a small site from an executed notebook: one page per ``page:`` tag (no code),
    plus ``analyst.html`` with code, and ``provenance.json``."""
    build_time = datetime.now(UTC).isoformat(timespec="seconds")
    footer = report.provenance_footer(prov, build_time, lang)
    pages = report.notebook_pages(executed)
    extra = extra_links or []
    has_results = (out_dir / "results.csv").is_file()
    if pages:
        for p in pages:
            body = report.notebook_body(executed, with_code=False, page=p)
            sub = f"{title}: {PAGE_LABELS[p][lang]}" if p != "summary" else title
            if "<h1" not in body:
                body = f"<h1>{html.escape(sub)}</h1>\n" + body
            (out_dir / PAGE_LABELS[p]["file"]).write_text(
                report.page(sub, body, lang, site_nav(pages, p, lang, extra, has_results), footer),
                encoding="utf-8",
            )
    else:
        body = report.notebook_body(executed, with_code=False)
        nav = site_nav([], "", lang, extra, has_results)
        (out_dir / "index.html").write_text(
            report.page(title, body, lang, nav, footer), encoding="utf-8"
        )
    body = report.notebook_body(executed, with_code=True)
    (out_dir / "analyst.html").write_text(
        report.page(
            title, body, lang, site_nav(pages, "analyst", lang, extra, has_results), footer
        ),
        encoding="utf-8",
    )
    (out_dir / "provenance.json").write_text(
        json.dumps(prov, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )


def write_index(
    reports_dir: Path, years: list[int], synthetic: bool, lang: str, pooled: bool = False
) -> Path:
    """``reports/index.html`` linking the ingest report and every year."""
    head = "Kommunebarometeret" if lang == "nb" else "Municipal barometer"
    items = "".join(
        f'<li><a href="{y}/index.html">{y}</a> (<a href="{y}/results.csv">results.csv</a>, '
        f'<a href="{y}/analyst.html">{"med kode" if lang == "nb" else "with code"}</a>)</li>'
        for y in sorted(years, reverse=True)
    )
    ingest_lbl = "Innlesing og radregnskap" if lang == "nb" else "Ingest and row accounting"
    pooled_lbl = (
        "Utvikling over år og samlet analyse"
        if lang == "nb"
        else "Trends over the years and pooled analysis"
    )
    body = (
        f"<h1>{head}</h1>"
        + (
            f'<p class="notice"><strong>{html.escape(report.SYNTHETIC_NOTICE[lang])}</strong></p>'
            if synthetic
            else ""
        )
        + f"<h2>{'År' if lang == 'nb' else 'Years'}</h2><ul>{items}</ul>"
        + (
            f'<p><a href="pooled/index.html">{pooled_lbl}</a> '
            f'(<a href="pooled/results.csv">results.csv</a>)</p>'
            if pooled
            else ""
        )
        + f'<p><a href="ingest/index.html">{ingest_lbl}</a></p>'
    )
    path = reports_dir / "index.html"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(report.page(head, body, lang), encoding="utf-8")
    tmp.replace(path)
    return path


def build(
    raw_dir: Path,
    codebook: Path,
    reports_dir: Path,
    processed_dir: Path,
    register_snapshot: Path | None,
    medium: int,
    large: int,
    lang: str = "nb",
    years: list[int] | None = None,
    force: bool = False,
) -> list[str]:
    """Run the whole build; returns a log of what was built or found fresh."""
    done: list[str] = []
    reports_dir.mkdir(parents=True, exist_ok=True)
    for stale in [*reports_dir.glob(".staging-*"), *reports_dir.glob(".old-*")]:
        shutil.rmtree(stale, ignore_errors=True)  # left by an interrupted build; never used
    reg_dir = register_snapshot or config.default_register_snapshot()
    if reg_dir is None:
        raise BuildError("no register snapshot: set REGISTER_SNAPSHOT")
    if not Path(codebook).is_file():
        raise BuildError(f"codebook {codebook} not found; pass CODEBOOK=<path to codebook.yml>")
    reg_sums = register.verify_snapshot(reg_dir)
    raw_sums = ingest.verify_manifest(raw_dir)
    inputs = {
        **{f"raw/{k}": v for k, v in raw_sums.items()},
        **{f"register/{k}": v for k, v in reg_sums.items()},
        "codebook": register.sha256_file(codebook),
    }
    code = code_digest()

    def rel(p: Path) -> str:
        """Paths inside the project as relative paths (provenance identical across clones)."""
        return os.path.relpath(Path(p).resolve(), config.PROJECT_ROOT)

    common = {
        "processed_dir": rel(processed_dir),
        "codebook": rel(codebook),
        "register_snapshot": rel(reg_dir),
        "medium_threshold": medium,
        "large_threshold": large,
        "lang": lang,
    }
    executed_dir = config.BUILD_DIR / "executed"

    def render(
        name: str,
        notebook: str,
        executed: str,
        params: dict,
        key: str,
        title: str,
        nav_extra: list[tuple[str, str]],
        with_results: bool,
    ) -> None:
        """Run one notebook into a staging folder and move the finished site into place."""
        staging = reports_dir / f".staging-{name}-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        nb_out = executed_dir / executed
        run_params = dict(params)
        if with_results:
            res_dir = _fresh_dir(config.BUILD_DIR / "results" / name)
            run_params["output_dir"] = rel(res_dir)
        run_notebook(notebook, nb_out, run_params)
        if with_results:
            _copy_results(res_dir, staging)
            if not (staging / "results.csv").is_file():
                raise BuildError(f"notebook {notebook} ({name}) wrote no results.csv")
        write_page(nb_out, staging, title, report.provenance(params, inputs), lang, nav_extra)
        (staging / KEY_FILE).write_text(key + "\n")
        _replace_dir(staging, reports_dir / name)

    nb = lang == "nb"
    # 1. ingest
    ingest_params = {**common, "raw_dir": rel(raw_dir)}
    key = build_key({"inputs": inputs, "code": code, "params": ingest_params})
    processed_key = processed_dir / KEY_FILE
    processed_fresh = (
        (processed_dir / ingest.META_FILE).is_file()
        and processed_key.is_file()
        and processed_key.read_text().strip() == key
    )
    if force or not _is_fresh(reports_dir / "ingest", key) or not processed_fresh:
        title = "Innlesing og rensing" if nb else "Ingest and cleaning"
        render("ingest", "01_ingest.ipynb", "01_ingest.ipynb", ingest_params, key, title, [], False)
        processed_key.write_text(key + "\n")
        done.append("ingest: built")
    else:
        done.append("ingest: up to date")
    meta = json.loads((processed_dir / ingest.META_FILE).read_text(encoding="utf-8"))
    all_years = meta["years"]
    synthetic = bool(meta.get("delivery", {}).get("synthetic", False))
    # 2. one report per survey year
    trends_link = (
        [("Utvikling over år" if nb else "Trends", "../pooled/index.html")]
        if len(all_years) >= 2
        else []
    )
    for year in years or all_years:
        if year not in all_years:
            raise BuildError(f"no respondents for {year}; the data has {all_years}")
        params = {**common, "year": year}
        key = build_key({"inputs": inputs, "code": code, "params": params})
        if not force and _is_fresh(reports_dir / str(year), key):
            done.append(f"{year}: up to date")
            continue
        title = f"Kommunebarometeret {year}" if nb else f"Municipal barometer {year}"
        render(
            str(year),
            "10_year.ipynb",
            f"10_year_{year}.ipynb",
            params,
            key,
            title,
            trends_link,
            True,
        )
        done.append(f"{year}: built")
    # 3. trends and pooled models over all years (full builds only)
    if len(all_years) >= 2 and not years:
        params = {**common}
        key = build_key({"inputs": inputs, "code": code, "params": params, "years": all_years})
        if not force and _is_fresh(reports_dir / "pooled", key):
            done.append("pooled: up to date")
        else:
            title = (
                "Kommunebarometeret: utvikling og samlet analyse"
                if nb
                else "Municipal barometer: trends and pooled analysis"
            )
            render("pooled", "20_pooled.ipynb", "20_pooled.ipynb", params, key, title, [], True)
            done.append("pooled: built")
    write_index(reports_dir, all_years, synthetic, lang, pooled=(reports_dir / "pooled").is_dir())
    return done


def main(argv: list[str] | None = None) -> int:
    """Command line entry point (see ``make report``)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--raw-dir", default=str(config.RAW_DIR))
    ap.add_argument("--codebook", default=str(config.CODEBOOK_PATH))
    ap.add_argument("--reports-dir", default=str(config.REPORTS_DIR))
    ap.add_argument("--processed-dir", default=str(config.PROCESSED_DIR))
    ap.add_argument("--register-snapshot", default=os.environ.get("REGISTER_SNAPSHOT", ""))
    ap.add_argument("--medium", type=int, default=config.DEFAULT_SIZE_THRESHOLDS[0])
    ap.add_argument("--large", type=int, default=config.DEFAULT_SIZE_THRESHOLDS[1])
    ap.add_argument("--lang", default="nb", choices=["nb", "en"])
    ap.add_argument("--years", default="", help="comma-separated subset of years")
    ap.add_argument("--force", action="store_true", help="rebuild even if up to date")
    a = ap.parse_args(argv)
    try:
        log = build(
            raw_dir=config.resolve(a.raw_dir),
            codebook=config.resolve(a.codebook),
            reports_dir=config.resolve(a.reports_dir),
            processed_dir=config.resolve(a.processed_dir),
            register_snapshot=config.resolve(a.register_snapshot) if a.register_snapshot else None,
            medium=a.medium,
            large=a.large,
            lang=a.lang,
            years=[int(y) for y in a.years.split(",") if y.strip()] or None,
            force=a.force,
        )
    except (BuildError, ingest.IngestError, register.RegisterError) as exc:
        print(f"make report failed: {exc}", file=sys.stderr)
        return 1
    for line in log:
        print(line)
    print(f"reports: {config.resolve(a.reports_dir) / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
