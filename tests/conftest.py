"""What every test process shares: one CPU thread; the learning tests first; the schedule.

The suite runs in two pytest-xdist workers on a 2-core machine. Each worker and every train.py,
evaluate.py or benchmark it starts uses one torch (OpenMP) thread: processes whose threads
outnumber the cores spin against each other and run many times slower. The setting is made
before torch is imported anywhere, and subprocesses inherit it through the environment.
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"

import pytest  # noqa: E402


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups off the marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The `slow` learning tests (minutes each) first; and the tests of a file that builds a
    module fixture (a trained run, say) kept on one xdist worker, so it is built once.

    The suite is scheduled test by test (`--dist loadgroup`): scheduled file by file, the
    2-test learning file went last (xdist hands out the files with most tests first) and its
    MountainCar test ended the run alone for two minutes. Test by test, both workers stay busy
    to the end. A file's module fixtures are found here rather than marked by hand, so a new
    one cannot be built twice unnoticed."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
    for item in items:
        module = item.nodeid.split("::")[0]
        # pytest has no public accessor for where an item's fixtures are defined; without
        # this attribute the marks are skipped and such fixtures are only built once a worker
        fixtures = getattr(item, "_fixtureinfo", None)
        defs = fixtures.name2fixturedefs.values() if fixtures else ()
        if any(d.scope != "function" and d.baseid == module for chain in defs for d in chain):
            item.add_marker(pytest.mark.xdist_group(module))
