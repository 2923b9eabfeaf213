"""train.py end to end, as a user runs it: a subprocess with real Hydra, envs and wandb."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from optional_extras import require_extra

import train
from agents import SACAgent, SACConfig
from agents.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from agents.noise import ColoredNoise
from configs.schema import CheckpointConfig, EnvConfig, EvalConfig, TrainConfig, WandbConfig
from envs import EnvError
from train import ConfigError

REPO = Path(__file__).resolve().parents[1]
TINY = [  # a few hundred steps of a small agent: seconds, not minutes
    "env=Pendulum-v1",
    "total_steps=300",
    "learning_starts=100",
    "eval.every=0",
    "eval.episodes=2",
    "agent.hidden_sizes=[32,32]",
    "agent.batch_size=32",
    "wandb.mode=disabled",
]


def run_train(
    run_dir: Path, *overrides: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "WANDB_DIR": str(run_dir.parent),
        "WANDB_CACHE_DIR": str(run_dir.parent),
        "WANDB_CONFIG_DIR": str(run_dir.parent),
        "WANDB_DATA_DIR": str(run_dir.parent),
        **(env or {}),
    }
    result = subprocess.run(
        [sys.executable, "train.py", f"hydra.run.dir={run_dir}", *overrides],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


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


def test_resume_continues_from_saved_step(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    run_train(first, *TINY)
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
    again = run_train(first, *TINY, f"resume={first}", check=False)
    assert again.returncode == 2
    assert again.stderr.rstrip().splitlines()[-1] == (
        f"error: {first} already finished at step 300 (summary.json); "
        "set total_steps above 300 to train on"
    )
    assert (first / "summary.json").read_bytes() == summary_before


@pytest.mark.parametrize(
    ("num_envs", "utd", "updates"),
    [
        (2, "0.5", 100),  # 1 update per vector step; (300 - 100) / 2 vector steps
        (1, "0.25", 50),  # fractions carried over steps: one update every 4th step
        (2, "0.75", 150),  # 1.5 per vector step
        (1, "0.1", 20),  # ten 0.1s sum to 0.999... in floats: 19 before the fix
    ],
)
def test_utd_counts_updates_over_all_envs(
    tmp_path: Path, num_envs: int, utd: str, updates: int
) -> None:
    run_dir = tmp_path / "run"
    run_train(run_dir, *TINY, f"num_envs={num_envs}", f"agent.utd={utd}")
    assert json.loads((run_dir / "summary.json").read_text())["updates"] == updates


def test_actor_metrics_logged_when_the_logging_step_updates_critics_only(tmp_path: Path) -> None:
    """With actor_update_every=2 the update at steps 200 and 300 is a critic-only one; the
    actor, entropy and alpha charts were never logged at all."""
    run_dir = tmp_path / "run"
    run_train(run_dir, *TINY, "agent.actor_update_every=2", "log_every=100")
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    train_lines = {line["step"]: line for line in lines if "time/updates" in line}
    assert sorted(train_lines) == [100, 200, 300]
    keys = ("critic_loss", "q_mean", "alpha", "actor_loss", "entropy", "alpha_loss")
    for step in (200, 300):
        assert {f"train/{key}" for key in keys} <= train_lines[step].keys(), step
    assert train_lines[300]["train/actor_loss"] != train_lines[200]["train/actor_loss"]


def test_resumed_runs_reset_apart_from_eval_and_first_episodes() -> None:
    """A resume at step S reset the training envs with seed + S: at S = 10,000 - i sub-env i
    replayed the eval episodes (seed + eval.seed_offset), which are meant to be held out."""
    offset, spread = EvalConfig().seed_offset, 16
    for seed in (0, 1, 7, 2**40):
        eval_seed = seed + offset
        assert train.reset_seed(seed, 0, eval_seed, spread) == seed  # a new run: the seed itself
        held = {seed + i for i in range(spread)} | {eval_seed + i for i in range(spread)}
        steps = [*range(1, 2 * offset, 7), offset]
        seeds = [train.reset_seed(seed, step, eval_seed, spread) for step in steps]
        assert all(s >= 0 and s + spread <= 2**32 for s in seeds)  # shimmy's limit
        assert not held & {s + i for s in seeds for i in range(spread)}
        assert len(set(seeds)) == len(seeds)  # and apart from each other
    # A seed that lands next to the eval seeds is drawn again.
    taken = train.reset_seed(0, 500, offset, spread)
    assert abs(train.reset_seed(0, 500, taken, spread) - taken) >= spread


def test_resumed_dm_control_envs_accept_the_reset_seed() -> None:
    """shimmy's DeepMind Control envs seed a numpy RandomState (< 2**32): a 62-bit resume seed
    failed every dm_control resume with a traceback."""
    require_extra("dm_control")
    from envs import make_vector_env

    envs = make_vector_env("dm_control/cartpole-swingup-v0", 2, "sync")
    try:
        for step in (1, 10_000, 123_456_789):
            obs, _ = envs.reset(seed=train.reset_seed(0, step, 10_000, 2))
            assert obs.shape[0] == 2 and np.isfinite(obs).all()
    finally:
        envs.close()


def test_on_step_callback_ends_training_early(tmp_path: Path) -> None:
    """`Trainer.train(on_step=...)`, the hook benchmarks/ times train.py's own loop with: it sees
    every env step after that step's update, and True stops the run there, final eval and
    model files included."""
    cfg = _tiny_config()
    trainer = train.Trainer(cfg, {}, tmp_path)
    seen: list[tuple[int, int]] = []

    def on_step(step: int) -> bool:
        seen.append((step, trainer.agent.num_updates))
        return step == 150

    logger = train.RunLogger(tmp_path, cfg, {})
    try:
        summary = trainer.train(logger, on_step=on_step)
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


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["env.id=Pendulm-v1"], "unknown Gymnasium env id 'Pendulm-v1'; did you mean Pendulum-v1"),
        (["env.id=CartPole-v1"], "SAC needs a continuous Box action space"),
        (["total_steps=0"], "total_steps must be >= 1"),
        (["agent.batch_size=0"], "agent.batch_size must be > 0"),
        (["agent.hidden_sizes=[]"], "agent.hidden_sizes"),
        (["resume=/nonexistent/run"], "no checkpoint at /nonexistent/run"),
        (["env.max_episode_steps=0"], "max_episode_steps must be >= 1"),
        (["env=custom"], "env.id must be set"),
        (["device=cuda"] if not torch.cuda.is_available() else ["device=tpu"], "device"),
        (["+env.kwargs.no_such_arg=1"], "bad env kwargs ['no_such_arg']"),
        (["exploration.noise_beta=-1"], "exploration.noise_beta must be >= 0"),
        (["agent.update_backend=jax"], "agent.update_backend must be manual or autograd"),
        # accepted by Pendulum's constructor, fails at its first step: caught before the run
        (["+env.kwargs.g=abc"], "reset and step failed: TypeError"),
        (["exploration.noise_beta=1", "env.max_episode_steps=1"], "colored noise needs"),
        # 4e16 bytes: more than any address space, whatever the OS's overcommit setting
        (["agent.hidden_sizes=[1,10000000000000000]"], "does not fit in memory on cpu"),
        (["resume="], "resume= is empty"),
    ],
)
def test_bad_input_fails_with_one_line(tmp_path: Path, overrides: list[str], message: str) -> None:
    result = run_train(tmp_path / "run", *TINY, *overrides, check=False)
    assert result.returncode != 0
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1, result.stderr
    assert message in error_lines[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()  # no empty run directory left behind


def test_only_a_run_file_with_content_marks_a_run_dir(tmp_path: Path) -> None:
    """metrics.jsonl is created before W&B starts: a start stopped there leaves it empty, and
    the same command must still run in that dir; one line of metrics is a run's."""
    (tmp_path / "metrics.jsonl").write_text("")
    train.refuse_used_run_dir(tmp_path, resume=None)
    (tmp_path / "metrics.jsonl").write_text('{"step": 1}\n')
    with pytest.raises(ConfigError, match=r"already holds a run \(metrics.jsonl\)"):
        train.refuse_used_run_dir(tmp_path, resume=None)


