"""Signals: `kill` (SIGTERM) ends a training run as Ctrl-C does, checkpoint first."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from sac_test_support import REPO, TINY

from agents.checkpoint import load_checkpoint


def test_sigterm_saves_the_checkpoint_and_exits_143(tmp_path: Path) -> None:
    """`kill` (SIGTERM) is handled as Ctrl-C: the checkpoint at the step reached; the exit status
    is the shell's for a job killed by SIGTERM (128 + 15; Ctrl-C gives 130)."""
    run_dir = tmp_path / "run"
    overrides = [o for o in TINY if not o.startswith("total_steps")]
    process = subprocess.Popen(
        [sys.executable, "train.py", f"hydra.run.dir={run_dir}", *overrides,
         "total_steps=1000000", "log_every=100"],
        cwd=REPO, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        metrics = run_dir / "metrics.jsonl"
        while not (metrics.exists() and "time/updates" in metrics.read_text()):
            assert process.poll() is None and time.monotonic() < deadline, "run did not start"
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 143, stderr[-2000:]
    assert "interrupted at step" in stderr and "Traceback" not in stderr
    assert stderr.rstrip().splitlines()[-1].startswith("interrupted at step")  # said once
    assert 100 <= load_checkpoint(run_dir)["step"] < 1_000_000


def test_signals_during_the_interrupted_runs_saves_cannot_cut_them_short(tmp_path: Path) -> None:
    """A population of three stopped by SIGTERM, then SIGTERM again every few milliseconds
    while it writes its members' checkpoints (a launcher and a user both signalling, `pkill`
    matching every process): every member's checkpoint is written, at the step reached."""
    run_dir = tmp_path / "run"
    overrides = [o for o in TINY if not o.startswith("total_steps")]
    process = subprocess.Popen(
        [sys.executable, "train.py", f"hydra.run.dir={run_dir}", *overrides, "population=3",
         "total_steps=1000000", "log_every=100", "agent.buffer_size=200000"],
        cwd=REPO, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        metrics = run_dir / "member-0" / "metrics.jsonl"
        while not (metrics.exists() and "time/updates" in metrics.read_text()):
            assert process.poll() is None and time.monotonic() < deadline, "run did not start"
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)  # stops the run at the step's end
        stop = time.monotonic() + 0.5
        while process.poll() is None and time.monotonic() < stop:  # into its saves
            process.send_signal(signal.SIGTERM)
            time.sleep(0.005)
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    # 143, or killed outright by a signal that came after the saves, as the process ended
    assert process.returncode in (143, -signal.SIGTERM), stderr[-2000:]
    saved = [line for line in stderr.splitlines() if line.startswith("interrupted at step")]
    assert len(saved) == 3 and all("checkpoint failed" not in line for line in saved), stderr
    steps = {load_checkpoint(run_dir / f"member-{k}")["step"] for k in range(3)}
    assert len(steps) == 1 and 100 <= steps.pop() < 1_000_000  # the members agree
