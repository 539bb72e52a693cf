"""Build the barometer from Python: the same build graph as ``make report`` (``build.mk``).

``make report`` runs the graph directly; this module runs it for tests, benchmarks and
scripts (``python -m analysis.build`` or :func:`build`). It checks the parameters before
anything runs, takes the lock on the reports folder, runs ``make -f build.mk -j<cores>
publish``, and turns its output into one line per site (built with its time, or up to date).
What is stale is decided by make from file times alone (see ``build.mk``); the steps are in
:mod:`analysis.steps` and the publication in :mod:`analysis.publish`.

Sites: ``ingest/`` (``01_ingest``), ``<year>/`` (``10_summary`` ... ``13_methods``),
``pooled/`` (``20_trends``, ``21_pooled``) and ``index.html`` (``00_index``). Working files
live under ``build/<reports folder name>`` beside the reports folder.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from analysis import config, i18n, publish, steps
from analysis.steps import SUMMARY_FILE, BuildError

__all__ = ["BuildError", "Parameters", "build", "main", "make_command", "parameters"]

GRAPH = config.PROJECT_ROOT / "build.mk"


#: What ``make`` may see of a path: no whitespace, quotes, ``$``, ``;``, ``:``, ``%``, ``#``...
MAKE_SAFE = re.compile(r"[A-Za-z0-9_./+-]+")


def build_dir_for(reports_dir: Path) -> Path:
    """Working folder of a reports folder (``build.mk``'s ``B``): under the checkout's build
    folder (:data:`analysis.config.BUILD_DIR`), named after the reports folder and a digest of
    its absolute path, so that make sees no character of a user's path."""
    reports_dir = Path(reports_dir).resolve()
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", reports_dir.name).strip("._") or "reports"
    digest = hashlib.sha256(str(reports_dir).encode()).hexdigest()[:8]
    return config.BUILD_DIR / f"{slug[:40]}-{digest}"


@dataclass(frozen=True)
class Parameters:
    """The parameters of one build, checked as data before any shell or notebook sees them."""

    raw_dir: Path
    codebook: Path
    reports_dir: Path
    processed_dir: Path
    register_snapshot: Path
    medium: int = config.DEFAULT_SIZE_THRESHOLDS[0]
    large: int = config.DEFAULT_SIZE_THRESHOLDS[1]
    lang: str = "nb"
    years: tuple[int, ...] = ()
    pooled: bool | None = None
    notebooks_dir: Path = config.NOTEBOOKS_DIR
    workers: int = 0

    @property
    def build_dir(self) -> Path:
        return build_dir_for(self.reports_dir)

    def as_json(self) -> dict:
        """What the steps read (``<build>/params.json``): paths absolute."""
        return {
            "raw_dir": str(self.raw_dir),
            "codebook": str(self.codebook),
            "reports_dir": str(self.reports_dir),
            "processed_dir": str(self.processed_dir),
            "register_snapshot": str(self.register_snapshot),
            "notebooks_dir": str(self.notebooks_dir),
            "medium": self.medium,
            "large": self.large,
            "lang": self.lang,
        }


def _whole(name: str, value: object) -> int:
    text = str(value).strip()
    if not re.fullmatch(r"[0-9]{1,9}", text):
        raise BuildError(f"{name} must be a whole number, got {str(value)!r}")
    return int(text)


def _path(name: str, value: object, must: str) -> Path:
    text = str(value)
    if not text.strip() or "\0" in text or "\n" in text:
        raise BuildError(f"{name} must be a path, got {text!r}")
    p = config.resolve(text)
    if must == "dir" and not p.is_dir():
        raise BuildError(f"{name} {p} is not a folder")
    if must == "file" and not p.is_file():
        what = "codebook" if name == "CODEBOOK" else name
        raise BuildError(f"{what} {p} not found; pass {name}=<path>")
    return p


def parameters(
    raw_dir: object = config.RAW_DIR,
    codebook: object = config.CODEBOOK_PATH,
    reports_dir: object = config.REPORTS_DIR,
    processed_dir: object = config.PROCESSED_DIR,
    register_snapshot: object = None,
    medium: object = config.DEFAULT_SIZE_THRESHOLDS[0],
    large: object = config.DEFAULT_SIZE_THRESHOLDS[1],
    lang: object = "nb",
    years: object = None,
    pooled: bool | None = None,
    notebooks_dir: object = None,
    workers: object = 0,
    check_inputs: bool = True,
) -> Parameters:
    """Check every parameter as data (years and thresholds whole numbers, the language one
    of the catalog's, paths existing where they are read) and return them; BuildError says
    which parameter and why, in one line. The one place parameters are checked.
    ``check_inputs=False`` (``make clean``): the delivery, codebook and register need not exist."""
    lang = str(lang).strip()
    try:
        i18n.check_language(lang)
    except ValueError as exc:
        raise BuildError(str(exc)) from None
    medium_i, large_i = _whole("MEDIUM", medium), _whole("LARGE", large)
    try:
        config.SizeThresholds(medium_i, large_i)
    except ValueError as exc:
        raise BuildError(str(exc)) from None
    if isinstance(years, str):
        words = [w for w in re.split(r"[,\s]+", years) if w]
    else:
        words = [str(y) for y in (years or [])]
    for w in words:
        if not re.fullmatch(r"(19|20)[0-9]{2}", w):
            raise BuildError(
                f"YEARS must be survey years separated by commas (e.g. YEARS=2018,2019), "
                f"got {years!r}"
            )
    reg = register_snapshot or config.default_register_snapshot()
    need = {"dir": "dir", "file": "file"} if check_inputs else {"dir": "", "file": ""}
    if not reg and not check_inputs:
        reg = config.PROJECT_ROOT  # not read by make clean
    if not reg:
        raise BuildError(
            "no register snapshot: set REGISTER_SNAPSHOT=<folder> or run make fetch-register"
        )
    return Parameters(
        raw_dir=_path("RAW_DIR", raw_dir, need["dir"]),
        codebook=_path("CODEBOOK", codebook, need["file"]),
        reports_dir=_path("REPORTS_DIR", reports_dir, ""),
        processed_dir=_path("PROCESSED_DIR", processed_dir, ""),
        register_snapshot=_path("REGISTER_SNAPSHOT", reg, need["dir"]),
        medium=medium_i,
        large=large_i,
        lang=lang,
        years=tuple(sorted({int(w) for w in words})),
        pooled=pooled,
        notebooks_dir=_path("NOTEBOOKS_DIR", notebooks_dir or config.NOTEBOOKS_DIR, "dir"),
        workers=_whole("JOBS", workers) if workers else 0,
    )


def _for_make(name: str, path: Path) -> str:
    """A path as make sees it: relative to the checkout where it lies inside, and refused in
    one line if make could misread it (make cannot take whitespace or ``$:;%#`` in a name)."""
    p = Path(path)
    try:
        text = str(p.relative_to(config.PROJECT_ROOT)) if p.is_absolute() else str(p)
    except ValueError:
        text = str(p)
    if not MAKE_SAFE.fullmatch(text):
        raise BuildError(
            f"{name} {text!r} has characters make cannot take (space, quote, $, :, ;, %, #); "
            "use a folder without them"
        )
    return text


def make_command(p: Parameters, goal: str = "publish", dry_run: bool = False) -> list[str]:
    """The ``make`` command line that builds and publishes (what ``make report`` runs);
    ``goal="_publish"`` is the second pass alone (the pages, once ingest has run). make sees
    the build folder, the interpreter, the notebooks and the years: no path of the user's."""
    python = Path(sys.executable)
    if not python.is_relative_to(config.PROJECT_ROOT):
        python = Path(os.path.abspath(sys.executable))
    variables = {
        "B": _for_make("the build folder", p.build_dir),
        "PY": _for_make("the interpreter", python),
        "NOTEBOOKS_DIR": _for_make("NOTEBOOKS_DIR", p.notebooks_dir),
        "YEARS": " ".join(map(str, p.years)),
        "POOLED": "" if p.pooled is None else str(int(p.pooled)),
    }
    return [
        "make",
        "-f",
        str(GRAPH),
        "-C",
        str(config.PROJECT_ROOT),
        "--no-print-directory",
        *(["-n"] if dry_run else []),
        f"-j{p.workers or os.cpu_count() or 1}",
        goal,
        *(f"{k}={v}" for k, v in variables.items()),
    ]


def prepare(p: Parameters) -> list[str]:
    """Everything make decides from, written into the build folder before it runs: the
    parameters (``params.json`` for the steps, ``params/*.txt`` for make) and one token per
    input whose content changed (``inputs/*.sha256``): an export corrected with an old file
    time, an edited codebook or register, another lock file or installed package each change
    their token, and make rebuilds what reads them. Files are written only when their content
    changes (their time then says "changed" to make). Returns the input tokens rewritten."""
    from analysis import graph

    b = p.build_dir
    graph.write_if_changed(b / "params.json", json.dumps(p.as_json(), indent=1) + "\n")
    common = [
        f"codebook={p.codebook}",
        f"register={p.register_snapshot}",
        f"medium={p.medium}",
        f"large={p.large}",
        f"lang={p.lang}",
        f"notebooks={p.notebooks_dir}",
    ]
    graph.write_if_changed(b / "params" / "ingest.txt", "\n".join([f"raw={p.raw_dir}", *common]))
    graph.write_if_changed(b / "params" / "pages.txt", "\n".join(common))
    out = [f"reports={p.reports_dir}", f"processed={p.processed_dir}"]
    graph.write_if_changed(b / "params" / "publish.txt", "\n".join(out))
    changed = graph.write_input_tokens(b / "inputs", p.raw_dir, p.codebook, p.register_snapshot)
    # the publication is make's last target; a reports folder removed or replaced since is
    # published again
    stamp = b / "tokens" / "published.stamp"
    if stamp.is_file() and not publish.is_published(p.reports_dir, stamp.read_text()):
        stamp.unlink()
    return changed


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
    workers: int | None = None,
    notebooks_dir: Path | None = None,
) -> list[str]:
    """Build what is stale and publish; one line per site ("2019: built in 37 s" or
    "2019: up to date"). ``pooled`` (default: when all years are built) adds the trends and
    pooled models; ``force`` rebuilds every page; ``notebooks_dir`` runs other notebooks."""
    p = parameters(
        raw_dir, codebook, reports_dir, processed_dir, register_snapshot, medium, large, lang,
        years, pooled, notebooks_dir, workers or 0,
    )  # fmt: skip
    return run(p, force=force)


