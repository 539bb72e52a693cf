"""Bounded resources: what a delivery or a codebook may ask of the machine, checked before a
file is read, each refused in one line that names the file and the limit.

A municipal survey has at most one answer per municipality (356-428 a year): an export of
megabytes is already large, so the limits are generous for any real delivery and stop
hostile or broken files (a zip bomb, a YAML alias bomb, a link to a device, a million rows)
before they take the machine's memory or hours of its time."""

from __future__ import annotations

import os
import stat
import unicodedata
import zipfile
from pathlib import Path

#: Largest export file read (bytes); the demo's are 20-60 kB
MAX_EXPORT_BYTES = 25 * 1024 * 1024
#: Largest total size of an .xlsx workbook's parts once unpacked, and the largest ratio of
#: unpacked to packed size of a part (a zip bomb packs gigabytes into kilobytes)
MAX_INFLATED_BYTES = 200 * 1024 * 1024
MAX_INFLATE_RATIO = 200
#: Most data rows an export may have: 50 times the largest register (428 municipalities)
MAX_ROWS = 20_000
#: Largest codebook (bytes); anchors and aliases are not allowed in it at all
MAX_CODEBOOK_BYTES = 2 * 1024 * 1024


class LimitError(ValueError):
    """A file over a limit (one line: the file, what it holds, the limit, what to do)."""


def regular_file(path: Path, what: str, limit: int) -> int:
    """The size of ``path``, which must be a regular file (a link to one is fine) of at most
    ``limit`` bytes."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise LimitError(f"{path}: cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise LimitError(
            f"{path}: not a regular file (a device, a pipe or a folder named like {what}); "
            "put the file itself in the folder"
        )
    if st.st_size > limit:
        raise LimitError(
            f"{path}: {st.st_size / 2**20:.0f} MB, more than the {limit / 2**20:.0f} MB a {what} "
            "may have; check that it is the right file (a survey of municipalities is far smaller)"
        )
    return st.st_size


def workbook(path: Path) -> None:
    """An .xlsx must not unpack to more than :data:`MAX_INFLATED_BYTES` nor any part of it to
    more than :data:`MAX_INFLATE_RATIO` times its packed size (read from the zip directory,
    nothing is unpacked)."""
    try:
        with zipfile.ZipFile(path) as z:
            parts = z.infolist()
    except zipfile.BadZipFile:
        return  # not a workbook at all: the reader says so
    total = sum(p.file_size for p in parts)
    worst = max(parts, key=lambda p: p.file_size / max(p.compress_size, 1), default=None)
    if total > MAX_INFLATED_BYTES or (
        worst
        and worst.file_size > 1_000_000
        and worst.file_size > MAX_INFLATE_RATIO * worst.compress_size
    ):
        raise LimitError(
            f"{path}: the workbook unpacks to {total / 2**20:.0f} MB (part {worst.filename}: "
            f"{worst.file_size / max(worst.compress_size, 1):.0f} times its packed size); "
            f"the limit is {MAX_INFLATED_BYTES / 2**20:.0f} MB and {MAX_INFLATE_RATIO} times. "
            "Export the answers again"
        )


def rows(path: Path, n: int) -> None:
    """At most :data:`MAX_ROWS` data rows."""
    if n > MAX_ROWS:
        raise LimitError(
            f"{path}: {n} rows, more than the {MAX_ROWS} an export of municipalities may have; "
            "check that it is the survey's export (one row per answering municipality)"
        )


def yaml_text(text: str, path: Path) -> None:
    """A codebook has no anchors or aliases (one alias can expand to gigabytes) and is at most
    :data:`MAX_CODEBOOK_BYTES`."""
    import yaml

    if len(text.encode("utf-8")) > MAX_CODEBOOK_BYTES:
        raise LimitError(f"{path}: more than {MAX_CODEBOOK_BYTES / 2**20:.0f} MB; not a codebook")
    for token in yaml.scan(text):
        if isinstance(token, yaml.AnchorToken | yaml.AliasToken):
            raise LimitError(
                f"{path}, line {token.start_mark.line + 1}: YAML anchors and aliases (& and *) "
                "are not allowed in a codebook; write the entry out"
            )


def nfc(name: str) -> str:
    """A file name as one normal form (macOS writes å as a + ring: NFD)."""
    return unicodedata.normalize("NFC", name)
