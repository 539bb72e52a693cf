"""Write environment.yml from requirements.lock (same exact pins for conda users).

Run after re-locking: ``make lock``.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADER = """# Conda environment with the same pins as requirements.lock (generated from it by
# scripts/sync_environment.py; a test checks that the two agree). Prefer `make venv`.
#   conda env create -f environment.yml && conda activate kommunebarometer && pip install --no-deps -e .
name: kommunebarometer
channels:
  - conda-forge
dependencies:
  - python=3.11
  - pip
  - pip:
"""


def main() -> None:
    lock = (ROOT / "requirements.lock").read_text()
    pins = re.findall(r"^([A-Za-z0-9_.\-]+==[^\s;]+)", lock, flags=re.M)
    (ROOT / "environment.yml").write_text(HEADER + "".join(f"      - {p}\n" for p in pins))


if __name__ == "__main__":
    main()
