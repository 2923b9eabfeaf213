"""resume=: a run continues from its checkpoint with its counters, buffer and best model; resumed
episodes are seeded apart from the first run's and eval's; what cannot be resumed is one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from optional_extras import require_extra
from sac_test_support import TINY, refused_run, run_train

from agents.checkpoint import load_checkpoint, save_checkpoint
from configs.schema import EvalConfig
from runner.resume import reset_seed


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished TINY run (300 steps, checkpoint and best.pt), trained once for the module:
    tests that change its files or resume it in place take a copy (`copy_of`)."""
    run_dir = tmp_path_factory.mktemp("resume") / "first"
    run_train(run_dir, *TINY)
    return run_dir


def copy_of(run_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run_dir, tmp_path / run_dir.name))


def test_resume_continues_from_saved_step(tiny_run: Path, tmp_path: Path) -> None:
    first, second = copy_of(tiny_run, tmp_path), tmp_path / "second"
    saved = load_checkpoint(first)
    result = run_train(second, *TINY, f"resume={first}", "total_steps=500")
    assert "at step 300" in result.stderr
    summary = json.loads((second / "summary.json").read_text())
    assert summary["total_steps"] == 500
    assert summary["updates"] == saved["agent"]["num_updates"] + 200  # counters carried over
    resumed = load_checkpoint(second)
    assert resumed["buffer"]["size"] > saved["buffer"]["size"]
    # The old run's files are untouched by the resumed run.
    assert load_checkpoint(first)["step"] == 300
    # In place, at its own total_steps, a finished run has nothing left to do: refused, where
    # it used to rerun the final eval and overwrite the summary's timings with ~0.
    summary_before = (first / "summary.json").read_bytes()
    again = refused_run(first, *TINY, f"resume={first}")
    assert again.returncode == 2
    assert again.stderr.rstrip().splitlines()[-1] == (
        f"error: {first} already finished at step 300 (summary.json); "
        "set total_steps above 300 to train on"
    )
    assert (first / "summary.json").read_bytes() == summary_before


def test_fractional_update_debt_survives_a_resume(tmp_path: Path) -> None:
    """utd=0.25 over steps 101-302 runs 50 updates and owes half of one; resumed to 304 (two
    more quarters) that is the 51st. A resume that dropped the debt ran 50."""
    first, second = tmp_path / "first", tmp_path / "second"
    run_train(first, *TINY, "agent.utd=0.25", "total_steps=302")
    saved = load_checkpoint(first)
    assert saved["agent"]["num_updates"] == 50 and saved["update_debt"] == pytest.approx(0.5)
    run_train(second, *TINY, "agent.utd=0.25", "total_steps=304", f"resume={first}")
    assert json.loads((second / "summary.json").read_text())["updates"] == 51


def test_resumed_runs_reset_apart_from_eval_and_first_episodes() -> None:
    """A resume at step S reset the training envs with seed + S: at S = 10,000 - i sub-env i
    replayed the eval episodes (seed + eval.seed_offset), which are meant to be held out."""
    offset, spread = EvalConfig().seed_offset, 16
    for seed in (0, 1, 7, 2**40):
        eval_seed = seed + offset
        assert reset_seed(seed, 0, eval_seed, spread) == seed  # a new run: the seed itself
        held = {seed + i for i in range(spread)} | {eval_seed + i for i in range(spread)}
        steps = [*range(1, 2 * offset, 7), offset]
        seeds = [reset_seed(seed, step, eval_seed, spread) for step in steps]
        assert all(s >= 0 and s + spread <= 2**32 for s in seeds)  # shimmy's limit
        assert not held & {s + i for s in seeds for i in range(spread)}
        assert len(set(seeds)) == len(seeds)  # and apart from each other
    # A seed that lands next to the eval seeds is drawn again.
    taken = reset_seed(0, 500, offset, spread)
    assert abs(reset_seed(0, 500, taken, spread) - taken) >= spread


def test_resumed_dm_control_envs_accept_the_reset_seed() -> None:
    """shimmy's DeepMind Control envs seed a numpy RandomState (< 2**32): a 62-bit resume seed
    failed every dm_control resume with a traceback."""
    require_extra("dm_control")
    from envs import make_vector_env

    envs = make_vector_env("dm_control/cartpole-swingup-v0", 2, "sync")
    try:
        for step in (1, 10_000, 123_456_789):
            obs, _ = envs.reset(seed=reset_seed(0, step, 10_000, 2))
            assert obs.shape[0] == 2 and np.isfinite(obs).all()
    finally:
        envs.close()


