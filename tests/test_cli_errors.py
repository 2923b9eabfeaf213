"""Bad input to train.py is one `error:` line and exit status 2, never a traceback: config
values, what Hydra refuses, allocations that cannot fit, a missing wandb, envs that return NaN.
Warnings are one plain `warning:` line."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from sac_test_support import REPO, TINY, refused_run, run_train, tiny_config, train_main_in_process

from agents import SACConfig
from agents.checkpoint import load_checkpoint
from envs import EnvError
from runner.errors import ConfigError
from runner.process import plain_warnings
from runner.tracking import RunLogger
from runner.training import Trainer
from runner.validation import validate


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
    """train.py's entry point in this process (a subprocess each cost the suite a minute); the
    tests below and test_config_properties run the real command line."""
    code, stderr = train_main_in_process(tmp_path / "run", *TINY, *overrides)
    assert code == 2, stderr
    error_lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1, stderr
    assert message in error_lines[0]
    assert "Traceback" not in stderr
    assert not (tmp_path / "run").exists()  # no empty run directory left behind


def test_misspelled_override_fails_before_writing(tmp_path: Path) -> None:
    result = run_train(tmp_path / "run", *TINY, "agent.batch_sizee=8", check=False)
    assert result.returncode != 0
    assert "batch_sizee" in result.stderr
    assert not (tmp_path / "run").exists()


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
    or trained to NaN; each must be refused up front, naming the key."""
    cfg = tiny_config()
    validate(cfg)  # the unchanged config is fine
    change(cfg)
    with pytest.raises(ConfigError) as raised:
        validate(cfg)
    assert message in str(raised.value)


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


def test_missing_wandb_is_one_line_error_unless_disabled(tmp_path: Path) -> None:
    """An install without wandb gave a traceback from inside the run; now one line. A package
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
        result = refused_run(where, *TINY, "+env.kwargs.g=nan", *extra)
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
    trainer = Trainer(tiny_config(agent=agent, total_steps=200), {}, tmp_path)
    step, calls = trainer.members[0].envs.step, []

    def poisoned(action: np.ndarray) -> tuple:
        obs, reward, terminated, truncated, info = step(action)
        calls.append(1)
        if len(calls) == 150:
            obs = np.full_like(obs, np.nan)
        return obs, reward, terminated, truncated, info

    trainer.members[0].envs.step = poisoned
    logger = RunLogger(tmp_path, trainer.cfg, {})
    try:
        with pytest.raises(EnvError, match=r"next_obs holds NaN or inf \(sub-env 0\)"):
            trainer.train([logger])
    finally:
        logger.close({})
        trainer.close()
    saved = load_checkpoint(tmp_path)
    assert saved["step"] == 149 and saved["buffer"]["size"] == 149


def test_nan_in_observation_statistics_is_an_env_error(tmp_path: Path) -> None:
    """A NaN reset observation reaches the observation statistics before any transition check:
    it is the env's fault, reported as the one `error:` line (EnvError), not a traceback."""
    agent = SACConfig(hidden_sizes=[32, 32], batch_size=32, normalize_obs=True)
    trainer = Trainer(tiny_config(agent=agent), {}, tmp_path)
    try:
        with pytest.raises(EnvError, match="the env's observation: observations hold NaN"):
            trainer.members[0].observe(np.full((1, 3), np.nan, dtype=np.float32))
    finally:
        trainer.close()


def test_cli_warnings_are_one_plain_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """gymnasium colours its warnings for a terminal: the CLI line drops the escape codes."""
    monkeypatch.setattr(warnings, "formatwarning", warnings.formatwarning)  # restored after
    plain_warnings()
    line = warnings.formatwarning("\x1b[33mWARN: g is NaN\x1b[0m", UserWarning, "env.py", 7)
    assert line == "warning: WARN: g is NaN\n"
