"""The training loop, as a user runs it (train.py in a subprocess, real Hydra and envs) and
in-process through `Trainer`: the summary and checkpoint of a run, updates per step, logged
metrics, the on_step hook, same-seed determinism, async envs, compile and thread settings,
a run per env family, and the CUDA path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from optional_extras import require_extra
from sac_test_support import TINY, one_torch_thread, run_train, tiny_config, train_in_process

from agents import SACConfig
from agents.checkpoint import load_checkpoint
from runner.tracking import RunLogger
from runner.training import Trainer


def test_smoke_run_writes_summary_and_checkpoint(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    result = run_train(run_dir, *TINY)
    assert f"evaluate it: python evaluate.py checkpoint={run_dir} " in result.stdout
    summary = json.loads((run_dir / "summary.json").read_text())
    for key in (
        "env_id",
        "seed",
        "total_steps",
        "eval_return_mean",
        "eval_return_std",
        "eval_episodes",
        "wall_time_s",
        "steps_per_second",
        "checkpoint",
    ):
        assert key in summary, key
    assert summary["env_id"] == "Pendulum-v1"
    assert summary["total_steps"] == 300
    assert summary["eval_episodes"] == 2
    assert -2000 < summary["eval_return_mean"] <= 0  # Pendulum returns are non-positive
    assert summary["updates"] == 300 - 100  # utd 1: one update per env step after learning_starts
    # The only eval is the final one (eval.every=0): it is also the best so far.
    assert summary["best_eval_return_mean"] == summary["eval_return_mean"]
    assert len(summary["eval_returns"]) == 2
    assert summary["eval_return_mean"] == pytest.approx(np.mean(summary["eval_returns"]))
    assert 0 <= summary["tracking_time_s"] < summary["wall_time_s"]
    checkpoint = load_checkpoint(summary["checkpoint"])
    assert checkpoint["step"] == 300
    assert checkpoint["config"]["env"]["id"] == "Pendulum-v1"
    assert checkpoint["buffer"]["size"] > 0
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert any("rollout/episode_return" in line for line in lines)
    assert any("eval/return_mean" in line for line in lines)
    assert not (run_dir / "wandb").exists()  # disabled means no wandb files


@pytest.mark.parametrize(
    ("num_envs", "utd", "updates"),
    [
        (2, "0.5", 100),  # 1 update per vector step; (300 - 100) / 2 vector steps
        (1, "0.25", 50),  # fractions carried over steps: one update every 4th step
        (2, "0.75", 150),  # 1.5 per vector step
        (1, "0.1", 20),  # ten 0.1s sum to 0.999... in floats: 19 if compared with 1.0 exactly
    ],
)
def test_utd_counts_updates_over_all_envs(
    tmp_path: Path, num_envs: int, utd: str, updates: int
) -> None:
    agent = SACConfig(hidden_sizes=[32, 32], batch_size=32, utd=float(utd))
    with one_torch_thread():
        summary = train_in_process(tiny_config(num_envs=num_envs, agent=agent), tmp_path / "run")
    assert summary["updates"] == updates


def test_actor_metrics_logged_when_the_logging_step_updates_critics_only(tmp_path: Path) -> None:
    """With actor_update_every=2 the update at steps 200 and 300 is a critic-only one; the
    actor, entropy and alpha charts were never logged at all."""
    run_dir = tmp_path / "run"
    agent = SACConfig(hidden_sizes=[32, 32], batch_size=32, actor_update_every=2)
    with one_torch_thread():
        train_in_process(tiny_config(agent=agent, log_every=100), run_dir)
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    train_lines = {line["step"]: line for line in lines if "time/updates" in line}
    assert sorted(train_lines) == [100, 200, 300]
    keys = ("critic_loss", "q_mean", "alpha", "actor_loss", "entropy", "alpha_loss")
    for step in (200, 300):
        assert {f"train/{key}" for key in keys} <= train_lines[step].keys(), step
    assert train_lines[300]["train/actor_loss"] != train_lines[200]["train/actor_loss"]


def test_on_step_callback_ends_training_early(tmp_path: Path) -> None:
    """`Trainer.train(on_step=...)`, the hook benchmarks/ times the training loop with: it sees
    every env step after that step's update, and True stops the run there, final eval and
    model files included."""
    cfg = tiny_config()
    trainer = Trainer(cfg, {}, tmp_path)
    seen: list[tuple[int, int]] = []

    def on_step(step: int) -> bool:
        seen.append((step, trainer.members[0].agent.num_updates))
        return step == 150

    logger = RunLogger(tmp_path, cfg, {})
    try:
        (summary,) = trainer.train([logger], on_step=on_step)
    finally:
        logger.close({})
        trainer.close()
    assert [step for step, _ in seen] == list(range(1, 151))
    assert seen[99] == (100, 0) and seen[100] == (101, 1)  # updates start after learning_starts
    assert summary["total_steps"] == 150 and summary["updates"] == 50
    assert (tmp_path / "model.pt").is_file()


def test_same_seed_same_result(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    run_train(a, *TINY, "seed=3")
    run_train(b, *TINY, "seed=3")
    actor_a = load_checkpoint(a)["agent"]["actor"]
    actor_b = load_checkpoint(b)["agent"]["actor"]
    assert all(torch.equal(actor_a[k], actor_b[k]) for k in actor_a)
    summary_a = json.loads((a / "summary.json").read_text())
    summary_b = json.loads((b / "summary.json").read_text())
    assert summary_a["eval_returns"] == summary_b["eval_returns"]
    c = tmp_path / "c"  # and another seed another run: the seed is not ignored
    run_train(c, *TINY, "seed=4")
    actor_c = load_checkpoint(c)["agent"]["actor"]
    assert not all(torch.equal(actor_a[k], actor_c[k]) for k in actor_a)
    assert json.loads((c / "summary.json").read_text())["eval_returns"] != summary_a["eval_returns"]


def test_async_vector_env_trains_as_sync(tmp_path: Path) -> None:
    """env.vectorization=async (sub-envs in worker processes) collects the very transitions
    sync does: same seed, same weights and eval returns."""
    runs = {}
    for mode in ("sync", "async"):
        run_train(tmp_path / mode, *TINY, "num_envs=2", f"env.vectorization={mode}")
        runs[mode] = load_checkpoint(tmp_path / mode)
    assert runs["async"]["buffer"]["size"] == runs["sync"]["buffer"]["size"] > 250
    for key, value in runs["sync"]["agent"]["actor"].items():
        assert torch.equal(runs["async"]["agent"]["actor"][key], value), key
    assert runs["async"]["eval"]["episode_returns"] == runs["sync"]["eval"]["episode_returns"]


def test_compile_and_torch_threads_settings_reach_the_run(tmp_path: Path) -> None:
    """compile=true compiles the agent's update (torch.compile is lazy: nothing is compiled
    until the first update); torch_threads sets the process's torch threads."""
    threads = torch.get_num_threads()
    plain = Trainer(tiny_config(), {}, tmp_path / "plain")
    wanted = threads + 1  # not the current count, whatever the machine
    compiled = Trainer(tiny_config(compile=True, torch_threads=wanted), {}, tmp_path / "c")
    try:
        assert plain.population._compiled_step is None
        assert hasattr(compiled.population._compiled_step, "_torchdynamo_orig_callable")
        assert torch.get_num_threads() == wanted
    finally:
        plain.close()
        compiled.close()
        torch.set_num_threads(threads)


