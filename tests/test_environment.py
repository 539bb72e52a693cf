"""Environment: environment.yml parses and pins exactly what requirements.lock pins."""

from __future__ import annotations

import re

import yaml

from analysis import config


def _lock_pins() -> dict[str, str]:
    text = (config.PROJECT_ROOT / "requirements.lock").read_text()
    return dict(re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)", text, flags=re.M))


def test_environment_yml_agrees_with_lock():
    env = yaml.safe_load((config.PROJECT_ROOT / "environment.yml").read_text())
    pip = next(d for d in env["dependencies"] if isinstance(d, dict))["pip"]
    pins = dict(p.split("==") for p in pip)
    assert pins == _lock_pins()
    assert "python=3.11" in env["dependencies"]


def test_core_stack_is_pinned():
    pins = _lock_pins()
    for pkg in ("pandas", "statsmodels", "papermill", "seaborn", "jupyterlab", "pyreadstat"):
        assert pkg in pins
