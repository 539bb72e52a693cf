"""The recipes of the build graph (``build.mk``): ``python -m analysis.steps <step> ...``.

make decides what is stale from file times; each step does one thing and writes its own
targets, so make can run independent steps in parallel:

* ``ingest``: run ``01_ingest`` into ``<build>/processed``, render the ingest pages, and write
  one token per survey year (``tokens/year-<y>.json``) that changes only when that year's
  processed rows, accounting or export change; plus ``years.mk`` (the years, for make);
* ``page``: run one notebook of a year or of the pooled site and render its two pages;
* ``site``: merge a site's result rows into ``results.csv`` and write ``provenance.json``;
* ``index``, ``glossary``, ``provenance``, ``dictionary``: the top-level pages and the data
  dictionary of results.csv;
* ``publish``: copy the site into the reports folder in one rename (``analysis.publish``);
* ``deps``: the library modules each notebook imports (``deps.mk``), from the source.

Every step prints ``make report failed: ...`` (one line, no traceback) and exits 1 on error.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

from analysis import __version__, config, graph, i18n
from analysis.config import sha256_file
from analysis.i18n import N_
from analysis.warm import kernel_manager

# papermill and nbconvert import jsonschema (through nbformat), whose optional IRI format
# checker builds a grammar for about 2 s in every step; no notebook schema uses it (as in
# codebook.py, where the same module is kept out of the kernels).
sys.modules.setdefault("rfc3987_syntax", None)

STEPS_LOG = ".steps.log"
SUMMARY_FILE = ".summary"
MARKER = ".published"

#: (notebook, page file, nav label) of each kind of site.
SITES: dict[str, list[tuple[str, str, str]]] = {
    "ingest": [("01_ingest", "index.html", N_("Innlesing og radregnskap"))],
    "year": [
        ("10_summary", "index.html", N_("Sammendrag")),
        ("11_descriptives", "beskrivende.html", N_("Beskrivende tall")),
        ("12_regressions", "regresjoner.html", N_("Regresjoner")),
        ("13_methods", "metode.html", N_("Metodevedlegg")),
    ],
    "pooled": [
        ("20_trends", "index.html", N_("Utvikling over år")),
        ("21_pooled", "regresjoner.html", N_("Samlet analyse")),
    ],
}

#: The kernel's own log lines ("KeyboardInterrupt caught in kernel" at every shutdown) are
#: noise; an error in a cell still comes back as PapermillExecutionError.
KERNEL_ARGS = ["--IPKernelApp.log_level=CRITICAL"]


class BuildError(RuntimeError):
    """A build step failed; the message names the notebook, the cell and what to do."""


def run_notebook(
    name: str, out_ipynb: Path, params: dict, failed_dir: Path, notebooks_dir: Path | None = None
) -> None:
    """Execute a notebook with Papermill in the project kernel; BuildError names the cell."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    from analysis import publish

    nb_dir = Path(notebooks_dir or config.NOTEBOOKS_DIR)
    out_ipynb.parent.mkdir(parents=True, exist_ok=True)
    try:
        pm.execute_notebook(
            str(nb_dir / f"{name}.ipynb"),
            str(out_ipynb),
            parameters=params,
            kernel_name=config.KERNEL_NAME,
            cwd=str(config.NOTEBOOKS_DIR),
            progress_bar=False,
            log_output=False,
            # written once at the end (and on an error), not at every cell's start and end:
            # those 2 writes per cell, each validated, took 0.45 s of a 20-cell notebook's step
            request_save_on_cell_execute=False,
            kernel_manager_class=kernel_manager(),
            extra_arguments=KERNEL_ARGS,
        )
    except PapermillExecutionError as exc:
        failed_dir.mkdir(parents=True, exist_ok=True)
        kept = failed_dir / out_ipynb.name
        shutil.copy(out_ipynb, kept)
        hint = ""
        if m := re.search(r"\[Errno (\d+)\]", exc.evalue):
            hint = " " + publish.os_error_message(OSError(int(m[1]), os.strerror(int(m[1]))), "")
        said = " ".join(exc.evalue.replace("❌", "").split())  # one line, however long the cause
        said = said if len(said) <= 400 else said[:400] + " …"
        raise BuildError(
            f"notebook {name}.ipynb failed in cell {exc.exec_count} ({exc.ename}: {said}). "
            f"The executed notebook is kept at {kept}.{hint}"
        ) from None