def test_custom_env_needs_no_file(tmp_path: Path) -> None:
    """env=custom takes any registered Box-action env with the generic defaults."""
    run_dir = tmp_path / "run"
    run_train(run_dir, *TINY, "env=custom", "env.id=MountainCarContinuous-v0")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["env_id"] == "MountainCarContinuous-v0"
    config = load_checkpoint(run_dir)["config"]
    assert config["agent"]["actor_lr"] == pytest.approx(3e-4)  # no Pendulum overrides leak in


@pytest.mark.parametrize(
    ("env_name", "module"),
    [
        ("LunarLanderContinuous-v3", "Box2D"),
        ("HalfCheetah-v5", "mujoco"),
        ("dm_control/cheetah-run-v0", "dm_control"),
    ],
)
def test_smoke_run_per_env_family(tmp_path: Path, env_name: str, module: str) -> None:
    """Box2D, MuJoCo and DeepMind Control train from their config files (classic control: the
    tests above)."""
    require_extra(module)
    run_dir = tmp_path / "run"
    tiny = [o for o in TINY if not o.startswith("env=")]
    run_train(run_dir, *tiny, f"env={env_name}", "eval.episodes=1", "env.max_episode_steps=200")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["env_id"] == env_name and summary["total_steps"] == 300
    assert load_checkpoint(run_dir)["config"]["learning_starts"] == 100  # CLI beat the env file


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_training_run(tmp_path: Path) -> None:
    """The CUDA path: device=auto picks the GPU; buffer and networks live there."""
    run_dir = tmp_path / "run"
    run_train(run_dir, *TINY, "device=auto")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["total_steps"] == 300
    state = load_checkpoint(run_dir, map_location="cpu")
    assert state["rng"]["cuda"] is not None
    # A GPU run resumes on the GPU, and its checkpoint also on a machine without one.
    for device in ("cuda", "cpu"):
        resumed = tmp_path / f"resumed_{device}"
        run_train(resumed, *TINY, f"resume={run_dir}", "total_steps=400", f"device={device}")
        summary = json.loads((resumed / "summary.json").read_text())
        assert summary["total_steps"] == 400
        assert summary["updates"] == state["agent"]["num_updates"] + 100