def run(p: Parameters, force: bool = False, dry_run: bool = False) -> list[str]:
    """Check the codebook and the output folders, then run the graph (see :func:`build`);
    ``dry_run``: what make would run, one line each, and nothing run."""
    publish.check_outputs(p.reports_dir, p.processed_dir, p.raw_dir, p.codebook,
                          p.register_snapshot)  # fmt: skip
    b = p.build_dir
    cmd = make_command(p, dry_run=dry_run)
    with publish.locked(p.reports_dir):  # the publish step takes the processed folder's
        if "codebook" in prepare(p):  # validated as a whole before any data is read
            from analysis.codebook import load_codebook

            load_codebook(p.codebook)
        if dry_run:
            done = subprocess.run(cmd, capture_output=True, text=True, env=make_env())
            if done.returncode != 0:
                raise BuildError(
                    done.stderr.strip().splitlines()[-1] if done.stderr else "make -n failed"
                )
            steps_ = [
                re.sub(r"^--build-dir \S+ ", "", ln.split(" -- ", 1)[1])
                for ln in done.stdout.splitlines()
                if " -- " in ln
            ]
            return list(dict.fromkeys(steps_))  # both passes list ingest
        if force:
            shutil.rmtree(b / "site", ignore_errors=True)
            (b / "tokens" / "ingest.stamp").unlink(missing_ok=True)
        (b / SUMMARY_FILE).unlink(missing_ok=True)
        out, errors, rc = _run(cmd)
    if rc != 0:
        failed = [ln.removeprefix("make report failed: ") for ln in errors]
        raise BuildError(failed[0] if failed else "make failed:\n" + out[-2000:])
    sites = next(ln for ln in out.splitlines() if ln.startswith("sites:")).split()[1:]
    summary = b / SUMMARY_FILE
    if summary.is_file():
        return summary.read_text().splitlines()
    return [f"{s}: up to date" for s in sites]