# ---------------------------------------------------------------- small file helpers


def _log_step(build_dir: Path, site: str, what: str, seconds: float) -> None:
    """One line per step for the summary (O_APPEND: parallel steps do not mix lines)."""
    line = f"{site}\t{what}\t{seconds:.1f}\n".encode()
    fd = os.open(build_dir / STEPS_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def say(line: str) -> None:
    """A progress line (stderr, so that stdout is the summary)."""
    print(line, file=sys.stderr, flush=True)


def rel(p: Path | str) -> str:
    """Paths inside the project relative to it (provenance identical across clones)."""
    return os.path.relpath(Path(p).resolve(), config.PROJECT_ROOT)


# ---------------------------------------------------------------- pages


def _render_pages(a, site: str, kind: str, nb: str, page_file: str, executed: Path) -> None:
    """The reviewer page and the analyst page of one executed notebook, each written whole."""
    from analysis import render

    _ = i18n.Lang(a.lang)
    label = next(lbl for n, _f, lbl in SITES[kind] if n == nb)
    title = f"{render.site_title(a.lang, site)}: {_(label)}"
    out_dir = Path(a.build_dir) / "site" / site
    out_dir.mkdir(parents=True, exist_ok=True)
    for analyst in (False, True):
        name = f"analyst-{page_file}" if analyst else page_file
        nav = render.nav(a.lang, kind, SITES[kind], page_file, analyst, a.pooled)
        tmp = out_dir / f".{name}.tmp"
        meta = render.page_meta(a.lang, title, nav, synthetic(a), site)
        render.render(executed, tmp, meta, with_code=analyst)
        os.replace(tmp, out_dir / name)


def synthetic(a) -> bool:
    """Whether the delivery is the synthetic demonstration survey (from ingest's tokens)."""
    years = json.loads((Path(a.build_dir) / "tokens" / "years.json").read_text())
    return bool(years["synthetic"])


def _register_dir(a) -> Path:
    reg = a.register_snapshot or config.default_register_snapshot()
    if not reg:
        raise BuildError("no register snapshot: set REGISTER_SNAPSHOT")
    return Path(reg)


def site_inputs(a, site: str) -> dict[str, str]:
    """Checksums of what a site is built from: the exports of its years, register, codebook."""
    tokens = Path(a.build_dir) / "tokens"
    if site == "ingest":
        return json.loads((tokens / "inputs.json").read_text())
    years = json.loads((tokens / "years.json").read_text())["years"]
    # a year's pages read the year and the survey year before it (PREV_<year> in build.mk)
    used = years if site == "pooled" else [y for y in years if y < int(site)][-1:] + [int(site)]
    out = {}
    for y in used:
        out.update(json.loads((tokens / f"year-{y}.json").read_text())["inputs_sha256"])
    reg = _register_dir(a)
    for f in sorted(reg.glob("*.csv")):
        out[f"register/{f.name}"] = sha256_file(f)
    out["codebook"] = sha256_file(a.codebook)
    return dict(sorted(out.items()))


def notebook_params(a, site: str) -> dict:
    """The Papermill parameters of a site's notebooks (paths relative to the project)."""
    params = {
        "processed_dir": rel(Path(a.build_dir) / "processed"),
        "codebook": rel(a.codebook),
        "register_snapshot": rel(_register_dir(a)),
        "medium_threshold": a.medium,
        "large_threshold": a.large,
        "lang": a.lang,
    }
    if site not in ("ingest", "pooled"):
        params["year"] = int(site)
    return params


def step_page(a) -> None:
    """Run one notebook of a year or the pooled site; render its two pages."""
    t0 = time.monotonic()
    site, nb, page_file = a.site, a.notebook, a.page
    kind = "pooled" if site == "pooled" else "year"
    build_dir = Path(a.build_dir)
    if kind == "year":
        years = json.loads((build_dir / "tokens" / "years.json").read_text())["years"]
        if int(site) not in years:
            raise BuildError(f"no respondents for {site}; the data has {years}")
    parts = build_dir / "results" / site
    parts.mkdir(parents=True, exist_ok=True)
    (parts / f"{nb}.csv").unlink(missing_ok=True)
    params = {**notebook_params(a, site), "output_dir": str(parts)}
    executed = build_dir / "executed" / site / f"{nb}.ipynb"
    say(f"{site}: {nb} running")
    run_notebook(nb, executed, params, build_dir / "failed" / site, a.notebooks_dir)
    _render_pages(a, site, kind, nb, page_file, executed)
    seconds = time.monotonic() - t0
    _log_step(build_dir, site, nb, seconds)
    say(f"{site}: {nb} done in {seconds:.0f} s")


def _provenance(a, site: str, params: dict) -> dict:
    from analysis import provenance

    return {
        "project": "kommunebarometer",
        "version": __version__,
        "commit": provenance.git_commit(),
        "parameters": provenance.public_params(params),
        "inputs_sha256": site_inputs(a, site),
        "packages": provenance.package_versions(),
    }


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def step_site(a) -> None:
    """Merge the result rows of a site's notebooks into results.csv; write provenance.json."""
    import pandas as pd

    from analysis import results

    site = a.site
    kind = "pooled" if site == "pooled" else "year"
    build_dir = Path(a.build_dir)
    parts = build_dir / "results" / site
    frames = [results.read_csv(parts / f"{nb}.csv") for nb, _f, _l in SITES[kind]]
    merged = pd.concat(frames, ignore_index=True).sort_values(results.KEY, kind="stable")
    out = build_dir / "site" / site
    tmp = out / ".results.csv.tmp"
    results.write_csv(results.schema().validate(merged.reset_index(drop=True)), tmp)
    os.replace(tmp, out / "results.csv")
    _write_json(out / "provenance.json", _provenance(a, site, notebook_params(a, site)))


# ---------------------------------------------------------------- ingest


def step_ingest(a) -> None:
    """Check the inputs, run 01_ingest, render its pages, write the year tokens."""
    from analysis import ingest, register
    from analysis.codebook import load_codebook

    t0, started = time.monotonic(), time.time()
    build_dir = Path(a.build_dir)
    reg_dir = _register_dir(a)
    if not Path(a.codebook).is_file():
        raise BuildError(f"codebook {a.codebook} not found; pass CODEBOOK=<path to codebook.yml>")
    load_codebook(a.codebook)  # the whole codebook is validated before any data is read
    reg_sums = register.verify_snapshot(reg_dir)
    raw_sums = ingest.verify_manifest(a.raw_dir)
    inputs = {
        **{f"raw/{k}": v for k, v in raw_sums.items()},
        **{f"register/{k}": v for k, v in reg_sums.items()},
        "codebook": sha256_file(a.codebook),
    }
    tokens = build_dir / "tokens"
    tokens.mkdir(parents=True, exist_ok=True)
    proc = build_dir / "processed"
    proc.mkdir(parents=True, exist_ok=True)
    params = {**notebook_params(a, "ingest"), "raw_dir": rel(a.raw_dir)}
    executed = build_dir / "executed" / "ingest" / "01_ingest.ipynb"
    say("ingest: 01_ingest running")
    run_notebook("01_ingest", executed, params, build_dir / "failed" / "ingest", a.notebooks_dir)
    graph.write_if_changed(tokens / "inputs.json", json.dumps(inputs, indent=1, sort_keys=True))
    years = graph.write_tokens(proc, tokens)
    a.pooled = False
    _render_pages(a, "ingest", "ingest", "01_ingest", "index.html", executed)
    _write_json(build_dir / "site" / "ingest" / "provenance.json", _provenance(a, "ingest", params))
    prev = [f"PREV_{y} := {p}" for p, y in zip(years, years[1:], strict=False)]
    graph.write_if_changed(
        build_dir / "years.mk",
        "\n".join([f"ALL_YEARS := {' '.join(map(str, years))}", *prev]) + "\n",
    )
    # the stamp carries the time the step started, so every file it wrote is newer than it
    # (then `make -n` does not see the tokens as stale after a cold build)
    stamp = tokens / "ingest.stamp"
    stamp.touch()
    os.utime(stamp, (started, started))
    seconds = time.monotonic() - t0
    _log_step(build_dir, "ingest", "01_ingest", seconds)
    say(f"ingest: 01_ingest done in {seconds:.0f} s")


# ---------------------------------------------------------------- index, dictionary


def _top_page(a, nb: str, page: str, title: str, params: dict) -> None:
    """Run a top-level notebook and render its page (``title``: a message id, translated)."""
    from analysis import render

    t0 = time.monotonic()
    build_dir = Path(a.build_dir)
    out = build_dir / "executed" / f"{nb}.ipynb"
    run_notebook(nb, out, {**params, "lang": a.lang}, build_dir / "failed", a.notebooks_dir)
    site = build_dir / "site"
    nav = render.top_nav(a.lang, a.pooled, page)
    meta = render.page_meta(a.lang, i18n.Lang(a.lang)(title), nav, synthetic(a))
    render.render(out, site / f".{page}.tmp", meta)
    os.replace(site / f".{page}.tmp", site / page)
    _log_step(build_dir, "index", nb, time.monotonic() - t0)


def step_index(a) -> None:
    """The landing page (``00_index``): the survey, the latest findings, links to the sites."""
    build_dir = Path(a.build_dir)
    params = {
        "years_built": a.years,
        "pooled_built": a.pooled,
        "processed_dir": rel(build_dir / "processed"),
        "site_dir": rel(build_dir / "site"),
        "results_dir": rel(build_dir / "results"),
        "codebook": rel(a.codebook),
        "register_snapshot": rel(_register_dir(a)),
    }
    _top_page(a, "00_index", "index.html", N_("Kommunebarometeret"), params)


def step_provenance(a) -> None:
    """The provenance page (``03_provenance``): every site's record of this build."""
    params = {"site_dir": rel(Path(a.build_dir) / "site"), "sites": a.sites}
    _top_page(a, "03_provenance", "proveniens.html", N_("Kommunebarometeret: proveniens"), params)


def step_glossary(a) -> None:
    """The glossary and the data dictionaries (``02_glossary``), in the report language."""
    title = N_("Kommunebarometeret: ordliste og dataordbok")
    _top_page(a, "02_glossary", "ordliste.html", title, {"codebook": rel(a.codebook)})


def step_dictionary(a) -> None:
    from analysis import results

    out = Path(a.build_dir) / "site" / "results_dictionary.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    results.dictionary().to_csv(out, index=False, lineterminator="\n")


# ---------------------------------------------------------------- publish


def step_publish(a) -> None:
    """Copy the sites of this build and the processed tables into place (analysis.publish),
    then write the summary: what was built since the last publication, what was up to date."""
    from analysis import publish

    build_dir = Path(a.build_dir)
    sites = a.sites.split()
    notes = publish.publish(
        build_dir / "site",
        build_dir / "processed",
        Path(a.reports_dir),
        Path(a.processed_out),
        sites,
    )
    # make's last target; its text is the publication's marker (analysis.build compares them
    # and publishes again when the reports folder no longer holds this publication)
    (build_dir / "tokens" / "published.stamp").write_text(
        (Path(a.reports_dir) / publish.MARKER).read_text()
    )
    steps = build_dir / STEPS_LOG
    seconds: dict[str, float] = {}
    if steps.is_file():
        for line in steps.read_text().splitlines():
            site, _nb, s = line.split("\t")
            seconds[site] = seconds.get(site, 0.0) + float(s)
        steps.unlink()
    lines = [*notes, *(f"{s}: built in {seconds[s]:.0f} s" for s in sites if s in seconds)]
    lines += [f"{s}: up to date" for s in sites if s not in seconds]
    (build_dir / SUMMARY_FILE).write_text("\n".join(lines) + "\n")
    print("\n".join(summary_lines(lines)), flush=True)


def summary_lines(log: list[str]) -> list[str]:
    """Recovery notes, what was built (with times), what was up to date."""
    built = [ln.replace(": built in ", " (") + ")" for ln in log if ": built in " in ln]
    fresh = [ln.split(":")[0] for ln in log if ln.endswith(": up to date")]
    notes = [ln for ln in log if ": built in " not in ln and not ln.endswith(": up to date")]
    return [*notes, f"built: {', '.join(built) or 'nothing'}"] + (
        [f"up to date: {', '.join(fresh)}"] if fresh else []
    )


# ---------------------------------------------------------------- command line


_STEPS = {
    "ingest": step_ingest,
    "page": step_page,
    "site": step_site,
    "index": step_index,
    "glossary": step_glossary,
    "provenance": step_provenance,
    "dictionary": step_dictionary,
    "publish": step_publish,
    "deps": lambda a: graph.write_deps(Path(a.out)),
}


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m analysis.steps", description=__doc__.split("\n")[0]
    )
    ap.add_argument("step", choices=list(_STEPS))
    ap.add_argument("--build-dir", default="")
    ap.add_argument("--raw-dir", default=str(config.RAW_DIR))
    ap.add_argument("--codebook", default=str(config.CODEBOOK_PATH))
    ap.add_argument("--register-snapshot", default="")
    ap.add_argument("--notebooks-dir", default="")
    ap.add_argument("--medium", type=int, default=config.DEFAULT_SIZE_THRESHOLDS[0])
    ap.add_argument("--large", type=int, default=config.DEFAULT_SIZE_THRESHOLDS[1])
    ap.add_argument("--lang", default="nb")
    ap.add_argument("--pooled", default="", help="1 when the build has the pooled site")
    ap.add_argument("--site", default="")
    ap.add_argument("--notebook", default="")
    ap.add_argument("--page", default="")
    ap.add_argument("--years", default="", help="years of this build (index)")
    ap.add_argument("--sites", default="", help="sites of this build (publish)")
    ap.add_argument("--reports-dir", default="")
    ap.add_argument("--processed-out", default="")
    ap.add_argument("--out", default="")
    return ap


