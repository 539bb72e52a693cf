"""Publish a build so that a reader sees the whole old site or the whole new one, never a mix.

The build graph (``build.mk``) writes every page and table under the build folder; nothing a
reader sees is touched until :func:`publish`. It copies the sites of the build into a staging
folder beside the reports folder (``.<reports>.staging-<pid>``) and the processed tables beside
the processed folder, swaps the processed folder (keeping the old one as
``.<processed>.old-<pid>``), and commits with one rename of the staging folder onto the
reports folder; only then are the backups removed. A publication that fails is undone; one
that is killed is finished or undone by :func:`recover` when the next one starts. Two builds
into the same folders are serialised by :func:`locked`.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path

MARKER = ".published"  # in the reports folder: when and which sites were published (make's target)


def _sibling(folder: Path, kind: str, pid: int | str) -> Path:
    return folder.with_name(f".{folder.name}.{kind}-{pid}")


@contextmanager
def locked(*dirs: Path):
    """Hold an exclusive lock for each folder (``.<name>.lock`` beside it) for the block; a
    second build into the same reports or processed folder waits, and says so in one line."""
    import fcntl

    handles = []
    try:
        for d in sorted({Path(x).resolve() for x in dirs}):
            d.parent.mkdir(parents=True, exist_ok=True)
            fh = open(d.with_name(f".{d.name}.lock"), "a+")  # noqa: SIM115 - held for the block
            handles.append(fh)
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                print(
                    f"another build is writing to {d}; waiting for it to finish",
                    file=sys.stderr,
                    flush=True,
                )
                fcntl.flock(fh, fcntl.LOCK_EX)
        yield
    finally:
        for fh in handles:
            fh.close()  # closing releases the lock


class Publication:
    """One build's transaction over the reports and processed folders (use as ``with``)."""

    def __init__(self, reports_dir: Path, processed_dir: Path) -> None:
        self.reports_dir, self.processed_dir = Path(reports_dir), Path(processed_dir)
        pid = os.getpid()
        self.stage = _sibling(self.reports_dir, "staging", pid)
        self.stage_processed = _sibling(self.processed_dir, "staging", pid)
        self.old_reports = _sibling(self.reports_dir, "old", pid)
        self.old_processed = _sibling(self.processed_dir, "old", pid)

    def __enter__(self) -> Publication:
        for d in (self.stage, self.stage_processed):
            shutil.rmtree(d, ignore_errors=True)
        self.stage.mkdir(parents=True)
        return self

    def stage_site(self, site_dir: Path, sites: list[str]) -> None:
        """Copy the top-level pages, the data dictionary and the given sites into the stage."""
        site_dir = Path(site_dir)
        for f in ("index.html", "ordliste.html", "proveniens.html", "results_dictionary.csv"):
            shutil.copy2(site_dir / f, self.stage / f)
        for s in sites:
            shutil.copytree(site_dir / s, self.stage / s, symlinks=True)
        readme = self.reports_dir / "README.md"  # the folder's own README (tracked in git) stays
        if readme.is_file():
            shutil.copy2(readme, self.stage / "README.md")
        (self.stage / MARKER).write_text(", ".join(sites) + "\n")

    def stage_tables(self, processed_build: Path) -> None:
        """Copy the processed tables of the build beside the processed folder (its README stays)."""
        shutil.copytree(processed_build, self.stage_processed, symlinks=True)
        readme = self.processed_dir / "README.md"
        if readme.is_file() and not (self.stage_processed / "README.md").exists():
            shutil.copy2(readme, self.stage_processed / "README.md")

    def commit(self) -> None:
        """Swap in the processed tables, then publish the site in one rename (the commit
        point), then drop the backups."""
        if self.stage_processed.exists():
            if self.processed_dir.exists():
                self.processed_dir.rename(self.old_processed)
            self.stage_processed.rename(self.processed_dir)
        if self.reports_dir.exists():
            self.reports_dir.rename(self.old_reports)
        self.stage.rename(self.reports_dir)  # the commit point
        shutil.rmtree(self.old_reports, ignore_errors=True)
        shutil.rmtree(self.old_processed, ignore_errors=True)

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.stage.exists():  # not committed: undo
            _undo(self.reports_dir, self.processed_dir, os.getpid())


def publish(
    site_dir: Path, processed_build: Path, reports_dir: Path, processed_dir: Path, sites: list[str]
) -> list[str]:
    """Publish a build: the given sites of ``site_dir`` become the reports folder and the
    processed tables of the build the processed folder, both or neither. The caller holds the
    lock on the reports folder; this one takes the processed folder's. Returns what recovery
    of an earlier, killed publication did."""
    with locked(processed_dir):
        notes = recover(reports_dir, processed_dir)
        with Publication(reports_dir, processed_dir) as pub:
            pub.stage_site(site_dir, sites)
            pub.stage_tables(processed_build)
            pub.commit()
    return notes


def _undo(reports_dir: Path, processed_dir: Path, pid: int | str) -> list[str]:
    notes = []
    old_processed = _sibling(processed_dir, "old", pid)
    if old_processed.exists():
        shutil.rmtree(processed_dir, ignore_errors=True)
        old_processed.rename(processed_dir)
        notes.append(f"{processed_dir.name}: restored the processed tables of the last good build")
    shutil.rmtree(_sibling(processed_dir, "staging", pid), ignore_errors=True)
    old_reports = _sibling(reports_dir, "old", pid)
    if old_reports.exists() and not reports_dir.exists():
        old_reports.rename(reports_dir)
        notes.append(f"{reports_dir.name}: restored the last good site")
    shutil.rmtree(old_reports, ignore_errors=True)
    shutil.rmtree(_sibling(reports_dir, "staging", pid), ignore_errors=True)
    return notes


def recover(reports_dir: Path, processed_dir: Path) -> list[str]:
    """Finish or undo a build that was killed: a build whose staging folder is gone had
    committed (its backups are removed); any other is undone (the last good site and
    processed tables are restored)."""
    reports_dir, processed_dir = Path(reports_dir), Path(processed_dir)
    pids = set()
    for folder in (reports_dir, processed_dir):
        pattern = re.compile(rf"\.{re.escape(folder.name)}\.(?:staging|old)-(\d+)")
        if folder.parent.is_dir():
            pids |= {m[1] for p in folder.parent.iterdir() if (m := pattern.fullmatch(p.name))}
    notes: list[str] = []
    for pid in sorted(pids):
        if _sibling(reports_dir, "staging", pid).exists() or not reports_dir.exists():
            notes += _undo(reports_dir, processed_dir, pid)
        else:
            shutil.rmtree(_sibling(reports_dir, "old", pid), ignore_errors=True)
            shutil.rmtree(_sibling(processed_dir, "old", pid), ignore_errors=True)
    return notes


def os_error_message(exc: OSError, reports_dir: str) -> str:
    """One line for a failed write of the build itself, with what to do."""
    where = exc.filename or reports_dir or "its files"
    if exc.errno == errno.ENOSPC:
        return (
            f"no space left on the device while writing {where}. Free some space and run "
            "make report again; the last good reports and processed tables are unchanged."
        )
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (
            f"cannot write {where} ({exc.strerror}). Make the reports folder and the folder "
            "it is in writable, or choose another with REPORTS_DIR=...; nothing was published."
        )
    return f"{exc.strerror or exc} ({where}); nothing was published."
