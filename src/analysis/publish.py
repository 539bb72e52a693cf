"""Publish a build so that a reader sees the whole old site or the whole new one, never a mix.

The build graph (``build.mk``) writes every page and table under the build folder; nothing a
reader sees is touched until :func:`publish`. It copies the sites of the build into a staging
folder beside the reports folder (``.<reports>.staging-<pid>``) and the processed tables beside
the processed folder, swaps the processed folder (keeping the old one as
``.<processed>.old-<pid>``), and commits with one rename of the staging folder onto the
reports folder; only then are the backups removed. A publication that fails is undone; one
that is killed is finished or undone by :func:`recover` when the next one starts. Two builds
into the same folders are serialised by :func:`locked`.

The build writes only into folders that it made or that are empty (:func:`check_outputs`):
each output folder carries the build's marker (``.kommunebarometer``) and a manifest of the
files it published there (``.kommunebarometer-files``); a folder holding any other file is
refused, and :func:`clean_folder` removes only what the manifest lists.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path

MARKER = ".published"  # in the reports folder: which sites were published
OWNER = ".kommunebarometer"  # in each output folder: the build made it and may replace it
MANIFEST = ".kommunebarometer-files"  # beside it: every file the build put there
#: Files of an output folder that are not the build's but that it keeps (tracked in git)
KEPT = ("README.md",)
#: The tables 01_ingest writes (analysis.processed's names; a test checks they agree): an
#: analyst who runs the notebook by hand writes them into the processed folder
INGEST_TABLES = ("respondents.csv", "cleaning_log.csv", "item_missing.csv", "ingest_meta.json")
OWNER_TEXT = (
    "This folder is written by kommunebarometer's build (make report). Its files are replaced\n"
    "at every build; the files it made are listed in .kommunebarometer-files.\n"
)


class OutputFolderError(ValueError):
    """An output folder the build must not write into (one line: which, why, what to do)."""


def folder_key(folder: Path) -> str:
    """A name for a folder that make and file systems take: its name (unsafe characters
    replaced) and a digest of its absolute path."""
    import hashlib

    folder = Path(folder).resolve()
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", folder.name).strip("._") or "folder"
    return f"{slug[:40]}-{hashlib.sha256(str(folder).encode()).hexdigest()[:8]}"


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _files(folder: Path):
    """Files (and links) under ``folder``, relative, lazily (a huge folder is not walked)."""
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for f in sorted(files):
            yield Path(root, f).relative_to(folder).as_posix()
        for d in dirs:
            if os.path.islink(os.path.join(root, d)):
                yield Path(root, d).relative_to(folder).as_posix()


def _manifest(folder: Path) -> set[str] | None:
    m = folder / MANIFEST
    return set(m.read_text(encoding="utf-8").splitlines()) if m.is_file() else None


def check_owned(folder: Path, role: str, also: tuple[str, ...] = ()) -> None:
    """Refuse (OutputFolderError) an output folder that holds a file the build did not make:
    a folder that does not exist, is empty, or carries the build's marker and only the files
    its manifest lists (and its README) is the build's to replace."""
    folder = Path(folder)
    if not folder.exists() and not folder.is_symlink():
        return
    if not folder.is_dir():
        raise OutputFolderError(f"{role} {folder} is a file, not a folder; choose a folder")
    files = _files(folder)
    if not (folder / OWNER).is_file():
        first = next(files, None)
        if first is None:
            return
        raise OutputFolderError(
            f"{role} {folder} holds files that the build did not make (such as {first}); the "
            "build writes only into an empty folder or one it made. Choose another folder."
        )
    listed = _manifest(folder)
    if listed is None and (folder / MARKER).is_file():
        return  # published before manifests were kept: every file is the build's
    allowed = (listed or set()) | {OWNER, MANIFEST, *KEPT, *also}
    others = [f for f in files if f not in allowed]
    if others:
        more = f" and {len(others) - 3} more" if len(others) > 3 else ""
        raise OutputFolderError(
            f"{role} {folder} holds files that the build did not make "
            f"({', '.join(others[:3])}{more}); move them out of it or choose another folder"
        )


def check_outputs(
    reports_dir: Path, processed_dir: Path, raw_dir: Path, codebook: Path, register: Path
) -> None:
    """Refuse output folders that would overwrite an input, each other or a user's files
    (one line each, before anything is written): an output folder must not be, lie inside or
    contain the delivery or the register snapshot, contain the codebook or the checkout, or
    be, lie inside or contain the other output folder; and it must be the build's own
    (:func:`check_owned`)."""
    from analysis import config

    reports_dir, processed_dir = Path(reports_dir).resolve(), Path(processed_dir).resolve()
    raw_dir, register = Path(raw_dir).resolve(), Path(register).resolve()
    codebook = Path(codebook).resolve()
    outputs = (("REPORTS_DIR", reports_dir), ("PROCESSED_DIR", processed_dir))
    for role, out in outputs:
        for what, src in (("the delivery (RAW_DIR)", raw_dir), ("the register", register)):
            if _inside(out, src):
                raise OutputFolderError(
                    f"{role} {out} is or lies inside {what} {src}; outputs go elsewhere"
                )
            if _inside(src, out):
                raise OutputFolderError(f"{role} {out} contains {what} {src}; choose another")
        if _inside(codebook, out):
            raise OutputFolderError(f"{role} {out} contains the codebook {codebook}")
        if _inside(config.PROJECT_ROOT, out):
            raise OutputFolderError(f"{role} {out} contains the checkout; choose a folder in it")
    if _inside(reports_dir, processed_dir) or _inside(processed_dir, reports_dir):
        raise OutputFolderError(
            f"REPORTS_DIR {reports_dir} and PROCESSED_DIR {processed_dir} must be two separate "
            "folders, neither inside the other (the processed tables are never published)"
        )
    check_owned(reports_dir, "REPORTS_DIR")
    check_owned(processed_dir, "PROCESSED_DIR", INGEST_TABLES)