def with_build_parameters(a: argparse.Namespace) -> argparse.Namespace:
    """Fill in the parameters of the build (``<build>/params.json``, written and checked by
    analysis.build): make passes a step only the build folder, never a user's path."""
    f = Path(a.build_dir) / "params.json" if a.build_dir else None
    if f is None or not f.is_file():
        return a
    given = json.loads(f.read_text(encoding="utf-8"))
    a.raw_dir, a.codebook = Path(given["raw_dir"]), Path(given["codebook"])
    a.register_snapshot = Path(given["register_snapshot"])
    a.notebooks_dir = Path(given["notebooks_dir"])
    a.reports_dir, a.processed_out = given["reports_dir"], given["processed_dir"]
    a.medium, a.large, a.lang = int(given["medium"]), int(given["large"]), given["lang"]
    return a


def main(argv: list[str] | None = None) -> int:
    a = _parser().parse_args(argv)
    a.pooled = a.pooled == "1"
    a.years = ",".join(a.years.split())
    for k in ("build_dir", "raw_dir", "codebook", "register_snapshot", "notebooks_dir"):
        v = getattr(a, k)
        setattr(a, k, config.resolve(v) if v else None)
    a = with_build_parameters(a)
    try:
        _STEPS[a.step](a)
    except OSError as exc:  # the build's own files: a read-only folder, a full disk, ...
        from analysis import publish

        msg = publish.os_error_message(exc, a.reports_dir or "")
        print(f"make report failed: {msg}", file=sys.stderr, flush=True)
        return 1
    except Exception as exc:
        # the error classes of the input checks (imported here: a page step never loads them)
        from analysis.codebook import CodebookError
        from analysis.ingest import IngestError
        from analysis.register import RegisterError

        known = BuildError | IngestError | RegisterError | CodebookError | ValueError
        if not isinstance(exc, known):
            raise
        print(f"make report failed: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