def clean(p: Parameters) -> list[str]:
    """``make clean``: remove what the build made, and only that: the files it published into
    the reports and processed folders (each listed in the folder's manifest; a folder without
    the build's marker is left alone), its staging copies and its working folder."""
    notes = []
    with publish.locked(p.reports_dir, p.processed_dir):
        publish.recover(p.reports_dir, p.processed_dir)
        for folder in (p.reports_dir, p.processed_dir):
            notes.append(publish.clean_folder(folder))
        if p.build_dir.is_dir():
            shutil.rmtree(p.build_dir)
            notes.append(f"removed the build's working folder {p.build_dir}")
    return notes


def stop_with_the_build() -> None:
    """For the command line (``make report``): when this process is told to stop (SIGTERM,
    SIGINT, SIGHUP) or its parent goes away (a killed ``make``), its process group goes too:
    make, its steps and their kernels, which would otherwise build and publish on. (Not for
    :func:`build` called in-process: the caller's process group is not the build's.)"""
    import signal

    parent = os.getppid()

    def stop(signum: int = signal.SIGTERM, _frame=None) -> None:
        try:
            for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(s, signal.SIG_IGN)
        except ValueError:  # from the watching thread: the group's SIGTERM comes back here
            pass
        print(
            "make report stopped: nothing more is built or published; a publication cut short "
            "is finished or undone by the next make report",
            file=sys.stderr,
            flush=True,
        )
        os.killpg(os.getpgrp(), signal.SIGTERM)
        os._exit(128 + signum)

    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, stop)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                stop()

    threading.Thread(target=watch, daemon=True).start()