def test_batch_too_large_for_memory_is_one_line_and_keeps_the_checkpoint(tmp_path: Path) -> None:
    """A batch that cannot be allocated fails at the first update (after learning_starts): one
    error line naming agent.batch_size, the checkpoint of the steps collected kept."""
    run_dir = tmp_path / "run"
    result = run_train(run_dir, *TINY, "agent.batch_size=100000000000000", check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1
    assert (
        "agent.batch_size=100000000000000 with agent.hidden_sizes=[32, 32] does not fit"
        in (error_lines[0])
    )
    assert load_checkpoint(run_dir)["step"] == 101


def test_cli_warnings_are_one_plain_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """gymnasium colours its warnings for a terminal: the CLI line drops the escape codes."""
    monkeypatch.setattr(warnings, "formatwarning", warnings.formatwarning)  # restored after
    train.plain_warnings()
    line = warnings.formatwarning("\x1b[33mWARN: g is NaN\x1b[0m", UserWarning, "env.py", 7)
    assert line == "warning: WARN: g is NaN\n"


def test_custom_env_without_id_in_default_run_dir(tmp_path: Path) -> None:
    """The default run dir names the env id: without one it was a Hydra traceback."""
    result = subprocess.run(
        [sys.executable, str(REPO / "train.py"), "env=custom"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.stderr.splitlines()[-1] == "error: env.id must be set, e.g. env.id=<value>"
    assert not list((tmp_path / "runs").glob("*/*"))  # its empty run dir was removed


def test_what_hydra_refuses_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """An `env=` naming no config file was Hydra's 20-line report and exit 1; now one line and
    exit 2 like every other bad input, with no run dir. HYDRA_FULL_ERROR=1 still gets Hydra's
    traceback."""
    command = [sys.executable, str(REPO / "train.py"), "env=pendulum"]
    plain_env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    result = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=300, env=plain_env
    )
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: no env config 'pendulum'")
    assert "did you mean Pendulum-v1?" in errors[0]
    for text in ("Traceback", "Available options", "HYDRA_FULL_ERROR"):
        assert text not in result.stderr
    assert not (tmp_path / "runs").exists()

    full = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**plain_env, "HYDRA_FULL_ERROR": "1"},
    )  # fmt: skip
    assert full.returncode == 1 and "MissingConfigException" in full.stderr

    # A run dir that is a file: Hydra's mkdir fails before the job (was a traceback, exit 1).
    (tmp_path / "a_file").write_text("kept")
    as_file = subprocess.run(
        [*command[:2], "env=Pendulum-v1", f"hydra.run.dir={tmp_path / 'a_file'}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env=plain_env,
    )  # fmt: skip
    assert as_file.returncode == 2 and "Traceback" not in as_file.stderr, as_file.stderr[-2000:]
    assert (
        as_file.stderr.splitlines()[-1]
        == f"error: cannot create {tmp_path / 'a_file'}: File exists"
    )
    assert (tmp_path / "a_file").read_text() == "kept"

    # A value the config cannot resolve fails inside the job: the same one line, no run dir.
    resolver = subprocess.run(
        [*command[:2], "env=Pendulum-v1", "+note=${no_such_resolver:1}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env=plain_env,
    )  # fmt: skip
    assert resolver.returncode == 2, resolver.stderr[-2000:]
    last_line = resolver.stderr.splitlines()[-1]
    assert last_line == "error: Unsupported interpolation type no_such_resolver"
    assert "Traceback" not in resolver.stderr and not list((tmp_path / "runs").glob("*/*"))


def _tiny_config(**changes: object) -> TrainConfig:
    """TINY as a TrainConfig, for a Trainer in-process."""
    fields = dict(
        env=EnvConfig(id="Pendulum-v1"),
        agent=SACConfig(hidden_sizes=[32, 32], batch_size=32),
        eval=EvalConfig(every=0, episodes=1),
        wandb=WandbConfig(mode="disabled"),
        total_steps=300,
        learning_starts=100,
        progress=False,
    )
    return TrainConfig(**(fields | changes))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # inf updates per step never finish; inf or NaN elsewhere trains to NaN and exits 0
        (lambda c: setattr(c.agent, "utd", float("inf")), "agent.utd must be a finite number"),
        (lambda c: setattr(c.agent, "actor_lr", float("inf")), "agent.actor_lr must be a finite"),
        (lambda c: setattr(c.agent, "init_alpha", float("inf")), "agent.init_alpha must be a fin"),
        (lambda c: setattr(c.agent, "target_entropy", float("nan")), "agent.target_entropy must"),
        (lambda c: setattr(c.agent, "log_std_max", float("inf")), "agent.log_std_max must be a"),
        (lambda c: setattr(c.exploration, "noise_beta", float("nan")), "noise_beta must be finite"),
        (lambda c: setattr(c, "seed", -1), "seed must be in [0, 2**62), got -1"),
        (lambda c: setattr(c, "seed", 10**20), "seed must be in [0, 2**62)"),
        (lambda c: setattr(c.eval, "seed_offset", -10_000), "seed + eval.seed_offset must be in"),
        # resume=$RUN with RUN unset trained from scratch, silently
        (lambda c: setattr(c, "resume", ""), "resume= is empty"),
        (lambda c: setattr(c.eval, "num_envs", 3), "eval.num_envs=3 must be <= eval.episodes=1"),
        (lambda c: c.env.kwargs.update(max_episode_steps=5), "use env.max_episode_steps"),
        (lambda c: c.env.kwargs.update(render_mode="rgb_array"), "use eval.video=true"),
    ],
)
def test_validate_refuses_values_that_would_fail_mid_run(change, message: str) -> None:
    """Each of these passed validation before and then hung, crashed mid-run with a traceback,
    or trained to NaN (found by a review probing the CLI)."""
    from train import ConfigError, validate

    cfg = _tiny_config()
    validate(cfg)  # the unchanged config is fine
    change(cfg)
    with pytest.raises(ConfigError) as raised:
        validate(cfg)
    assert message in str(raised.value)


