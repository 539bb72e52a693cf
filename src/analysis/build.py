"""Build the barometer: run the notebooks with Papermill, render them, publish atomically.

``python -m analysis.build`` (called by ``make report``) builds three kinds of site:

* ``ingest/``: ``01_ingest`` reads the delivery and writes the processed tables;
* ``<year>/``: ``10_summary``, ``11_descriptives``, ``12_regressions``, ``13_methods`` for
  each survey year;
* ``pooled/``: ``20_trends`` and ``21_pooled`` over all years;

then ``index.html`` from ``00_index``. Each page is the executed notebook rendered without
code (``index.html``, ``beskrivende.html``, ...) and with code (``analyst-*.html``); each
site gets ``results.csv`` (the notebooks' result rows), ``provenance.json`` and a key of its
inputs, code and parameters, so an up-to-date site is not rebuilt. Sites are built in a
staging folder and moved into place only when complete; years and the pooled site are
built in parallel worker processes. Working files live under ``--build-dir`` (by default
``build/<reports folder name>`` beside the reports folder), so builds into different
reports folders do not share them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path

from analysis import (
    __version__,
    config,
    i18n,
    ingest,
    processed,
    provenance,
    publish,
    readers,
    register,
    render,
    results,
)
from analysis.codebook import CodebookError, load_codebook
from analysis.i18n import N_

KEY_FILE = ".build-key"
INDEX_KEY_FILE = ".index-key"

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


class BuildError(RuntimeError):
    """A build step failed; the message names the notebook, the cell and what to do."""


@dataclass(frozen=True)
class Job:
    """One site to build: its name, kind, notebook parameters and everything it shows."""

    name: str
    kind: str
    params: dict
    key: str
    reports_dir: Path
    build_dir: Path
    lang: str
    synthetic: bool
    provenance: dict
    nav_extra: tuple[tuple[str, str], ...] = ()


#: The kernel's own log lines ("KeyboardInterrupt caught in kernel" at every shutdown) are
#: noise; an error in a cell still comes back as PapermillExecutionError.
KERNEL_ARGS = ["--IPKernelApp.log_level=CRITICAL"]


@lru_cache(maxsize=1)
def kernel_manager() -> type:
    """Kernels talk over local IPC sockets instead of TCP: no ports to clash between parallel
    builds, and no "running over TCP without encryption" warning from every kernel."""
    from jupyter_client.manager import AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kw) -> None:  # a socket path of its own for every kernel
            ip = os.path.join(tempfile.gettempdir(), f"kb-kernel-{uuid.uuid4().hex[:16]}")
            super().__init__(**{"transport": "ipc", "ip": ip, **kw})

    return IPCKernelManager


def run_notebook(name: str, out_ipynb: Path, params: dict, failed_dir: Path) -> None:
    """Execute a notebook with Papermill in the project kernel; BuildError names the cell."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    out_ipynb.parent.mkdir(parents=True, exist_ok=True)
    try:
        pm.execute_notebook(
            str(config.NOTEBOOKS_DIR / f"{name}.ipynb"),
            str(out_ipynb),
            parameters=params,
            kernel_name=config.KERNEL_NAME,
            cwd=str(config.NOTEBOOKS_DIR),
            progress_bar=False,
            log_output=False,
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
        raise BuildError(
            f"notebook {name}.ipynb failed in cell {exc.exec_count} ({exc.ename}: {exc.evalue}). "
            f"The executed notebook is kept at {kept}.{hint}"
        ) from None


def _nav(job: Job, pages: list[tuple[str, str, str]], current: str, analyst: bool) -> list[dict]:
    _ = i18n.Lang(job.lang)
    links = [{"href": "../index.html", "label": _("Alle år"), "current": False}]
    links += [
        {"href": f, "label": _(lbl), "current": f == current and not analyst}
        for _nb, f, lbl in pages
    ]
    links.append(
        {"href": f"analyst-{current}", "label": _("Med kode (analytikere)"), "current": analyst}
    )
    links.append({"href": "results.csv", "label": "results.csv", "current": False})
    links += [{"href": h, "label": _(lbl), "current": False} for lbl, h in job.nav_extra]
    return links


def _page(job: Job, title: str, nav: list[dict]) -> render.Page:
    _ = i18n.Lang(job.lang)
    prov = job.provenance
    line = _(
        "Bygd {time} av kommunebarometer {version} (commit {commit}). Parametre, sjekksummer og pakkeversjoner står i provenance.json.",
        time=datetime.now(UTC).isoformat(timespec="seconds"),
        version=__version__,
        commit=prov["commit"][:12],
    )
    inputs = [(k, v[:16]) for k, v in sorted(prov["inputs_sha256"].items())]
    return render.Page(title, job.lang, nav, job.synthetic, line, inputs)


def build_site(job: Job) -> str:
    """Run a site's notebooks, render its pages, write results and provenance, publish."""
    start = time.monotonic()
    say(f"{job.name}: running {len(SITES[job.kind])} notebook(s)")
    _ = i18n.Lang(job.lang)
    pages = SITES[job.kind]
    staging = job.reports_dir / f".staging-{job.name}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    executed = job.build_dir / "executed" / job.name
    parts = job.build_dir / "results" / job.name
    shutil.rmtree(parts, ignore_errors=True)
    parts.mkdir(parents=True)
    year = job.params.get("year")
    site_title = {
        "ingest": _("Kommunebarometeret: innlesing av rådata"),
        "year": _("Kommunebarometeret {year}", year=year),
        "pooled": _("Kommunebarometeret: alle år"),
    }[job.kind]
    try:
        for nb, page_file, label in pages:
            params = dict(job.params)
            if job.kind != "ingest":
                params["output_dir"] = str(parts)
            out = executed / f"{nb}.ipynb"
            run_notebook(nb, out, params, job.build_dir / "failed" / job.name)
            title = f"{site_title}: {_(label)}"
            render.render(
                out, staging / page_file, _page(job, title, _nav(job, pages, page_file, False))
            )
            render.render(
                out,
                staging / f"analyst-{page_file}",
                _page(job, title, _nav(job, pages, page_file, True)),
                with_code=True,
            )
        if job.kind != "ingest":
            frames = [results.read_csv(p) for p in sorted(parts.glob("*.csv"))]
            if not frames:
                raise BuildError(f"the {job.name} notebooks wrote no results")
            import pandas as pd

            merged = pd.concat(frames, ignore_index=True).sort_values(results.KEY, kind="stable")
            results.write_csv(
                results.schema().validate(merged.reset_index(drop=True)), staging / "results.csv"
            )
        (staging / "provenance.json").write_text(
            json.dumps(job.provenance, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        (staging / KEY_FILE).write_text(job.key + "\n")
        publish.replace_dir(staging, job.reports_dir / job.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    line = f"{job.name}: built in {time.monotonic() - start:.0f} s"
    say(line)
    return line


def say(line: str) -> None:
    """A progress line (stderr, so that stdout is the summary)."""
    print(line, file=sys.stderr, flush=True)


def _key(parts: dict) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _fresh(target: Path, key: str) -> bool:
    kf = target / KEY_FILE
    return kf.is_file() and kf.read_text().strip() == key


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
    pooled: bool | None = None,
    force: bool = False,
    build_dir: Path | None = None,
    workers: int | None = None,
) -> list[str]:
    """Build every site that is stale; returns one line per site (built or up to date).

    ``pooled`` (default: when all years are built) adds the trends and pooled models.
    """
    i18n.check_language(lang)
    config.SizeThresholds(medium, large)  # raises on bad thresholds before anything runs
    reports_dir = Path(reports_dir)
    build_dir = Path(build_dir) if build_dir else reports_dir.parent / "build" / reports_dir.name
    with publish.locked(reports_dir, processed_dir):
        return _build(
            raw_dir,
            codebook,
            reports_dir,
            processed_dir,
            register_snapshot,
            medium,
            large,
            lang,
            years,
            pooled,
            force,
            build_dir,
            workers,
        )


def _build(
    raw_dir: Path,
    codebook: Path,
    reports_dir: Path,
    processed_dir: Path,
    register_snapshot: Path | None,
    medium: int,
    large: int,
    lang: str,
    years: list[int] | None,
    pooled: bool | None,
    force: bool,
    build_dir: Path,
    workers: int | None,
) -> list[str]:
    done: list[str] = publish.recover(reports_dir, processed_dir)
    reg_dir = register_snapshot or config.default_register_snapshot()
    if reg_dir is None:
        raise BuildError("no register snapshot: set REGISTER_SNAPSHOT")
    if not Path(codebook).is_file():
        raise BuildError(f"codebook {codebook} not found; pass CODEBOOK=<path to codebook.yml>")
    load_codebook(codebook)  # the whole codebook is validated before any data is read
    reg_sums = register.verify_snapshot(reg_dir)
    raw_sums = ingest.verify_manifest(raw_dir)
    inputs = {
        **{f"raw/{k}": v for k, v in raw_sums.items()},
        **{f"register/{k}": v for k, v in reg_sums.items()},
        "codebook": register.sha256_file(codebook),
    }
    code, commit = provenance.code_digest(), provenance.git_commit()

    def rel(p: Path) -> str:
        """Paths inside the project relative to it (provenance identical across clones)."""
        return os.path.relpath(Path(p).resolve(), config.PROJECT_ROOT)

    common = {
        "processed_dir": rel(processed_dir),
        "codebook": rel(codebook),
        "register_snapshot": rel(reg_dir),
        "medium_threshold": medium,
        "large_threshold": large,
        "lang": lang,
    }

    def job(name: str, kind: str, params: dict, synthetic: bool, extra=(), **key_extra) -> Job:
        prov = {
            "project": "kommunebarometer",
            "version": __version__,
            "commit": commit,
            "parameters": {k: str(v) for k, v in sorted(params.items())},
            "inputs_sha256": dict(sorted(inputs.items())),
            "packages": provenance.package_versions(),
        }
        key = _key({"inputs": inputs, "code": code, "params": params, **key_extra})
        return Job(
            name, kind, params, key, reports_dir, build_dir, lang, synthetic, prov, tuple(extra)
        )

    ingest_job = job("ingest", "ingest", {**common, "raw_dir": rel(raw_dir)}, False)
    processed_key = Path(processed_dir) / KEY_FILE
    ingest_stale = (
        force
        or not (Path(processed_dir) / processed.META_FILE).is_file()
        or not processed_key.is_file()
        or processed_key.read_text().strip() != ingest_job.key
        or not _fresh(reports_dir / "ingest", ingest_job.key)
    )

    def plan() -> tuple[list[Job], list[int], bool]:
        """The year and pooled sites to show, from the processed tables."""
        meta = json.loads((Path(processed_dir) / processed.META_FILE).read_text(encoding="utf-8"))
        all_years, synthetic = meta["years"], bool(meta.get("delivery", {}).get("synthetic"))
        chosen = years or all_years
        missing = [y for y in chosen if y not in all_years]
        if missing:
            raise BuildError(f"no respondents for {missing}; the data has {all_years}")
        with_pooled = len(all_years) >= 2 and (years is None if pooled is None else pooled)
        trends = ((N_("Utvikling over år"), "../pooled/index.html"),) if with_pooled else ()
        jobs = [job(str(y), "year", {**common, "year": y}, synthetic, trends) for y in chosen]
        if with_pooled:
            # the pooled notebooks take every year in the processed tables: years only key it
            jobs.append(job("pooled", "pooled", common, synthetic, years=all_years))
        return jobs, all_years, synthetic

    def index_key(root: Path) -> str:
        sites = {p.parent.name: p.read_text().strip() for p in sorted(root.glob(f"*/{KEY_FILE}"))}
        return _key({"inputs": inputs, "code": code, "params": common, "sites": sites})

    if not ingest_stale:
        jobs, _years, _syn = plan()
        if not force and all(_fresh(reports_dir / j.name, j.key) for j in jobs):
            index_file = reports_dir / INDEX_KEY_FILE
            if index_file.is_file() and index_file.read_text().strip() == index_key(reports_dir):
                return [*done, "ingest: up to date", *(f"{j.name}: up to date" for j in jobs)]

    with publish.Publication(reports_dir, processed_dir) as pub:
        if ingest_stale:
            pub.back_up_processed()
            synthetic = readers.delivery_info(raw_dir)["synthetic"]
            done.append(build_site(replace(ingest_job, synthetic=synthetic, reports_dir=pub.stage)))
            processed_key.write_text(ingest_job.key + "\n")
        else:
            done.append("ingest: up to date")
        jobs, all_years, synthetic = plan()
        stale = [
            replace(j, reports_dir=pub.stage)
            for j in jobs
            if force or not _fresh(pub.stage / j.name, j.key)
        ]
        done += [f"{j.name}: up to date" for j in jobs if j.name not in {s.name for s in stale}]
        if stale:
            workers = workers or min(len(stale), os.cpu_count() or 1)
            if workers == 1:
                done += [build_site(j) for j in stale]
            else:
                with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
                    futures = {pool.submit(build_site, j): j.name for j in stale}
                    built = {futures[f]: f.result() for f in as_completed(futures)}
                done += [built[j.name] for j in stale]
        build_index(
            replace(job("index", "index", common, synthetic), reports_dir=pub.stage), all_years
        )
        results.dictionary().to_csv(
            pub.stage / "results_dictionary.csv", index=False, lineterminator="\n"
        )
        (pub.stage / INDEX_KEY_FILE).write_text(index_key(pub.stage) + "\n")
        pub.commit()
    return done


def build_index(job: Job, all_years: list[int]) -> None:
    """The landing page (``00_index``): links to every site that exists."""
    _ = i18n.Lang(job.lang)
    built = [y for y in all_years if (job.reports_dir / str(y) / "index.html").is_file()]
    params = {
        "years_built": ",".join(map(str, built)),
        "pooled_built": (job.reports_dir / "pooled" / "index.html").is_file(),
        "processed_dir": job.params["processed_dir"],
        "lang": job.lang,
    }
    out = job.build_dir / "executed" / "00_index.ipynb"
    run_notebook("00_index", out, params, job.build_dir / "failed")
    nav = [{"href": "index.html", "label": _("Alle år"), "current": True}]
    if params["pooled_built"]:
        nav.append({"href": "pooled/index.html", "label": _("Utvikling over år"), "current": False})
    nav.append(
        {"href": "ingest/index.html", "label": _("Innlesing og radregnskap"), "current": False}
    )
    nav.append(
        {"href": "results_dictionary.csv", "label": _("Ordliste for results.csv"), "current": False}
    )
    tmp = job.reports_dir / ".index.html.tmp"
    render.render(out, tmp, _page(job, _("Kommunebarometeret"), nav))
    tmp.replace(job.reports_dir / "index.html")


def main(argv: list[str] | None = None) -> int:
    """Command line entry point (see ``make report``)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--raw-dir", default=str(config.RAW_DIR))
    ap.add_argument("--codebook", default=str(config.CODEBOOK_PATH))
    ap.add_argument("--reports-dir", default=str(config.REPORTS_DIR))
    ap.add_argument("--processed-dir", default=str(config.PROCESSED_DIR))
    ap.add_argument(
        "--build-dir", default="", help="working files (default: build/<reports dir name>)"
    )
    ap.add_argument("--register-snapshot", default=os.environ.get("REGISTER_SNAPSHOT", ""))
    ap.add_argument("--medium", type=int, default=config.DEFAULT_SIZE_THRESHOLDS[0])
    ap.add_argument("--large", type=int, default=config.DEFAULT_SIZE_THRESHOLDS[1])
    ap.add_argument("--lang", default="nb", choices=sorted(i18n.LANGUAGES))
    ap.add_argument("--years", default="", help="comma-separated subset of years")
    ap.add_argument("--force", action="store_true", help="rebuild even if up to date")
    a = ap.parse_args(argv)
    t0 = time.monotonic()
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
            build_dir=config.resolve(a.build_dir) if a.build_dir else None,
        )
    except (
        BuildError,
        ingest.IngestError,
        register.RegisterError,
        CodebookError,
        ValueError,
    ) as exc:
        print(f"make report failed: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # the build's own files: a read-only folder, a full disk, ...
        print(
            f"make report failed: {publish.os_error_message(exc, a.reports_dir)}", file=sys.stderr
        )
        return 1
    built = [ln.replace(": built in ", " (") + ")" for ln in log if ": built in " in ln]
    fresh = [ln.split(":")[0] for ln in log if ln.endswith(": up to date")]
    notes = [ln for ln in log if ": built in " not in ln and not ln.endswith(": up to date")]
    for line in notes:  # recovery after an interrupted build
        print(line)
    print(f"built: {', '.join(built) or 'nothing'}")
    if fresh:
        print(f"up to date: {', '.join(fresh)}")
    print(f"site: {config.resolve(a.reports_dir) / 'index.html'} ({time.monotonic() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
