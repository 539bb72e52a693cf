"""Provenance of a build: code version, the git commit, package versions."""

from __future__ import annotations

import hashlib
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from analysis import config

KEY_PACKAGES = (
    "pandas",
    "numpy",
    "scipy",
    "statsmodels",
    "svy",
    "polars",
    "matplotlib",
    "seaborn",
    "papermill",
    "nbconvert",
    "babel",
    "pyreadstat",
    "openpyxl",
    "pandera",
)


def code_digest() -> str:
    """SHA-256 over the package (code, templates, catalogs) and the notebooks."""
    h = hashlib.sha256()
    pkg = Path(__file__).parent
    files = [
        p
        for p in pkg.rglob("*")
        if p.is_file() and p.suffix in (".py", ".j2", ".tpl", ".css", ".json", ".po")
    ]
    for p in sorted([*files, *config.NOTEBOOKS_DIR.glob("*.ipynb")]):
        h.update(str(p.relative_to(config.PROJECT_ROOT)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=config.PROJECT_ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()


def git_commit() -> str:
    """Commit of the working tree (``+dirty`` with uncommitted changes), or 'unknown'."""
    try:
        dirty = _git("status", "--porcelain", "--untracked-files=no")
        return _git("rev-parse", "HEAD") + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape the numbers."""
    out = {"python": platform.python_version()}
    for p in KEY_PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = "not installed"
    return out


#: What a path parameter stands for, where the path lies outside the repository or in the
#: build folder (the files themselves are named with their checksums in inputs_sha256).
PATH_ROLES = {
    "processed_dir": "processed tables of this build",
    "register_snapshot": "register snapshot",
    "codebook": "codebook",
    "raw_dir": "raw exports",
    "output_dir": "results folder of this build",
}


def public_params(params: dict) -> dict[str, str]:
    """Parameters as a provenance record shows them: no path of the build machine. A path in
    the repository (outside build/) stays relative; any other is replaced by its role."""
    out = {}
    for k, v in sorted(params.items()):
        v = str(v)
        if k in PATH_ROLES:
            root = config.PROJECT_ROOT.resolve()
            inside = (root / v).resolve()
            repo = inside.is_relative_to(root)
            if not repo or inside.is_relative_to(root / "build") or v.startswith(".."):
                v = f"<{PATH_ROLES[k]}: see inputs_sha256>"
            elif Path(v).is_absolute():
                v = inside.relative_to(root).as_posix()
        out[k] = v
    return out