def make_env() -> dict[str, str]:
    """The environment of the build graph: without the variables of a make that ran this
    (``make report``'s command line reaches a sub-make through MAKEFLAGS, and a definition
    there would override build.mk's own)."""
    drop = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "MAKE_TERMOUT", "MAKE_TERMERR")
    return {k: v for k, v in os.environ.items() if k not in drop}


def _run(cmd: list[str]) -> tuple[str, list[str], int]:
    """Run make; its progress lines pass through to stderr, its error lines are collected."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1, env=make_env()
    )
    errors: list[str] = []

    def relay() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            line = line.rstrip("\n")
            if line.startswith("make report failed: "):
                errors.append(line)
            elif not line.startswith(("make: ", "make[")):
                print(line, file=sys.stderr, flush=True)

    t = threading.Thread(target=relay)
    t.start()
    out = proc.stdout.read() if proc.stdout else ""
    rc = proc.wait()
    t.join()
    return out, errors, rc


def main(argv: list[str] | None = None) -> int:
    """Command line entry point: ``make report`` (and ``make clean``). Each parameter comes
    from its option or else from the environment variable that make exports (``RAW_DIR``,
    ``YEARS``, ...): values never pass through a shell."""
    env = os.environ
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--raw-dir", default=env.get("RAW_DIR") or str(config.RAW_DIR))
    ap.add_argument("--codebook", default=env.get("CODEBOOK") or str(config.CODEBOOK_PATH))
    ap.add_argument("--reports-dir", default=env.get("REPORTS_DIR") or str(config.REPORTS_DIR))
    ap.add_argument(
        "--processed-dir", default=env.get("PROCESSED_DIR") or str(config.PROCESSED_DIR)
    )
    ap.add_argument("--register-snapshot", default=env.get("REGISTER_SNAPSHOT", ""))
    ap.add_argument("--medium", default=env.get("MEDIUM") or config.DEFAULT_SIZE_THRESHOLDS[0])
    ap.add_argument("--large", default=env.get("LARGE") or config.DEFAULT_SIZE_THRESHOLDS[1])
    ap.add_argument("--lang", default=env.get("LANG_REPORT") or "nb")
    ap.add_argument("--years", default=env.get("YEARS", ""), help="comma-separated years")
    ap.add_argument("--jobs", default=env.get("JOBS") or 0, help="parallel steps (default: cores)")
    ap.add_argument("--force", action="store_true", help="rebuild every page")
    ap.add_argument("--dry-run", action="store_true", help="list the steps make would run")
    ap.add_argument("--clean", action="store_true", help="remove what the build made")
    a = ap.parse_args(argv)
    from analysis.codebook import CodebookError

    t0 = time.monotonic()
    stop_with_the_build()
    try:
        p = parameters(
            raw_dir=a.raw_dir,
            codebook=a.codebook,
            reports_dir=a.reports_dir,
            processed_dir=a.processed_dir,
            register_snapshot=a.register_snapshot or None,
            medium=a.medium,
            large=a.large,
            lang=a.lang,
            years=a.years,
            workers=a.jobs,
            check_inputs=not a.clean,
        )
        if a.clean:
            print("\n".join(clean(p)))
            return 0
        if a.dry_run:
            print("\n".join(run(p, dry_run=True)) or "nothing to do (everything up to date)")
            return 0
        log = run(p, force=a.force)
    except (BuildError, ValueError, CodebookError) as exc:
        print(f"make report failed: {exc}", file=sys.stderr)
        print("nothing was published; the last good site is unchanged", file=sys.stderr)
        return 1
    except OSError as exc:  # the lock file or the build folder cannot be written
        print(
            f"make report failed: {publish.os_error_message(exc, a.reports_dir)}", file=sys.stderr
        )
        return 1
    print_summary(log, p.reports_dir, time.monotonic() - t0)
    return 0


def print_summary(log: list[str], reports_dir: Path, seconds: float) -> None:
    """What was built (with times), what was up to date, where the site is."""
    print("\n".join(steps.summary_lines(log)))
    print(f"site: {reports_dir / 'index.html'} ({seconds:.0f} s)")


if __name__ == "__main__":
    sys.exit(main())
