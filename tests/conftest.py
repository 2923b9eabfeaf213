"""What every test process shares: one CPU thread; and the learning tests collected first.

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
    """The `slow` learning tests (minutes each) first, so that a plain run (`-n 0`) reports them
    early. xdist's file scheduling does not follow this order: on 2 workers the MountainCar
    test still often ends the run alone."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