def test_run_dir_of_another_run_is_refused_and_kept(tmp_path: Path) -> None:
    """A second run into a run dir (same hydra.run.dir, or two runs started in the same second)
    would overwrite its checkpoints; only a resume of that run may continue there."""
    run_dir = tmp_path / "run"
    run_train(run_dir, *TINY)
    kept = [run_dir / name for name in ("checkpoint.pt", "metrics.jsonl", ".hydra/config.yaml")]
    before = [path.read_bytes() for path in kept]
    assert b"seed: 0" in before[2]  # train.py writes .hydra/ itself, after its checks

    again = run_train(run_dir, *TINY, "seed=7", check=False)
    assert again.returncode == 2 and "Traceback" not in again.stderr
    assert f"error: {run_dir} already holds a run" in again.stderr
    short = run_train(run_dir, *TINY, f"resume={run_dir}", "total_steps=200", check=False)
    assert short.returncode == 2
    assert "checkpoint is at step 300, beyond total_steps=200" in short.stderr
    assert [path.read_bytes() for path in kept] == before

    run_train(run_dir, *TINY, f"resume={run_dir}", "total_steps=400")
    assert load_checkpoint(run_dir)["step"] == 400

    # Its large checkpoint.pt deleted, the dir still holds a run: model, summary, metrics.
    (run_dir / "checkpoint.pt").unlink()
    kept = [run_dir / name for name in ("model.pt", "summary.json", "metrics.jsonl")]
    before = [path.read_bytes() for path in kept]
    without = run_train(run_dir, *TINY, "seed=7", check=False)
    assert without.returncode == 2 and "Traceback" not in without.stderr
    assert "it has no checkpoint.pt to resume" in without.stderr
    assert [path.read_bytes() for path in kept] == before


