"""Helpers several test modules share: reading W&B's offline run files, and one torch thread."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch


def read_wandb_records(run_file: Path) -> list[dict[str, Any]]:
    """Every record of an offline `run-*.wandb` log, decoded by wandb's own inspector."""
    result = subprocess.run(
        [sys.executable, "-m", "wandb", "leet", "inspect", "--json", str(run_file)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def wandb_summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The run's summary as W&B shows it: every summary update merged in order."""
    summary: dict[str, Any] = {}
    for record in records:
        if record["type"] == "summary":
            summary.update(record["summary"].get("update", {}))
    return summary


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Tiny nets gain nothing from more threads (and on a shared CPU lose much); in-process runs
    compared bit for bit with a subprocess's (OMP_NUM_THREADS=1) need the same thread count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
