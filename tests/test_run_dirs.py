"""Run directories: a dir holding another run's files is refused and kept (a sweep's job dirs
too), and a refused run leaves no empty dir behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sac_test_support import REPO, TINY, refused_run, run_train

from agents.checkpoint import load_checkpoint
from runner.errors import ConfigError
from runner.run_dir import refuse_used_run_dir


def test_only_a_run_file_with_content_marks_a_run_dir(tmp_path: Path) -> None:
    """metrics.jsonl is created before W&B starts: a start stopped there leaves it empty, and
    the same command must still run in that dir; one line of metrics is a run's."""
    (tmp_path / "metrics.jsonl").write_text("")
    refuse_used_run_dir(tmp_path, resume=None)
    (tmp_path / "metrics.jsonl").write_text('{"step": 1}\n')
    with pytest.raises(ConfigError, match=r"already holds a run \(metrics.jsonl\)"):
        refuse_used_run_dir(tmp_path, resume=None)


def test_run_dir_of_another_run_is_refused_and_kept(tmp_path: Path) -> None:
    """A second run into a run dir (same hydra.run.dir, or two runs started in the same second)
    would overwrite its checkpoints; only a resume of that run may continue there."""
    run_dir = tmp_path / "run"
    run_train(run_dir, *TINY)
    kept = [run_dir / name for name in ("checkpoint.pt", "metrics.jsonl", ".hydra/config.yaml")]
    before = [path.read_bytes() for path in kept]
    assert b"seed: 0" in before[2]  # train.py writes .hydra/ itself, after its checks

    again = refused_run(run_dir, *TINY, "seed=7")
    assert again.returncode == 2 and "Traceback" not in again.stderr
    assert f"error: {run_dir} already holds a run" in again.stderr
    short = refused_run(run_dir, *TINY, f"resume={run_dir}", "total_steps=200")
    assert short.returncode == 2
    assert "checkpoint is at step 300, beyond total_steps=200" in short.stderr
    assert [path.read_bytes() for path in kept] == before

    run_train(run_dir, *TINY, f"resume={run_dir}", "total_steps=400")
    assert load_checkpoint(run_dir)["step"] == 400

    # Its large checkpoint.pt deleted, the dir still holds a run: model, summary, metrics.
    (run_dir / "checkpoint.pt").unlink()
    kept = [run_dir / name for name in ("model.pt", "summary.json", "metrics.jsonl")]
    before = [path.read_bytes() for path in kept]
    without = refused_run(run_dir, *TINY, "seed=7")
    assert without.returncode == 2 and "Traceback" not in without.stderr
    assert "it has no checkpoint.pt to resume" in without.stderr
    assert [path.read_bytes() for path in kept] == before


def test_custom_env_without_id_in_default_run_dir(tmp_path: Path) -> None:
    """The default run dir names the env id: without one it was a Hydra traceback."""
    result = subprocess.run(
        [sys.executable, str(REPO / "train.py"), "env=custom"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.stderr.splitlines()[-1] == "error: env.id must be set, e.g. env.id=<value>"
    assert not list((tmp_path / "runs").glob("*/*"))  # its empty run dir was removed


def test_sweep_runs_its_valid_jobs_past_an_invalid_one(tmp_path: Path) -> None:
    """In --multirun, bad input ends that job with its error line, not the whole sweep (the
    valid jobs used to never run); the sweep's exit status still says that one failed."""

    def sweep() -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "train.py", "--multirun", "agent.gamma=2,0.9", *TINY,
             f"hydra.sweep.dir={tmp_path}"],
            cwd=REPO, capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    result = sweep()
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors[0] == "error: agent.gamma must be in [0, 1], got 2.0"
    assert errors[-1].startswith("error: sweep job #0 stopped on bad input")
    assert "Traceback" not in result.stderr
    (valid,) = [d for d in tmp_path.iterdir() if (d / "summary.json").exists()]
    assert json.loads((valid / "summary.json").read_text())["total_steps"] == 300
    again = sweep()  # the same sweep again: its job dirs are taken
    assert again.returncode == 2
    assert f"error: {valid} already holds a run" in again.stderr
    assert "choose another hydra.sweep.dir or add resume=" in again.stderr