def test_failing_final_eval_still_leaves_the_checkpoint(tmp_path: Path) -> None:
    """The final evaluation (and its video) runs after the loop; an error there used to skip the
    crash save, losing the whole run."""
    saved_config = {"env": {"id": "Pendulum-v1"}}  # what a resume checks the env against
    trainer = train.Trainer(_tiny_config(total_steps=150), saved_config, tmp_path)

    def broken_eval() -> dict:
        raise RuntimeError("eval env broke")

    trainer.run_eval = broken_eval
    logger = train.RunLogger(tmp_path, trainer.cfg, {})
    try:
        with pytest.raises(RuntimeError, match="eval env broke"):
            trainer.train(logger)
    finally:
        logger.close({})
        trainer.close()
    saved = load_checkpoint(tmp_path)
    assert saved["step"] == 150 and saved["buffer"]["size"] > 0
    # Resuming it finishes the run: no more steps, the final eval, model files and summary.
    finish_dir = tmp_path / "finish"
    finish_dir.mkdir()
    trainer = train.Trainer(_tiny_config(total_steps=150, resume=str(tmp_path)), {}, finish_dir)
    logger = train.RunLogger(finish_dir, trainer.cfg, {})
    try:
        summary = trainer.train(logger)
    finally:
        logger.close({})
        trainer.close()
    assert summary["total_steps"] == 150 and summary["updates"] == saved["agent"]["num_updates"]
    assert (finish_dir / "model.pt").exists() and summary["eval_episodes"] == 1


def test_resume_keeps_a_best_model_newer_than_the_checkpoint(tmp_path: Path) -> None:
    """After a hard kill best.pt can hold a better eval than checkpoint.pt knows of; the resumed
    run took the checkpoint's figure, and its next (worse) eval replaced the best model."""
    first = tmp_path / "first"
    run_train(first, *TINY)
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


def test_resume_ignores_another_envs_best_model_beside_the_checkpoint(tmp_path: Path) -> None:
    """resume=<checkpoint file> in a folder whose best.pt is another env's: not that run's best."""
    first = tmp_path / "first"
    run_train(first, *TINY)
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


