"""Publish a build so that a reader sees the whole old site or the whole new one, never a mix.

A build works in a staging copy of the reports folder (``.<reports>.staging-<pid>`` beside
it). When ingest reruns, the processed folder is first backed up (``.<processed>.old-<pid>``)
and ingest writes the new tables in place, where the year notebooks read them. The commit is
one rename of the staging folder onto the reports folder; only then are the backups removed.
A build that fails restores the processed folder from its backup and discards the staging
copy; a build that is killed is finished or undone by :func:`recover` when the next one
starts. Two builds into the same folders are serialised by :func:`locked`.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path


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


def replace_dir(staging: Path, target: Path) -> None:
    """Move a complete staging folder into place (the old version is removed only afterwards)."""
    old = target.with_name(f".old-{target.name}-{os.getpid()}")
    if target.exists():
        target.rename(old)
    staging.rename(target)
    if old.exists():
        shutil.rmtree(old)


class Publication:
    """One build's transaction over the reports and processed folders (use as ``with``)."""

    def __init__(self, reports_dir: Path, processed_dir: Path) -> None:
        self.reports_dir, self.processed_dir = Path(reports_dir), Path(processed_dir)
        pid = os.getpid()
        self.stage = _sibling(self.reports_dir, "staging", pid)
        self.old_reports = _sibling(self.reports_dir, "old", pid)
        self.old_processed = _sibling(self.processed_dir, "old", pid)

    def __enter__(self) -> Publication:
        shutil.rmtree(self.stage, ignore_errors=True)
        try:
            if self.reports_dir.is_dir():
                shutil.copytree(self.reports_dir, self.stage, symlinks=True)
            else:
                self.stage.mkdir(parents=True)
        except BaseException:
            shutil.rmtree(self.stage, ignore_errors=True)
            raise
        return self

    def back_up_processed(self) -> None:
        """Keep the current processed tables until the new site is published."""
        if self.processed_dir.is_dir() and not self.old_processed.exists():
            shutil.copytree(self.processed_dir, self.old_processed, symlinks=True)

    def commit(self) -> None:
        """Publish the staging folder in one rename, then drop the backups."""
        if self.reports_dir.exists():
            self.reports_dir.rename(self.old_reports)
        self.stage.rename(self.reports_dir)  # the commit point
        shutil.rmtree(self.old_reports, ignore_errors=True)
        shutil.rmtree(self.old_processed, ignore_errors=True)

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.stage.exists():  # not committed: undo
            _undo(self.reports_dir, self.processed_dir, os.getpid())


def _undo(reports_dir: Path, processed_dir: Path, pid: int | str) -> list[str]:
    notes = []
    old_processed = _sibling(processed_dir, "old", pid)
    if old_processed.exists():
        shutil.rmtree(processed_dir, ignore_errors=True)
        old_processed.rename(processed_dir)
        notes.append(f"{processed_dir.name}: restored the processed tables of the last good build")
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
    processed tables are restored). Also clears leftovers of a killed site swap."""
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
    if reports_dir.is_dir():
        notes += recover_sites(reports_dir)
    return notes


def recover_sites(reports_dir: Path) -> list[str]:
    """Clear a killed site swap inside one reports folder: a staging folder is discarded; an
    ``.old-<name>-*`` folder whose site is missing (killed between the two renames) is restored."""
    notes = []
    for stale in sorted(reports_dir.glob(".staging-*")):
        shutil.rmtree(stale, ignore_errors=True)
    for old in sorted(reports_dir.glob(".old-*")):
        name = old.name[len(".old-") :].rsplit("-", 1)[0]
        target = reports_dir / name
        if target.exists():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.rename(target)
            notes.append(f"{name}: restored the last good version after an interrupted build")
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
