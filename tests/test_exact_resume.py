"""Exact resume: a run stopped (SIGTERM between steps, or SIGKILL at any moment after a periodic
checkpoint) and resumed ends with the parameters, eval returns and metrics.jsonl rows of the run
that was never stopped; env snapshots reproduce every later step; what cannot be snapshotted
says so and resumes with new episodes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from fake_envs import register_asymmetric_pendulum
from optional_extras import require_extra
from sac_test_support import (
    REPO,
    TINY,
    one_torch_thread,
    run_train,
    sigterm_at,
    tiny_config,
    train_in_process,
)

from agents import SACConfig
from agents.checkpoint import load_checkpoint
from configs.schema import CheckpointConfig, EnvConfig, EvalConfig, ExplorationConfig
from envs import make_vector_env
from envs.snapshot import SnapshotUnsupported, restore_vector_env, snapshot_vector_env
from runner.process import Terminated
from runner.rollout import to_numpy, to_tensors
from runner.tracking import RunLogger
from runner.training import Trainer


def _steps(envs: gym.vector.VectorEnv, actions: np.ndarray) -> list[tuple]:
    return [envs.step(action)[:4] for action in actions]


@pytest.mark.parametrize(
    "env_id",
    [
        "Pendulum-v1", "MountainCarContinuous-v0", "Hopper-v5", "Ant-v5",
        "dm_control/walker-walk-v0",
    ],
)  # fmt: skip
def test_a_restored_env_takes_the_same_steps(env_id: str) -> None:
    """Through the checkpoint form (tensors) and into envs reset elsewhere and stepped on.
    Ant reads its torso position before stepping: that needs MjData's derived arrays too."""
    if env_id.endswith("-v5"):
        require_extra("mujoco")
    if env_id.startswith("dm_control/"):
        require_extra("dm_control")
    rng = np.random.default_rng(0)
    original, restored = make_vector_env(env_id, 2), make_vector_env(env_id, 2)
    try:
        shape = (2, *original.single_action_space.shape)
        actions = rng.uniform(-1, 1, (400, *shape)).astype(np.float32)
        original.reset(seed=0)
        _steps(original, actions[:150])
        state = to_tensors(snapshot_vector_env(original))
        restored.reset(seed=99)
        _steps(restored, actions[:7])
        restore_vector_env(restored, to_numpy(state))
        expected, got = _steps(original, actions[150:]), _steps(restored, actions[150:])
    finally:
        original.close()
        restored.close()
    for step, (a, b) in enumerate(zip(expected, got, strict=True)):
        for name, x, y in zip(("obs", "reward", "terminated", "truncated"), a, b, strict=True):
            assert np.array_equal(x, y), f"{name} differs {step} steps after the restore"


def test_envs_whose_state_is_unknown_are_refused_by_name() -> None:
    env_id = register_asymmetric_pendulum()  # a subclass defined outside gymnasium
    envs = make_vector_env(env_id, 1)
    async_envs = make_vector_env("Pendulum-v1", 1, "async")
    try:
        envs.reset(seed=0)
        with pytest.raises(SnapshotUnsupported, match="AsymmetricPendulum"):
            snapshot_vector_env(envs)
        with pytest.raises(SnapshotUnsupported, match="AsyncVectorEnv"):
            snapshot_vector_env(async_envs)
    finally:
        envs.close()
        async_envs.close()


def _flat_tensors(state: Any, prefix: str = "") -> dict[str, torch.Tensor]:
    if isinstance(state, torch.Tensor):
        return {prefix: state}
    if isinstance(state, dict):
        return {
            key: value
            for name, item in state.items()
            for key, value in _flat_tensors(item, f"{prefix}.{name}").items()
        }
    return {}