def test_resume_keeps_a_best_model_newer_than_the_checkpoint(
    tiny_run: Path, tmp_path: Path
) -> None:
    """After a hard kill best.pt can hold a better eval than checkpoint.pt knows of; the resumed
    run took the checkpoint's figure, and its next (worse) eval replaced the best model."""
    first = copy_of(tiny_run, tmp_path)
    best = load_checkpoint(first / "best.pt")
    # As a SIGKILL leaves it: best.pt saved after the last checkpoint, at a better eval.
    payload = {k: v for k, v in best.items() if k not in ("format", "version")}
    save_checkpoint(first / "best.pt", {**payload, "best_eval_return": 1e9, "best_eval_step": 250})
    before = (first / "best.pt").read_bytes()
    second = tmp_path / "second"
    run_train(second, *TINY, f"resume={first}", "total_steps=400")
    summary = json.loads((second / "summary.json").read_text())
    assert summary["best_eval_return_mean"] == 1e9
    assert (second / "best.pt").read_bytes() == before  # carried over, not replaced


def test_resume_ignores_another_envs_best_model_beside_the_checkpoint(
    tiny_run: Path, tmp_path: Path
) -> None:
    """resume=<checkpoint file> in a folder whose best.pt is another env's: not that run's best."""
    first = copy_of(tiny_run, tmp_path)
    best = load_checkpoint(first / "best.pt")
    payload = {k: v for k, v in best.items() if k not in ("format", "version")}
    other = {**payload["config"], "env": {**payload["config"]["env"], "id": "InvertedPendulum-v5"}}
    save_checkpoint(first / "best.pt", {**payload, "config": other, "best_eval_return": 1e9})
    second = tmp_path / "second"
    run_train(second, *TINY, f"resume={first / 'checkpoint.pt'}", "total_steps=400")
    summary = json.loads((second / "summary.json").read_text())
    assert summary["best_eval_return_mean"] < 0  # Pendulum's returns, not the other run's 1e9
    best_after = second / "best.pt"  # not copied; present only if the run's own eval beat its best
    assert not best_after.exists() or load_checkpoint(best_after)["config"]["env"]["id"] == (
        "Pendulum-v1"
    )


def test_resumed_run_keeps_the_best_model_so_far(tmp_path: Path) -> None:
    """Resumed into a new dir, with no eval beating the saved best (no updates: all tie), the
    new dir still holds best.pt, the original run's best (W&B's `best` artifact needs it)."""
    first, second = tmp_path / "first", tmp_path / "second"
    evals = ["eval.every=100", "log_every=100", "learning_starts=400"]
    run_train(first, *TINY, *evals)
    run_train(second, *TINY, *evals, f"resume={first}", "total_steps=400")
    assert load_checkpoint(second / "best.pt")["step"] == 100
    assert load_checkpoint(second)["best_eval_step"] == 100


def test_resume_with_checkpoint_of_other_env_fails(tiny_run: Path, tmp_path: Path) -> None:
    first = tiny_run  # read only: refused runs write nothing
    result = refused_run(
        tmp_path / "second", *TINY, f"resume={first}", "env.id=MountainCarContinuous-v0"
    )
    assert result.returncode == 2
    assert "checkpoint is for env Pendulum-v1" in result.stderr
    assert "add env=Pendulum-v1 " in result.stderr  # its config file, not a bare env.id=


def test_resume_needs_a_replay_buffer(tiny_run: Path, tmp_path: Path) -> None:
    first = tiny_run  # read only: refused runs write nothing
    result = refused_run(tmp_path / "second", *TINY, f"resume={first / 'best.pt'}")
    assert result.returncode == 2
    assert "holds no replay buffer" in result.stderr
    assert "Traceback" not in result.stderr


def test_resume_with_other_network_sizes_fails_cleanly(tiny_run: Path, tmp_path: Path) -> None:
    first = tiny_run  # read only: refused runs write nothing
    result = refused_run(
        tmp_path / "second", *TINY, f"resume={first}", "agent.hidden_sizes=[16,16]"
    )
    assert result.returncode == 2
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and "cannot resume from" in error_lines[0]
    assert "Traceback" not in result.stderr
