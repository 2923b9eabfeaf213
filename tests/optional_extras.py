"""Optional extras ([box2d], [mujoco], [dmc]) in tests: skipped where a user lacks them, but
required under CI (CI=true), whose setup installs every extra: there a broken install (say an
ImportError after a simulator's new major version) must fail, not hide as a skip."""

from __future__ import annotations

import importlib
import os

import pytest


def require_extra(module: str) -> None:
    if os.environ.get("CI") == "true":
        importlib.import_module(module)  # raises: the test fails with the import error
    else:
        pytest.importorskip(module)
