"""The config surface, tried by the hundred (hypothesis): a random invalid value of any checked
key is refused with one line naming the key, before anything runs (and through train.py itself:
exit status 2, one `error:` line, never a traceback); random valid configs train to the end."""

from __future__ import annotations

import contextlib
import io
import math
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException
from sac_test_support import (
    examples,
    one_torch_thread,
    train_in_process,
    train_main_in_process,
)

from agents.checkpoint import kept_checkpoints, load_checkpoint
from configs import CONFIG_DIR
from configs.schema import TrainConfig
from runner.config_store import register_configs
from runner.errors import ConfigError
from runner.hydra_errors import one_line
from runner.validation import validate

register_configs()
with initialize_config_dir(version_base=None, config_dir=str(CONFIG_DIR)):
    BASE = compose("config", overrides=["env=Pendulum-v1", "wandb.mode=disabled"])


def _words(valid: set[str]) -> st.SearchStrategy[str]:
    return st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True).filter(lambda w: w not in valid)


_NOT_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])
_AT_LEAST_ONE = (
    "total_steps", "num_envs", "log_every", "eval.episodes", "eval.num_envs",
    "eval.objective_evals", "checkpoint.keep", "torch_threads", "agent.batch_size",
    "agent.buffer_size", "agent.num_critics", "agent.actor_update_every",
)  # fmt: skip
_AT_LEAST_ZERO = ("learning_starts", "eval.every", "checkpoint.every")
_POSITIVE = ("agent.actor_lr", "agent.critic_lr", "agent.alpha_lr", "agent.init_alpha", "agent.utd")
_INTEGER_KEYS = _AT_LEAST_ONE + _AT_LEAST_ZERO + ("seed",)

INVALID: st.SearchStrategy[tuple[str, Any]] = st.one_of(
    st.tuples(st.sampled_from(_AT_LEAST_ONE), st.integers(max_value=0)),
    st.tuples(st.sampled_from(_AT_LEAST_ZERO), st.integers(max_value=-1)),
    st.tuples(st.sampled_from(_POSITIVE), st.floats(max_value=0.0) | _NOT_FINITE),
    st.tuples(
        st.sampled_from(("agent.gamma", "agent.tau")),
        st.floats(min_value=1.0, exclude_min=True) | st.floats(max_value=0.0, exclude_max=True)
        | _NOT_FINITE,
    ),
    st.tuples(st.just("exploration.noise_beta"), st.floats(max_value=0, exclude_max=True)
              | _NOT_FINITE),  # fmt: skip
    st.tuples(st.just("seed"), st.integers(max_value=-1) | st.integers(min_value=2**62)),
    st.tuples(st.just("device"), _words({"auto", "cpu", "cuda"})),
    st.tuples(st.just("wandb.mode"), _words({"auto", "online", "offline", "disabled"})),
    st.tuples(st.just("checkpoint.on_error"), _words({"stop", "warn"})),
    st.tuples(st.just("agent.update_backend"), _words({"manual", "autograd"})),
    st.tuples(st.just("agent.hidden_sizes"),
              st.lists(st.integers(max_value=0), min_size=1, max_size=3) | st.just([])),
    st.tuples(st.sampled_from(_INTEGER_KEYS), _words(set())),  # a word where a number goes
)  # fmt: skip


def _refusal(key: str, value: Any) -> tuple[str, str]:
    """The key an invalid `key=value` is refused for, and the line that says why."""
    config = BASE.copy()
    try:
        OmegaConf.update(config, key, value, merge=True)  # the schema's type check
        validate(OmegaConf.to_object(config))
    except ConfigError as error:  # its message names the key
        return (key if key in str(error) else "(not named)"), str(error)
    except OmegaConfBaseException as error:  # train.py adds "Error merging override key=..."
        return str(error.full_key), one_line(error)
    raise AssertionError(f"{key}={value!r} was accepted")


@settings(max_examples=examples(300), deadline=None)
@given(INVALID)
def test_any_invalid_value_is_refused_in_one_line_naming_its_key(invalid: tuple[str, Any]) -> None:
    key, value = invalid
    refused_key, message = _refusal(key, value)
    assert "\n" not in message and message.strip()
    assert refused_key == key, message


def _override(key: str, value: Any) -> str:
    """`key=value` as typed on a command line (Hydra reads nan, inf and -inf as floats)."""
    text = "[" + ",".join(map(str, value)) + "]" if isinstance(value, list) else str(value)
    return f"{key}={text}"


@settings(max_examples=examples(20), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(INVALID)
def test_train_py_refuses_invalid_values_with_exit_2_and_one_line(
    tmp_path_factory: pytest.TempPathFactory, invalid: tuple[str, Any]
) -> None:
    run_dir = tmp_path_factory.mktemp("run")
    code, err = train_main_in_process(run_dir, "wandb.mode=disabled", _override(*invalid))
    assert code == 2, err
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        err.rstrip().splitlines()[-1]
    ]
    assert not (run_dir / "metrics.jsonl").exists()  # refused before anything ran


VALID = st.fixed_dictionaries(
    {
        "env": st.sampled_from(["Pendulum-v1", "MountainCarContinuous-v0"]),
        "num_envs": st.integers(1, 3),
        "total_steps": st.integers(1, 60),
        "learning_starts": st.integers(0, 40),
        "log_every": st.integers(1, 30),
        "eval.every": st.integers(0, 40),
        "checkpoint.every": st.integers(0, 40),
        "checkpoint.keep": st.integers(1, 3),
        "exploration.noise_beta": st.sampled_from([0.0, 0.5, 1.0, 2.0]),
        "exploration.uniform_warmup": st.booleans(),
        "agent.batch_size": st.integers(1, 16),
        "agent.buffer_size": st.integers(1, 100),
        "agent.hidden_sizes": st.lists(st.integers(1, 8), min_size=1, max_size=2),
        "agent.num_critics": st.integers(1, 3),
        "agent.utd": st.sampled_from([0.25, 0.5, 1.0, 2.0]),
        "agent.actor_update_every": st.integers(1, 3),
        "agent.gamma": st.floats(0.0, 1.0),
        "agent.tau": st.floats(0.0, 1.0),
        "agent.actor_lr": st.floats(1e-5, 1e-2),
        "agent.init_alpha": st.floats(0.01, 2.0),
        "agent.learn_alpha": st.booleans(),
        "agent.normalize_obs": st.booleans(),
        "agent.update_backend": st.sampled_from(["manual", "autograd"]),
    }
)


@settings(max_examples=examples(30), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(VALID)
def test_random_valid_configs_train_to_the_end(
    tmp_path_factory: pytest.TempPathFactory, values: dict[str, Any]
) -> None:
    config = BASE.copy()
    for key, value in values.items():
        if key != "env":
            OmegaConf.update(config, key, value, merge=True)
    OmegaConf.update(config, "env.id", values["env"])
    OmegaConf.update(config, "eval.episodes", 1)
    cfg: TrainConfig = OmegaConf.to_object(config)
    run_dir = tmp_path_factory.mktemp("run")
    with one_torch_thread(), contextlib.redirect_stderr(io.StringIO()):
        summary = train_in_process(cfg, run_dir)
    steps = summary["total_steps"]
    assert cfg.total_steps <= steps < cfg.total_steps + cfg.num_envs
    assert math.isfinite(summary["eval_return_mean"])
    assert load_checkpoint(run_dir / "model.pt")["step"] == steps
    assert 1 <= len(kept_checkpoints(run_dir)) <= cfg.checkpoint.keep
