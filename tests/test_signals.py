"""Signals: `kill` (SIGTERM) ends a training run as Ctrl-C does, checkpoint first; a second
signal cannot cut that checkpoint short; a joblib sweep's jobs end with the sweep's process."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sac_test_support import REPO, TINY, last_step

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


def children(pid: int, command_part: str) -> list[int]:
    """The processes whose parent is `pid` and whose command line has `command_part` (/proc)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            stat = (proc / "stat").read_text()
            command = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])  # after the (name), state then ppid
        if parent == pid and command_part in command:
            found.append(int(proc.name))
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the sweep's workers in /proc")
def test_joblib_jobs_end_with_their_sweep_process(tmp_path: Path) -> None:
    """The sweep process killed outright (SIGKILL: no handler of its own runs) mid-training:
    its joblib workers notice, save their jobs' checkpoints as on Ctrl-C and exit, instead of
    training on unattended into dirs that a relaunched sweep would resume."""
    sweep_dir = tmp_path / "orphans"
    overrides = ("hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "seed=0,1",
                 "resume=auto", "total_steps=100000", "log_every=100")  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "train.py", "--multirun", *TINY, f"hydra.sweep.dir={sweep_dir}",
         *overrides],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    run_dirs = [sweep_dir / f"{job}_Pendulum-v1_seed{job}" for job in (0, 1)]
    deadline = time.monotonic() + 120
    while min(last_step(d) for d in run_dirs) < 500:  # both jobs are training
        assert process.poll() is None and time.monotonic() < deadline, "the jobs never trained"
        time.sleep(0.1)
    workers = children(process.pid, "loky")  # the two workers and loky's resource tracker
    assert len(workers) >= 2
    process.kill()
    _, stderr = process.communicate(timeout=60)  # each worker closed the pipe it inherited
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{pid}").exists() for pid in workers):
        assert time.monotonic() < deadline, "a worker of the killed sweep lives on"
        time.sleep(0.1)
    for run_dir in run_dirs:
        assert f"checkpoint: {run_dir / 'checkpoint.pt'}" in stderr, stderr[-2000:]
        assert 500 <= last_step(run_dir) < 100000
