"""What every test process shares: one CPU thread, and the learning tests first.

The suite runs in two pytest-xdist workers on a 2-core machine. Each worker and every train.py,
evaluate.py or benchmark it starts uses one torch (OpenMP) thread: processes whose threads
outnumber the cores spin against each other and run many times slower. The setting is made
before torch is imported anywhere, and subprocesses inherit it through the environment.
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"

import pytest  # noqa: E402


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The `slow` learning tests (minutes each) go first: xdist hands test files out in this
    order, and one started last keeps its worker busy while the other has finished."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
