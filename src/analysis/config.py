"""Project paths and defaults, derived from one place.

Every path is anchored at the repository root (found from this file), never at the
working directory. Environment variables override the defaults so that ``make`` and
Papermill can point the pipeline at another delivery.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT: Path = Path(__file__).resolve().parents[2]
DATA_DIR: Path = PROJECT_ROOT / "data"
RAW_DIR: Path = DATA_DIR / "raw"
EXTERNAL_DIR: Path = DATA_DIR / "external"
INTERIM_DIR: Path = DATA_DIR / "interim"
PROCESSED_DIR: Path = DATA_DIR / "processed"
CODEBOOK_PATH: Path = DATA_DIR / "codebook.yml"
DEMO_TRUTH_DIR: Path = DATA_DIR / "demo_truth"
REGISTER_CHECKSUMS_PATH: Path = DATA_DIR / "register_snapshot.sha256"
REPORTS_DIR: Path = PROJECT_ROOT / "reports"
NOTEBOOKS_DIR: Path = PROJECT_ROOT / "notebooks"
BUILD_DIR: Path = PROJECT_ROOT / "build"

#: Name of the Jupyter kernel that ``make venv`` registers for this project.
KERNEL_NAME: str = "kommunebarometer"

#: Publisher and contact named on every year's "Om statistikken" (placeholders until the
#: barometer has a publisher; change them here).
PUBLISHER: str = "Kommunebarometer-prosjektet"
CONTACT: str = "kontakt@kommunebarometer.example"

#: Default size-class thresholds (inhabitants on 1 January): small < 5 000,
#: medium 5 000-19 999, large >= 20 000. An assumption (KOSTRA-style), see docs/methods.md.
DEFAULT_SIZE_THRESHOLDS: tuple[int, int] = (5_000, 20_000)
SIZE_CLASSES: tuple[str, str, str] = ("small", "medium", "large")


def default_register_snapshot() -> Path | None:
    """Return the register snapshot directory: ``$REGISTER_SNAPSHOT`` or ``../shared/reference``."""
    env = os.environ.get("REGISTER_SNAPSHOT", "").strip()
    if env:
        return Path(env).expanduser().resolve()
    beside = PROJECT_ROOT.parent / "shared" / "reference"
    if beside.is_dir():
        return beside
    return None


@dataclass(frozen=True)
class SizeThresholds:
    """Lower bounds (inhabitants) of the medium and large size classes."""

    medium: int = DEFAULT_SIZE_THRESHOLDS[0]
    large: int = DEFAULT_SIZE_THRESHOLDS[1]

    def __post_init__(self) -> None:
        if not 0 < self.medium < self.large:
            raise ValueError(
                f"size thresholds must satisfy 0 < medium < large, got {self.medium}, {self.large}"
            )


def resolve(path: str | Path) -> Path:
    """Resolve a path parameter: absolute paths as given, relative ones against the project root."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else (PROJECT_ROOT / p).resolve()


def sha256_file(path: str | Path) -> str:
    """SHA-256 hex digest of a file, read in chunks (checksums of inputs everywhere)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
