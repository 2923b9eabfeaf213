"""Checkpoint files: state_dicts plus the resolved config, never pickled objects.

Writes are atomic (temp file, flushed and fsynced, then renamed), so a crash or a full disk
mid-save never touches the last good checkpoint; the last `keep` checkpoints stay on disk
(checkpoint.pt, checkpoint.1.pt, ...). Each file carries a SHA-256 of itself, checked before every
load (torch.load reads a bit-flipped tensor without complaint); loads use `weights_only=True`
and turn every failure into one clear error.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import torch

from agents import checksum

FORMAT = "sac-checkpoint"
VERSION = 1
FILENAME = "checkpoint.pt"


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt, or not ours; one-line message."""


class CheckpointWriteError(OSError):
    """A checkpoint that could not be written (disk full, permission, I/O error); the previous
    one is untouched. One-line message."""


def older_checkpoint(path: Path, age: int) -> Path:
    """The file that held `path`'s checkpoint `age` saves ago: checkpoint.1.pt for age 1."""
    return path if age == 0 else path.with_name(f"{path.stem}.{age}{path.suffix}")


def kept_checkpoints(run_dir: Path) -> list[Path]:
    """The checkpoints a run dir keeps, newest first (checkpoint.pt, checkpoint.1.pt, ...)."""
    newest, found, age = run_dir / FILENAME, [], 0
    while True:
        path = older_checkpoint(newest, age)
        if path.is_file():
            found.append(path)
        elif age > 0:  # checkpoint.pt alone may be missing: a crash between a rotation's renames
            return found
        age += 1


def resolve_checkpoint_path(path: str | Path) -> Path:
    """A run dir means its `checkpoint.pt`; a file path is taken as is."""
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / FILENAME
    if not path.is_file():
        members = " (a population's dir: each member's run dir is member-<i>/ in it)"
        hint = members if (path.parent / "member-0").is_dir() else ""
        raise CheckpointError(f"no checkpoint at {path}{hint}")
    return path


def save_checkpoint(path: str | Path, payload: dict[str, Any], keep: int = 1) -> Path:
    """Write `payload` to `path`; the checkpoint it replaces moves to checkpoint.1.pt, and so
    on, `keep` files in all. A CheckpointWriteError leaves every existing file as it was."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as file:
            torch.save({"format": FORMAT, "version": VERSION, **payload}, file)
        checksum.seal(tmp)
        with open(tmp, "rb+") as file:
            # On disk before the rename: after a power loss or a node's crash (a preempted
            # cluster job) the rename must not point at data still in the page cache.
            os.fsync(file.fileno())
    except (OSError, RuntimeError) as error:  # torch reports a failed write as RuntimeError
        tmp.unlink(missing_ok=True)  # a partial file would fill the disk further
        raise CheckpointWriteError(f"cannot write {path}: {_write_reason(error)}") from error
    try:
        for age in range(keep - 1, 0, -1):  # the oldest first, so no rename overwrites a keeper
            if older_checkpoint(path, age - 1).is_file():
                os.replace(older_checkpoint(path, age - 1), older_checkpoint(path, age))
        os.replace(tmp, path)  # atomic on POSIX: readers see the old file or the new, never half
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise CheckpointWriteError(f"cannot write {path}: {_write_reason(error)}") from error
    _fsync_dir(path.parent)  # the renames themselves
    return path


def _write_reason(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return f"{error.strerror} (errno {error.errno})"
    return next((line.strip() for line in str(error).splitlines() if line.strip()), "")


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


def verify_checkpoint(path: Path) -> None:
    """A CheckpointError naming `path` if the file is truncated or any byte of it changed.

    Checked against the SHA-256 sealed into the file when it was written (agents/checksum.py);
    a checkpoint written before seals existed gets zipfile's check of its entries' CRC-32s."""
    try:
        if checksum.is_sealed(path):
            checksum.check(path)
            return
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except checksum.SealBroken as error:
        raise CheckpointError(
            f"{path} is corrupt or not a checkpoint: {error} (the file changed after it was "
            "written)"
        ) from error
    except zipfile.BadZipFile as error:  # truncated (no central directory) or not a zip at all
        raise CheckpointError(f"{path} is corrupt or not a checkpoint: {error}") from error
    except Exception as error:  # noqa: BLE001 - a broken entry header fails in many ways
        reason = load_error_reason(error)
        raise CheckpointError(f"{path} is corrupt or not a checkpoint: {reason}") from error
    if damaged is not None:
        raise CheckpointError(
            f"{path} is corrupt or not a checkpoint: the checksum of its entry {damaged} differs "
            "(the file changed after it was written)"
        )


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and check a checkpoint written by `save_checkpoint`."""
    path = resolve_checkpoint_path(path)
    verify_checkpoint(path)
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