def mark(folder: Path, kept: tuple[str, ...] = ()) -> None:
    """Write the build's marker and the manifest of every file in ``folder`` (a stage)."""
    (folder / OWNER).write_text(OWNER_TEXT, encoding="utf-8")
    made = [f for f in _files(folder) if f not in (OWNER, MANIFEST, *kept)]
    (folder / MANIFEST).write_text("".join(f + "\n" for f in made), encoding="utf-8")


def add_to_manifest(folder: Path, made: Path) -> None:
    """Record a file made in an output folder after its publication (the printable edition)."""
    listed = _manifest(Path(folder))
    name = Path(made).relative_to(folder).as_posix()
    if listed is not None and name not in listed:
        with open(Path(folder) / MANIFEST, "a", encoding="utf-8") as fh:
            fh.write(name + "\n")


def is_published(reports_dir: Path, sites: str) -> bool:
    """Whether ``reports_dir`` holds the publication whose sites line is ``sites``."""
    m = Path(reports_dir) / MARKER
    return m.is_file() and m.read_text() == sites


def clean_folder(folder: Path) -> str:
    """Remove the files the build put into ``folder`` (its manifest) and then the folders they
    leave empty; the marker and README stay. A folder without the marker is left alone."""
    folder = Path(folder)
    listed = _manifest(folder) if (folder / OWNER).is_file() else None
    if listed is None:
        return f"{folder}: nothing of the build's to remove (no {MANIFEST}); left alone"
    for f in sorted(listed):
        p = folder / f
        if p.is_symlink() or p.is_file():
            p.unlink()
    for root, _dirs, _names in sorted(os.walk(folder), reverse=True):
        if Path(root) != folder and not os.listdir(root):
            os.rmdir(root)
    (folder / MANIFEST).unlink()
    from analysis import config

    if os.listdir(folder) == [OWNER] and not _inside(folder, config.PROJECT_ROOT):
        (folder / OWNER).unlink()  # the build made the folder: it goes
        folder.rmdir()
    return f"{folder}: removed the {len(listed)} files the build made"


def _sibling(folder: Path, kind: str, pid: int | str) -> Path:
    return folder.with_name(f".{folder.name}.{kind}-{pid}")


@contextmanager
def locked(*dirs: Path):
    """Hold an exclusive lock for each folder (in the checkout's ``build/locks``) for the block; a
    second build into the same reports or processed folder waits, and says so in one line."""
    import fcntl

    from analysis import config

    handles = []
    try:
        for d in sorted({Path(x).resolve() for x in dirs}):
            lock = config.BUILD_DIR / "locks" / f"{folder_key(d)}.lock"  # the checkout's own
            lock.parent.mkdir(parents=True, exist_ok=True)
            fh = open(lock, "a+")  # noqa: SIM115 - held for the block
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
        (self.stage / MARKER).write_text(", ".join(sites) + "\n")
        mark(self.stage)
        readme = self.reports_dir / "README.md"  # the folder's own README (tracked in git) stays
        if readme.is_file():
            shutil.copy2(readme, self.stage / "README.md")

    def stage_tables(self, processed_build: Path) -> None:
        """Copy the processed tables of the build beside the processed folder (its README stays)."""
        shutil.copytree(processed_build, self.stage_processed, symlinks=True)
        mark(self.stage_processed)
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
        before = Path(reports_dir) / MARKER
        was = before.read_text().strip().split(", ") if before.is_file() else []
        dropped = [x for x in was if x and x not in sites]
        if dropped:  # a build of some years publishes those years only: it says so
            notes.append(
                f"no longer published: {', '.join(dropped)} (this build was asked for "
                f"{', '.join(x for x in sites if x != 'ingest')}; build without YEARS to publish "
                "every year)"
            )
        check_owned(Path(reports_dir), "REPORTS_DIR")  # checked again where it is replaced
        check_owned(Path(processed_dir), "PROCESSED_DIR", INGEST_TABLES)
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
    """One line for a failed write of the build itself, with what to do (a copy of a folder
    that failed part-way, shutil.Error, says so by its first failure: its file and cause)."""
    if isinstance(exc, shutil.Error) and exc.args and isinstance(exc.args[0], list) and exc.args[0]:
        _src, dst, why = exc.args[0][0]
        code = next((c for c, w in ((errno.ENOSPC, "No space"), (errno.EACCES, "Permission"),
                                    (errno.EROFS, "Read-only")) if w in str(why)), None)  # fmt: skip
        exc = OSError(code, str(why).split("] ")[-1], dst)
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
