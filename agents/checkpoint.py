"""Checkpoint files: state_dicts plus the resolved config, never pickled objects.

Writes are atomic (temp file, flushed and fsynced, then renamed), so a crash mid-save never
corrupts the last good checkpoint; loads use `weights_only=True` and turn every failure into one
clear error.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

FORMAT = "sac-checkpoint"
VERSION = 1
FILENAME = "checkpoint.pt"


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt, or not ours; one-line message."""


def resolve_checkpoint_path(path: str | Path) -> Path:
    """A run dir means its `checkpoint.pt`; a file path is taken as is."""
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / FILENAME
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    return path


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as file:
        torch.save({"format": FORMAT, "version": VERSION, **payload}, file)
        # On disk before the rename: after a power loss or a node's crash (a preempted cluster
        # job) the rename must not point at data still in the page cache.
        file.flush()
        os.fsync(file.fileno())
    os.replace(tmp, path)  # atomic on POSIX: readers see the old file or the new, never half
    _fsync_dir(path.parent)  # the rename itself
    return path


def _fsync_dir(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows, which cannot open a directory: the rename stands anyway
        return
    try:
        os.fsync(descriptor)
    except OSError:  # some network file systems refuse fsync on a directory
        pass
    finally:
        os.close(descriptor)


def load_error_reason(error: Exception) -> str:
    """Why `torch.load` could not read a file, in one line.

    torch's weights-only failure is several lines of advice (among them to retry with
    `weights_only=False`, which would run code from an untrusted file); its reason is the line
    after "WeightsUnpickler error:". Other failures keep their first line and exception type.
    """
    message = str(error)
    marker = "WeightsUnpickler error:"
    if marker in message:
        after = [line.strip() for line in message.split(marker, 1)[1].splitlines()]
        reason = next((line for line in after if line), "")
        return f"not a weights-only pickle ({reason})" if reason else "not a weights-only pickle"
    first_line = next((line.strip() for line in message.splitlines() if line.strip()), "")
    return f"{type(error).__name__}: {first_line}" if first_line else type(error).__name__


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and check a checkpoint written by `save_checkpoint`."""
    path = resolve_checkpoint_path(path)
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    # Any exception: garbage bytes reach the unpickler's internals, which raise IndexError,
    # UnicodeDecodeError, KeyError... as well as UnpicklingError and RuntimeError.
    except Exception as error:  # noqa: BLE001 - every unreadable file gets the one-line error
        reason = load_error_reason(error)
        raise CheckpointError(f"{path} is corrupt or not a checkpoint: {reason}") from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a SAC checkpoint of this project")
    if payload.get("version") != VERSION:
        raise CheckpointError(
            f"{path} has checkpoint version {payload.get('version')}, "
            f"this code reads version {VERSION}"
        )
    return payload