def test_run_without_updates_is_warned_about(tmp_path: Path, capsys) -> None:
    for learning_starts, warned in ((100, False), (300, True)):
        cfg = _tiny_config(learning_starts=learning_starts)
        train.Trainer(cfg, {}, tmp_path / str(learning_starts)).close()
        assert ("no gradient update will run" in capsys.readouterr().err) == warned


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
    assert errors[-1].startswith("error: sweep jobs #0 failed")
    assert "Traceback" not in result.stderr
    (valid,) = [d for d in tmp_path.iterdir() if (d / "summary.json").exists()]
    assert json.loads((valid / "summary.json").read_text())["total_steps"] == 300
    again = sweep()  # the same sweep again: its job dirs are taken
    assert again.returncode == 2
    assert f"error: {valid} already holds a run" in again.stderr
    assert "choose another hydra.sweep.dir or add resume=" in again.stderr


def test_misspelled_override_fails_before_writing(tmp_path: Path) -> None:
    result = run_train(tmp_path / "run", *TINY, "agent.batch_sizee=8", check=False)
    assert result.returncode != 0
    assert "batch_sizee" in result.stderr
    assert not (tmp_path / "run").exists()


def _garbage_files() -> dict[str, bytes]:
    """Files that are not checkpoints. Each fails inside torch.load in its own way: an
    UnpicklingError, an IndexError from the unpickler's stack (a line of text), an EOFError."""
    rng = np.random.default_rng(0)
    return {
        "bytes": b"definitely not a checkpoint",
        "text": b"root:x:0:0:root:/root:/bin/bash\n",
        "empty": b"",
        **{f"random{i}": rng.integers(0, 256, 64, dtype=np.uint8).tobytes() for i in range(20)},
    }


def test_every_unreadable_file_is_one_checkpoint_error(tmp_path: Path) -> None:
    for name, content in _garbage_files().items():
        path = tmp_path / f"{name}.pt"
        path.write_bytes(content)
        with pytest.raises(CheckpointError) as raised:
            load_checkpoint(path)
        message = str(raised.value)
        assert "is corrupt or not a checkpoint" in message and "\n" not in message, name
        assert "weights_only" not in message, name  # not torch's advice to unpickle unsafely