def _metric_rows(run_dir: Path) -> list[dict[str, Any]]:
    """metrics.jsonl without its wall-clock column."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in row.items() if k != "time/steps_per_second"} for row in rows]


def _assert_same_run(straight: Path, resumed: Path) -> None:
    expected = _flat_tensors(load_checkpoint(straight / "model.pt")["agent"])
    got = _flat_tensors(load_checkpoint(resumed / "model.pt")["agent"])
    assert expected.keys() == got.keys() and len(expected) > 10
    for key in expected:
        assert torch.equal(expected[key], got[key]), f"{key} differs"
    assert _metric_rows(straight) == _metric_rows(resumed)


@pytest.mark.parametrize("env_id, n_step", [("Pendulum-v1", 1), ("Hopper-v5", 3)])
def test_a_run_stopped_by_sigterm_resumes_bit_exactly(
    tmp_path: Path, env_id: str, n_step: int
) -> None:
    """Two envs, colored noise, observation statistics, evals and logs on their schedules;
    SIGTERM at step 300 of 600. On Hopper with 3-step transitions, whose pending windows
    (episodes end there by termination) are part of the saved state."""
    if env_id == "Hopper-v5":
        require_extra("mujoco")
    assert threading.current_thread() is threading.main_thread()  # where signals are caught
    cfg = tiny_config(
        env=EnvConfig(id=env_id),
        agent=SACConfig(hidden_sizes=[32, 32], batch_size=32, normalize_obs=True, n_step=n_step),
        total_steps=600,
        num_envs=2,
        eval=EvalConfig(every=200, episodes=1),
        log_every=50,
        exploration=ExplorationConfig(noise_beta=1.0),
    )
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    with one_torch_thread():
        expected = train_in_process(cfg, straight)
        with pytest.raises(Terminated):
            train_in_process(cfg, stopped, sigterm_at(300))
        assert load_checkpoint(stopped)["step"] == 300  # saved between steps 300 and 302
        resumed = train_in_process(replace(cfg, resume=str(stopped)), stopped)
    assert resumed["resume_kind"] == "exact" and expected["resume_kind"] is None
    assert resumed["eval_returns"] == expected["eval_returns"]
    _assert_same_run(straight, stopped)


def test_sigkill_at_a_random_moment_then_resume_auto_ends_as_the_straight_run(
    tmp_path: Path,
) -> None:
    """No save on SIGKILL: resume=auto takes the last periodic checkpoint, drops the metrics
    rows written after it, and ends as the run that was never killed."""
    overrides = [
        *TINY, "total_steps=1500", "checkpoint.every=100", "log_every=100", "eval.every=500",
        "torch_threads=1", "progress=false",
    ]  # fmt: skip
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    run_train(straight, *overrides)
    delay = float(np.random.default_rng().uniform(0.0, 2.0))  # a moment of its own each run
    process = subprocess.Popen(
        [sys.executable, "train.py", f"hydra.run.dir={killed}", *overrides],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not (killed / "checkpoint.pt").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, f"finished before the kill ({delay:.2f} s)"
    result = run_train(killed, *overrides, "resume=auto")
    assert "resumed from" in result.stderr, result.stderr[-2000:]
    summary = json.loads((killed / "summary.json").read_text())
    assert summary["resume_kind"] == "exact", f"killed {delay:.2f} s after the first checkpoint"
    _assert_same_run(straight, killed)


def test_a_checkpoint_saved_mid_step_resumes_with_new_episodes(tmp_path: Path, capsys) -> None:
    """A crash inside a step leaves the envs a step ahead of the buffer and counters: that
    checkpoint holds no env state, and its resume says it starts new episodes."""
    cfg = tiny_config()
    trainer = Trainer(cfg, asdict(cfg), tmp_path)
    logger = RunLogger(tmp_path, cfg, {})
    add, calls = trainer.members[0].buffer.add, []

    def failing_add(*transitions: Any) -> None:
        calls.append(1)
        if len(calls) == 150:
            raise RuntimeError("injected")
        add(*transitions)

    trainer.members[0].buffer.add = failing_add
    try:
        with pytest.raises(RuntimeError, match="injected"):
            trainer.train([logger])
    finally:
        logger.close({})
        trainer.close()
    saved = load_checkpoint(tmp_path)
    assert saved["rollout"] is None and "mid-step" in saved["rollout_missing"]
    capsys.readouterr()
    resumed = train_in_process(replace(cfg, resume=str(tmp_path)), tmp_path)
    assert resumed["resume_kind"] == "new_episodes"
    assert (
        "resumed with new episodes (the checkpoint was saved mid-step)" in capsys.readouterr().err
    )


def test_an_env_that_cannot_be_snapshotted_warns_once_and_resumes_with_new_episodes(
    tmp_path: Path, capsys
) -> None:
    cfg = tiny_config(
        env=EnvConfig(id=register_asymmetric_pendulum()), checkpoint=CheckpointConfig(every=100)
    )
    train_in_process(cfg, tmp_path / "first")
    err = capsys.readouterr().err
    assert err.count("warning: the envs' state cannot be saved") == 1, err  # 3 saves, 1 line
    assert "AsymmetricPendulum" in err
    resumed = train_in_process(
        replace(cfg, resume=str(tmp_path / "first"), total_steps=400), tmp_path / "b"
    )
    assert resumed["resume_kind"] == "new_episodes"
    assert "resumed with new episodes (the envs' state cannot be saved" in capsys.readouterr().err
