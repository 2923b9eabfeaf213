"""What the machine is (recorded with every result) and the results folder named after it:
benchmarks/results/<YYYY-MM-DD>-<machine>/, e.g. 2026-11-30-xeon-2c or 2026-11-30-h200."""

from __future__ import annotations

import datetime
import os
import platform
import re
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from .settings import REPO

RESULTS = REPO / "benchmarks" / "results"

# Words of a CPU or GPU name that tell two machines of this project apart no better than the rest.
_VENDOR_WORDS = {"intel", "amd", "nvidia", "geforce", "tesla", "quadro", "cpu", "processor"}
_GPU_VARIANT = re.compile(r"\d+gb|hbm\d*e?|pcie|sxm\d*|nvl\d*")


def machine_info(threads: int, device: str = "cpu") -> dict[str, Any]:
    """CPU, GPU, library versions, thread count, date and load: the report's Machine section."""
    import gymnasium
    import stable_baselines3
    import torch

    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor() or "unknown"
    try:
        import mujoco

        mujoco_version = mujoco.__version__
    except ImportError:
        mujoco_version = None
    return {
        "cpu_model": model,
        "device": device,
        "gpu": torch.cuda.get_device_name() if device == "cuda" else None,
        "cpu_count": os.cpu_count(),
        "threads": threads,
        "torch": torch.__version__,
        "torch_num_threads_default": torch.get_num_threads(),
        "stable_baselines3": stable_baselines3.__version__,
        "gymnasium": gymnasium.__version__,
        "mujoco": mujoco_version,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "loadavg_start": list(os.getloadavg()),
        "commit": code_commit(),
    }


# What no run reads: results, figures and prose. Edited while a run trains (its figures written
# up), they leave the code it measures the commit's.
_NOT_CODE = ("*.md", "*.png", "docs", "benchmarks/results", "benchmarks/results_plan.txt")


def code_commit() -> str | None:
    """The commit measured, with "+changes" when the working tree's code differs from it (a
    figure names the code it came from); None outside a git checkout."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        excluded = [f":(exclude,glob)**/{p}" if p.startswith("*") else f":(exclude){p}"
                    for p in _NOT_CODE]  # fmt: skip
        changed = git("status", "--porcelain", "--untracked-files=no", "--", ".", *excluded)
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("+changes" if changed else "")


def _words(name: str) -> list[str]:
    name = re.sub(r"\((r|tm)\)|@.*$|\d+-core", " ", name.lower())
    return [w for w in re.split(r"[^a-z0-9]+", name) if w and w not in _VENDOR_WORDS]


def machine_slug(machine: dict[str, Any]) -> str:
    """The GPU's model when both sides trained on one ("NVIDIA H100 80GB HBM3" -> h100), else
    the CPU's with its logical core count ("Intel(R) Xeon(R) Processor", 2 cores -> xeon-2c)."""
    if machine.get("gpu"):
        words = [w for w in _words(machine["gpu"]) if not _GPU_VARIANT.fullmatch(w)]
        return "-".join(words) or "gpu"
    cpu = "-".join(_words(machine.get("cpu_model") or "")) or "cpu"
    return f"{cpu}-{machine.get('cpu_count') or 1}c"


def default_output_dir(machine: dict[str, Any], root: Path = RESULTS) -> Path:
    """root/<date>-<machine>, the date the run started; -2, -3, ... when that day's folder
    already holds a results.json, so a later run never overwrites an earlier one."""
    name = f"{machine['date'][:10]}-{machine_slug(machine)}"
    candidates = [root / name, *(root / f"{name}-{n}" for n in range(2, 1000))]
    return next(path for path in candidates if not (path / "results.json").exists())