@pytest.mark.parametrize("content", [b"definitely not a checkpoint", b"root:x:0:0:root:/root\n"])
def test_corrupt_checkpoint_is_reported_and_kept(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(content)
    result = run_train(tmp_path / "run", *TINY, f"resume={bad}", check=False)
    assert result.returncode != 0
    assert "is corrupt or not a checkpoint" in result.stderr
    assert "Traceback" not in result.stderr
    assert bad.read_bytes() == content


def test_resume_with_checkpoint_of_other_env_fails(tmp_path: Path) -> None:
    first = tmp_path / "first"
    run_train(first, *TINY)
    result = run_train(
        tmp_path / "second",
        *TINY,
        f"resume={first}",
        "env.id=MountainCarContinuous-v0",
        check=False,
    )
    assert result.returncode != 0
    assert "checkpoint is for env Pendulum-v1" in result.stderr
    assert "add env=Pendulum-v1 " in result.stderr  # its config file, not a bare env.id=


def test_wandb_offline_run_is_written(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_train(run_dir, *[o for o in TINY if not o.startswith("wandb.")], "wandb.mode=offline")
    run_files = list((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(run_files) == 1 and run_files[0].stat().st_size > 0


def test_missing_wandb_is_one_line_error_unless_disabled(tmp_path: Path) -> None:
    """Seen on a machine whose image lacked wandb: a traceback from inside the run. A package
    that shadows it and fails to import stands in for the missing one."""
    shadow = tmp_path / "shadow" / "wandb"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError(\"No module named 'wandb'\")\n")
    env = {"PYTHONPATH": os.pathsep.join([str(shadow.parent), os.environ.get("PYTHONPATH", "")])}
    offline = [o for o in TINY if not o.startswith("wandb.")] + ["wandb.mode=offline"]
    result = run_train(tmp_path / "offline", *offline, check=False, env=env)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and "wandb.mode=disabled" in error_lines[0]
    leftovers = list((tmp_path / "offline").glob("*"))  # refused before writing anything
    assert not any(p.name in ("metrics.jsonl", ".hydra", "checkpoint.pt") for p in leftovers)
    run_train(tmp_path / "disabled", *TINY, env=env)  # TINY disables wandb: no import at all


def test_env_that_returns_nan_at_once_is_refused_before_the_run(tmp_path: Path) -> None:
    """Pendulum with g=nan returns NaN observations from its first step (training on it gave a
    NaN summary and exit 0): the env check refuses it before the run dir is touched, so an
    in-place resume with it keeps its checkpoint and config as they were."""
    run_dir = tmp_path / "run"
    run_train(run_dir, *TINY)
    kept = [run_dir / name for name in ("checkpoint.pt", ".hydra/config.yaml")]
    before = [path.read_bytes() for path in kept]
    for extra in ([], [f"resume={run_dir}", "total_steps=400"]):
        where = tmp_path / "fresh" if not extra else run_dir
        result = run_train(where, *TINY, "+env.kwargs.g=nan", *extra, check=False)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(error_lines) == 1, result.stderr
        assert "its first reset or step returns NaN, inf or a non-number" in error_lines[0]
    assert not (tmp_path / "fresh").exists()
    assert [path.read_bytes() for path in kept] == before


@pytest.mark.parametrize("normalize_obs", [False, True])
def test_env_that_turns_nan_mid_run_stops_before_the_buffer(
    tmp_path: Path, normalize_obs: bool
) -> None:
    """An env step that returns NaN later in a run stops training with an EnvError before the
    value reaches the observation statistics or the replay buffer; the checkpoint is kept."""
    agent = SACConfig(hidden_sizes=[32, 32], batch_size=32, normalize_obs=normalize_obs)
    trainer = train.Trainer(_tiny_config(agent=agent, total_steps=200), {}, tmp_path)
    step, calls = trainer.envs.step, []

    def poisoned(action: np.ndarray) -> tuple:
        obs, reward, terminated, truncated, info = step(action)
        calls.append(1)
        if len(calls) == 150:
            obs = np.full_like(obs, np.nan)
        return obs, reward, terminated, truncated, info

    trainer.envs.step = poisoned
    logger = train.RunLogger(tmp_path, trainer.cfg, {})
    try:
        with pytest.raises(EnvError, match=r"next_obs holds NaN or inf \(sub-env 0\)"):
            trainer.train(logger)
    finally:
        logger.close({})
        trainer.close()
    saved = load_checkpoint(tmp_path)
    assert saved["step"] == 149 and saved["buffer"]["size"] == 149


def test_nan_in_observation_statistics_is_an_env_error(tmp_path: Path) -> None:
    """A NaN reset observation reaches the observation statistics before any transition check:
    it is the env's fault, reported as the one `error:` line (EnvError), not a traceback."""
    agent = SACConfig(hidden_sizes=[32, 32], batch_size=32, normalize_obs=True)
    trainer = train.Trainer(_tiny_config(agent=agent), {}, tmp_path)
    try:
        with pytest.raises(EnvError, match="the env's observation: observations hold NaN"):
            trainer._observe(np.full((1, 3), np.nan, dtype=np.float32))
    finally:
        trainer.close()


def test_resume_needs_a_replay_buffer(tmp_path: Path) -> None:
    first = tmp_path / "first"
    run_train(first, *TINY)
    result = run_train(tmp_path / "second", *TINY, f"resume={first / 'best.pt'}", check=False)
    assert result.returncode != 0
    assert "holds no replay buffer" in result.stderr
    assert "Traceback" not in result.stderr


def test_resume_with_other_network_sizes_fails_cleanly(tmp_path: Path) -> None:
    first = tmp_path / "first"
    run_train(first, *TINY)
    result = run_train(
        tmp_path / "second", *TINY, f"resume={first}", "agent.hidden_sizes=[16,16]", check=False
    )
    assert result.returncode != 0
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and "cannot resume from" in error_lines[0]
    assert "Traceback" not in result.stderr


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


def stored_action_lag1(run_dir: Path) -> float:
    buffer = load_checkpoint(run_dir / "checkpoint.pt")["buffer"]
    actions = buffer["storage"]["action"][:, 0].numpy()
    return float(np.corrcoef(actions[:-1], actions[1:])[0, 1])


def test_pink_exploration_noise_correlates_the_actions_taken(tmp_path: Path) -> None:
    """Acting with pink eps from step 0 (no uniform warm-up) stores correlated actions."""
    policy_from_start = ["exploration.uniform_warmup=false", "learning_starts=300"]
    run_train(tmp_path / "white", *TINY, *policy_from_start)
    run_train(tmp_path / "pink", *TINY, *policy_from_start, "exploration.noise_beta=1.0")
    white, pink = stored_action_lag1(tmp_path / "white"), stored_action_lag1(tmp_path / "pink")
    assert pink > 0.5
    assert pink > white + 0.3


def test_each_episode_acts_with_a_fresh_noise_sequence_from_its_start(tmp_path: Path) -> None:
    """Recover eps = (atanh(a) - mu) / sigma from the stored actions of an untrained policy and
    compare with the noise drawn in the documented order: a sequence's position 0 goes to an
    episode's first real action, not to the ignored autoreset step before it."""
    run_dir = tmp_path / "run"
    run_train(run_dir, *TINY, "total_steps=20", "learning_starts=1000", "env.max_episode_steps=3",
              "exploration.uniform_warmup=false", "exploration.noise_beta=1.0")  # fmt: skip
    payload = load_checkpoint(run_dir / "checkpoint.pt")
    storage = payload["buffer"]["storage"]
    agent = SACAgent(3, 1, SACConfig(hidden_sizes=(32, 32)), "cpu")
    agent.load_state_dict(payload["agent"])  # no updates ran: this is the policy that acted
    with torch.no_grad():
        dist = agent.actor(storage["obs"])
        eps = (torch.atanh(storage["action"].double()) - dist.mean) / dist.log_std.exp()
    noise, ended, expected = ColoredNoise(1.0, 1, 1, length=3, seed=[0, 1, 0]), False, []
    for step in range(20):  # 3 steps per episode, then one autoreset step that is not stored
        drawn = noise()[0, 0]
        if step % 4 != 3:
            expected.append(drawn)
        noise.reset(np.array([ended]))
        ended = step % 4 == 2
    assert len(expected) == len(eps) == 15
    np.testing.assert_allclose(eps[:, 0].numpy(), expected, atol=1e-3)


def _eval_returns_by_step(run_dir: Path) -> dict[int, float]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {row["step"]: row["eval/return_mean"] for row in rows if "eval/return_mean" in row}


def test_best_model_is_the_best_eval(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_train(run_dir, *TINY, "eval.every=100", "log_every=100")
    evals = _eval_returns_by_step(run_dir)
    assert sorted(evals) == [100, 200, 300]
    best_step = max(evals, key=evals.__getitem__)
    best = load_checkpoint(run_dir / "best.pt")
    assert best["step"] == best_step and best["eval"]["return_mean"] == evals[best_step]
    saved = load_checkpoint(run_dir)
    assert (saved["best_eval_step"], saved["best_eval_return"]) == (best_step, evals[best_step])


def test_best_model_kept_on_ties_and_resume_restores_rng_and_best(tmp_path: Path) -> None:
    """No update runs (learning_starts = total_steps), so all three evals score the same: the
    first stays the best (a best.pt overwritten at every eval would hold step 300). A resume
    restores that best and the torch and numpy generator states."""
    run_dir = tmp_path / "run"
    run_train(run_dir, *TINY, "eval.every=100", "log_every=100", "learning_starts=300")
    assert len(set(_eval_returns_by_step(run_dir).values())) == 1
    assert load_checkpoint(run_dir / "best.pt")["step"] == 100
    saved = load_checkpoint(run_dir)
    torch.manual_seed(12345)  # not the saved state
    trainer = train.Trainer(_tiny_config(total_steps=400, resume=str(run_dir)), {}, tmp_path / "r")
    try:
        assert torch.equal(torch.get_rng_state(), saved["rng"]["torch"])
        assert trainer.np_rng.bit_generator.state == saved["rng"]["numpy"]
        assert (trainer.best_eval_step, trainer.best_eval_return) == (
            100,
            saved["eval"]["return_mean"],
        )
    finally:
        trainer.close()


def test_resumed_run_keeps_the_best_model_so_far(tmp_path: Path) -> None:
    """Resumed into a new dir, with no eval beating the saved best (no updates: all tie), the
    new dir still holds best.pt, the original run's best (W&B's `best` artifact needs it)."""
    first, second = tmp_path / "first", tmp_path / "second"
    evals = ["eval.every=100", "log_every=100", "learning_starts=400"]
    run_train(first, *TINY, *evals)
    run_train(second, *TINY, *evals, f"resume={first}", "total_steps=400")
    assert load_checkpoint(second / "best.pt")["step"] == 100
    assert load_checkpoint(second)["best_eval_step"] == 100


def test_checkpoint_every_saves_on_schedule(tmp_path: Path) -> None:
    cfg = _tiny_config(checkpoint=CheckpointConfig(every=100))
    trainer = train.Trainer(cfg, {}, tmp_path)
    saved_steps: dict[int, int] = {}

    def on_step(step: int) -> bool:
        if step in (50, 150, 250):  # read mid-run: the final save overwrites the file
            path = tmp_path / "checkpoint.pt"
            saved_steps[step] = load_checkpoint(tmp_path)["step"] if path.exists() else -1
        return False

    logger = train.RunLogger(tmp_path, cfg, {})
    try:
        trainer.train(logger, on_step=on_step)
    finally:
        logger.close({})
        trainer.close()
    assert saved_steps == {50: -1, 150: 100, 250: 200}


def test_checkpoint_without_buffer_is_small_and_not_resumable(tmp_path: Path) -> None:
    with_buffer, without = tmp_path / "with", tmp_path / "without"
    run_train(with_buffer, *TINY)
    run_train(without, *TINY, "checkpoint.save_buffer=false")
    assert load_checkpoint(without)["buffer"] is None
    assert load_checkpoint(with_buffer)["buffer"]["size"] == 299  # step 201 only resets
    result = run_train(tmp_path / "resumed", *TINY, f"resume={without}", check=False)
    assert result.returncode != 0 and "holds no replay buffer" in result.stderr


def test_uniform_warmup_ends_exactly_at_learning_starts(tmp_path: Path) -> None:
    """learning_starts counts env steps over all envs: with 2 envs the vector step at env step
    98 still acts uniformly (numpy's stream), the one at 100 with the policy (torch's)."""
    trainer = train.Trainer(_tiny_config(num_envs=2, learning_starts=100), {}, tmp_path)
    obs = np.zeros((2, 3), dtype=np.float32)
    try:
        for step, uniform in ((0, True), (98, True), (100, False), (102, False)):
            trainer.step = step
            expected = np.random.Generator(np.random.PCG64())
            expected.bit_generator.state = trainer.np_rng.bit_generator.state
            action = trainer._act(obs)
            assert action.shape == (2, 1) and action.dtype == np.float32
            drawn = expected.uniform(-1.0, 1.0, (2, 1)).astype(np.float32)
            assert np.array_equal(action, drawn) is uniform, step
            moved = trainer.np_rng.bit_generator.state != expected.bit_generator.state
            assert moved is not uniform, step  # after a uniform draw both streams advanced
    finally:
        trainer.close()


def test_fractional_update_debt_survives_a_resume(tmp_path: Path) -> None:
    """utd=0.25 over steps 101-302 runs 50 updates and owes half of one; resumed to 304 (two
    more quarters) that is the 51st. A resume that dropped the debt ran 50."""
    first, second = tmp_path / "first", tmp_path / "second"
    run_train(first, *TINY, "agent.utd=0.25", "total_steps=302")
    saved = load_checkpoint(first)
    assert saved["agent"]["num_updates"] == 50 and saved["update_debt"] == pytest.approx(0.5)
    run_train(second, *TINY, "agent.utd=0.25", "total_steps=304", f"resume={first}")
    assert json.loads((second / "summary.json").read_text())["updates"] == 51


def test_uniform_warmup_acts_uniformly_before_learning_starts(tmp_path: Path) -> None:
    """Before learning_starts the actions are U(-1, 1) (SB3's and the SAC paper's warm-up), not
    the untrained policy's samples (what `exploration.uniform_warmup=false` stores)."""
    actions = {}
    for warmup in ("true", "false"):
        run_dir = tmp_path / warmup
        run_train(run_dir, *TINY, "learning_starts=300", f"exploration.uniform_warmup={warmup}")
        actions[warmup] = load_checkpoint(run_dir)["buffer"]["storage"]["action"].numpy().ravel()
    uniform = actions["true"]
    assert len(uniform) == 299 and not np.array_equal(uniform, actions["false"])
    assert abs(uniform.mean()) < 0.12 and abs(uniform.std() - 1 / np.sqrt(3)) < 0.06
    assert uniform.min() > -1 and uniform.max() < 1
    assert uniform.min() < -0.95 and uniform.max() > 0.95  # spread over the whole range


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
    plain = train.Trainer(_tiny_config(), {}, tmp_path / "plain")
    wanted = threads + 1  # not the current count, whatever the machine
    compiled = train.Trainer(_tiny_config(compile=True, torch_threads=wanted), {}, tmp_path / "c")
    try:
        assert plain.agent._compiled_step is None
        assert hasattr(compiled.agent._compiled_step, "_torchdynamo_orig_callable")
        assert torch.get_num_threads() == wanted
    finally:
        plain.close()
        compiled.close()
        torch.set_num_threads(threads)
