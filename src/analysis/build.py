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
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from analysis import config, i18n, steps
from analysis.steps import SUMMARY_FILE, BuildError, check_parameters

__all__ = ["BuildError", "build", "check_parameters", "main", "make_command"]

GRAPH = config.PROJECT_ROOT / "build.mk"


def build_dir_for(reports_dir: Path) -> Path:
    """Working folder of a reports folder (``build.mk``'s ``B``)."""
    reports_dir = Path(reports_dir).resolve()
    return reports_dir.parent / "build" / reports_dir.name


def make_command(
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
    workers: int | None = None,
    notebooks_dir: Path | None = None,
    goal: str = "publish",
) -> list[str]:
    """The ``make`` command line that builds and publishes (what ``make report`` runs);
    ``goal="_publish"`` is the second pass alone (the pages, once ingest has run)."""
    reg = register_snapshot or config.default_register_snapshot() or ""
    variables = {
        "PY": sys.executable,
        "RAW_DIR": raw_dir,
        "CODEBOOK": codebook,
        "REPORTS_DIR": Path(reports_dir).resolve(),
        "PROCESSED_DIR": Path(processed_dir).resolve(),
        "REGISTER_SNAPSHOT": reg,
        "MEDIUM": medium,
        "LARGE": large,
        "LANG_REPORT": lang,
        "YEARS": ",".join(map(str, years or [])),
        "POOLED": "" if pooled is None else int(pooled),
        "NOTEBOOKS_DIR": notebooks_dir or config.NOTEBOOKS_DIR,
    }
    return [
        "make",
        "-f",
        str(GRAPH),
        "-C",
        str(config.PROJECT_ROOT),
        "--no-print-directory",
        f"-j{workers or os.cpu_count() or 1}",
        goal,
        *(f"{k}={v}" for k, v in variables.items()),
    ]


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
    from analysis import publish

    check_parameters(codebook, medium, large, lang)
    b = build_dir_for(reports_dir)
    cmd = make_command(
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
        workers,
        notebooks_dir,
    )
    with publish.locked(reports_dir):
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


def _run(cmd: list[str]) -> tuple[str, list[str], int]:
    """Run make; its progress lines pass through to stderr, its error lines are collected."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1
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
    """Command line entry point: the same as ``make report``."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--raw-dir", default=str(config.RAW_DIR))
    ap.add_argument("--codebook", default=str(config.CODEBOOK_PATH))
    ap.add_argument("--reports-dir", default=str(config.REPORTS_DIR))
    ap.add_argument("--processed-dir", default=str(config.PROCESSED_DIR))
    ap.add_argument("--register-snapshot", default=os.environ.get("REGISTER_SNAPSHOT", ""))
    ap.add_argument("--medium", type=int, default=config.DEFAULT_SIZE_THRESHOLDS[0])
    ap.add_argument("--large", type=int, default=config.DEFAULT_SIZE_THRESHOLDS[1])
    ap.add_argument("--lang", default="nb", choices=sorted(i18n.LANGUAGES))
    ap.add_argument("--years", default="", help="comma-separated subset of years")
    ap.add_argument("--force", action="store_true", help="rebuild every page")
    ap.add_argument("--jobs", type=int, default=0, help="parallel steps (default: cores)")
    a = ap.parse_args(argv)
    from analysis.codebook import CodebookError

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
            workers=a.jobs or None,
        )
    except (BuildError, ValueError, CodebookError) as exc:
        print(f"make report failed: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # the lock file or the build folder cannot be written
        from analysis import publish

        print(
            f"make report failed: {publish.os_error_message(exc, a.reports_dir)}", file=sys.stderr
        )
        return 1
    print_summary(log, config.resolve(a.reports_dir), time.monotonic() - t0)
    return 0


def print_summary(log: list[str], reports_dir: Path, seconds: float) -> None:
    """What was built (with times), what was up to date, where the site is."""
    print("\n".join(steps.summary_lines(log)))
    print(f"site: {reports_dir / 'index.html'} ({seconds:.0f} s)")


if __name__ == "__main__":
    sys.exit(main())
