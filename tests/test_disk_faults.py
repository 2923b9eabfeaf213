"""Checkpoints against a failing disk and damaged files: a write that fails (no space, lost
permission, I/O error, the file-size limit) leaves the previous checkpoint intact and loadable
and is one line; checkpoint.on_error chooses between stopping and training on; the last
checkpoint.keep files stay; a truncated or bit-flipped file is refused by name, and resume=auto
falls back to the newest intact one."""

from __future__ import annotations

import errno
import io
import json
import os
import resource
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sac_test_support import TINY, examples, run_train, tiny_config, train_in_process

import agents.checkpoint as checkpoint_module
from agents.checkpoint import (
    CheckpointError,
    CheckpointWriteError,
    kept_checkpoints,
    load_checkpoint,
    save_checkpoint,
)
from configs.schema import CheckpointConfig

PAYLOAD = {"weights": torch.arange(4096, dtype=torch.float32), "step": 1}


def _fail_in_torch_save(monkeypatch: pytest.MonkeyPatch) -> None:
    """The disk fills halfway through the file."""

    def save(obj: Any, file: Any) -> None:
        file.write(b"\0" * 1000)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(checkpoint_module.torch, "save", save)


def _fail_in_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    def fsync(descriptor: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(checkpoint_module.os, "fsync", fsync)


def _fail_in_rename(monkeypatch: pytest.MonkeyPatch) -> None:
    """The run dir lost its write permission (root ignores chmod, so the error is injected)."""

    def replace_file(source: Any, target: Any) -> None:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(checkpoint_module.os, "replace", replace_file)


@pytest.mark.parametrize(
    "inject, reason",
    [
        (_fail_in_torch_save, "No space left on device"),
        (_fail_in_fsync, "Input/output error"),
        (_fail_in_rename, "Permission denied"),
    ],
)
def test_a_failed_write_keeps_the_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inject: Any, reason: str
) -> None:
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, PAYLOAD, keep=2)
    before = path.read_bytes()
    inject(monkeypatch)
    with pytest.raises(CheckpointWriteError) as raised:
        save_checkpoint(path, {**PAYLOAD, "step": 2}, keep=2)
    monkeypatch.undo()
    message = str(raised.value)
    assert message.startswith(f"cannot write {path}: {reason}") and "\n" not in message
    assert path.read_bytes() == before and load_checkpoint(path)["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]  # no temp file left


def test_the_last_keep_checkpoints_stay(tmp_path: Path) -> None:
    for step in (1, 2, 3):
        save_checkpoint(tmp_path / "checkpoint.pt", {**PAYLOAD, "step": step}, keep=2)
    assert [load_checkpoint(p)["step"] for p in kept_checkpoints(tmp_path)] == [3, 2]
    assert not (tmp_path / "checkpoint.2.pt").exists()
    (tmp_path / "checkpoint.pt").unlink()  # a crash between a rotation's two renames
    assert kept_checkpoints(tmp_path) == [tmp_path / "checkpoint.1.pt"]


@settings(max_examples=examples(300), deadline=None)
@given(position=st.floats(0.0, 1.0, exclude_max=True), bit=st.integers(0, 7))
def test_any_flipped_bit_is_refused_or_harmless(tmp_path_factory: Any, position, bit) -> None:
    """One flipped bit anywhere in the file: the load refuses it in one line naming the file,
    or (a bit in alignment padding, which no checksum covers) loads the very same payload."""
    folder = tmp_path_factory.mktemp("flip")
    path = save_checkpoint(folder / "checkpoint.pt", PAYLOAD)
    content = bytearray(path.read_bytes())
    content[int(position * len(content))] ^= 1 << bit
    path.write_bytes(bytes(content))
    try:
        loaded = load_checkpoint(path)
    except CheckpointError as error:
        assert str(error).startswith(f"{path} is corrupt") and "\n" not in str(error)
        return
    assert torch.equal(loaded["weights"], PAYLOAD["weights"]) and loaded["step"] == 1


def test_a_flipped_weight_a_flipped_header_and_a_truncated_file_are_refused(
    tmp_path: Path,
) -> None:
    path = save_checkpoint(tmp_path / "checkpoint.pt", PAYLOAD)
    content = path.read_bytes()

    def refused_with(changed: bytes) -> str:
        path.write_bytes(changed)
        with pytest.raises(CheckpointError) as raised:
            load_checkpoint(path)
        return str(raised.value)

    weights = PAYLOAD["weights"].numpy().tobytes()
    at = content.index(weights[4000:4016]) + 5  # inside the tensor's bytes
    flipped = content[:at] + bytes([content[at] ^ 0x04]) + content[at + 1 :]
    assert "its SHA-256 differs" in refused_with(flipped)
    # The MS-DOS directory flag in the tensor's central-directory entry: every CRC-32 still
    # holds, but torch.load would read the tensor as uninitialized memory.
    entry = content.rindex(b"PK\x01\x02", 0, content.rindex(b"data/0"))
    flag = entry + 38  # the entry's external attributes
    flipped = content[:flag] + bytes([content[flag] ^ 0x10]) + content[flag + 1 :]
    assert zipfile.ZipFile(io.BytesIO(flipped)).testzip() is None
    assert "its SHA-256 differs" in refused_with(flipped)
    assert "is corrupt or not a checkpoint" in refused_with(content[: len(content) // 2])


def test_a_checkpoint_written_before_seals_is_checked_by_its_crcs(tmp_path: Path) -> None:
    path = tmp_path / "old.pt"
    torch.save({"format": "sac-checkpoint", "version": 1, **PAYLOAD}, path)
    assert load_checkpoint(path)["step"] == 1
    content = path.read_bytes()
    at = content.index(PAYLOAD["weights"].numpy().tobytes()[4000:4016]) + 5
    path.write_bytes(content[:at] + bytes([content[at] ^ 0x04]) + content[at + 1 :])
    with pytest.raises(CheckpointError, match=r"checksum of its entry .*data/0 differs"):
        load_checkpoint(path)


def _fail_checkpoint_writes_at(monkeypatch: pytest.MonkeyPatch, steps: set[int]) -> None:
    save = checkpoint_module.torch.save

    def save_unless(obj: Any, file: Any) -> None:
        if Path(file.name).name == "checkpoint.pt.tmp" and obj["step"] in steps:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        save(obj, file)

    monkeypatch.setattr(checkpoint_module.torch, "save", save_unless)


def test_on_error_warn_trains_on_and_stop_stops_with_the_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    _fail_checkpoint_writes_at(monkeypatch, {200})
    warn = tiny_config(checkpoint=CheckpointConfig(every=100, on_error="warn"))
    summary = train_in_process(warn, tmp_path / "warn")
    err = capsys.readouterr().err
    assert summary["total_steps"] == 300 and load_checkpoint(tmp_path / "warn")["step"] == 300
    assert err.count("warning: cannot write") == 1
    assert "No space left on device (errno 28); at step 200 the previous file is kept" in err
    stop = replace(warn, checkpoint=CheckpointConfig(every=100, on_error="stop"))
    with pytest.raises(CheckpointWriteError, match="the run stopped at step 200"):
        train_in_process(stop, tmp_path / "stop")
    assert "checkpoint failed" not in capsys.readouterr().err  # no second try on the way out
    assert [load_checkpoint(p)["step"] for p in kept_checkpoints(tmp_path / "stop")] == [100]


def _limit_file_size(limit: int) -> None:
    # Python ignores SIGXFSZ, so a write past the limit fails with EFBIG instead of killing.
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_full_disk_then_a_damaged_checkpoint_through_train_py(tmp_path: Path) -> None:
    """The kernel refuses a checkpoint's write (EFBIG, as a full quota would): exit 2, one
    `error:` line, the previous checkpoints intact. Then the newest is damaged: resume= of it
    is refused by name, and resume=auto passes over it to the one before and finishes."""
    run = tmp_path / "run"
    overrides = [*TINY, "checkpoint.every=100"]
    run_train(run, *overrides)  # checkpoints at 300 (checkpoint.pt) and 200 (checkpoint.1.pt)
    newest = run / "checkpoint.pt"
    before = newest.read_bytes()
    limited = run_train(
        run,
        *overrides,
        "total_steps=600",
        "resume=auto",
        check=False,
        # Below the next checkpoint (its buffer is larger), above the logs and configs.
        preexec_fn=lambda: _limit_file_size(len(before)),
    )
    assert limited.returncode == 2, limited.stderr[-2000:]
    assert "Traceback" not in limited.stderr
    assert limited.stderr.rstrip().splitlines()[-1] == (
        f"error: cannot write {newest}: File too large (errno 27); the run stopped at step 400 "
        "and kept its previous checkpoint (resume=auto continues from it)"
    )
    assert newest.read_bytes() == before
    assert [load_checkpoint(p)["step"] for p in kept_checkpoints(run)] == [300, 200]

    newest.write_bytes(before[:-100])
    refused = run_train(tmp_path / "other", *overrides, f"resume={newest}", check=False)
    assert refused.returncode == 2
    last_line = refused.stderr.rstrip().splitlines()[-1]
    assert last_line.startswith(f"error: {newest} is corrupt or not a checkpoint")
    result = run_train(run, *overrides, "total_steps=400", "resume=auto")
    assert f"resume=auto: {newest} is corrupt" in result.stderr
    assert "resumed from" in result.stderr and "at step 200" in result.stderr
    assert json.loads((run / "summary.json").read_text())["total_steps"] == 400
