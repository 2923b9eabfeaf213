"""Errors the CLIs report as one `error: ...` line with exit status 2, and their wording."""

from __future__ import annotations

import torch


class ConfigError(ValueError):
    """A config value that composes but makes no sense (e.g. total_steps=0)."""


class EvalError(ValueError):
    """An evaluate.py input that cannot be evaluated (conflicting options, wrong env)."""


class RefusedJob(Exception):
    """A job of a --multirun sweep stopped on bad input, after printing its `error:` line.

    Raised rather than exiting, so that Hydra records the job as failed wherever its launcher
    ran it (another process with joblib, a cluster node with submitit, a Ray worker) and raises
    it in the sweep's own process once the batch of jobs has run: the CLI then ends with one
    more `error:` line and exit status 2."""


# How allocation failures read: torch's CPU allocator raises a plain RuntimeError ("can't
# allocate memory" / "not enough memory"), a CUDA context one "CUDA error: out of memory".
OUT_OF_MEMORY = ("can't allocate memory", "not enough memory", "out of memory")


def memory_error(error: BaseException, setting: str, device: torch.device) -> BaseException:
    """A ConfigError naming `setting` when `error` is an allocation failure (also numpy's
    MemoryError and CUDA's OutOfMemoryError), else `error` itself, to be raised as it was."""
    message = str(error)
    if isinstance(error, (MemoryError, torch.cuda.OutOfMemoryError)) or any(
        phrase in message for phrase in OUT_OF_MEMORY
    ):
        return ConfigError(f"{setting} does not fit in memory on {device}: {first_line(error)}")
    return error


def first_line(error: BaseException) -> str:
    return next((line for line in str(error).splitlines() if line.strip()), type(error).__name__)
