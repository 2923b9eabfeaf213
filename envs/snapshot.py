"""Snapshots of a vector env mid-episode, so that a resumed run steps on exactly as the run it
continues would have: the simulators' state, each env's RNG, the time-limit counters, the
episode statistics and the vector env's autoreset flags.

Gymnasium has no state API (envs are free to keep state anywhere), so the snapshot knows the
parts it takes and refuses the rest: `SnapshotUnsupported` names what it does not know, and the
caller falls back to fresh episodes. Known: the wrappers `make_env` adds, the continuous classic
control envs (their state is a few numbers), Gymnasium's MuJoCo envs (their `MjData`) and
DeepMind Control's through shimmy (an `MjData`, the task's RandomState and step counter). Box2D
worlds cannot be read out this way and are refused.

Everything returned is numpy arrays and Python scalars, so a checkpoint can store it as tensors.
"""

from __future__ import annotations

import time
from numbers import Number
from typing import Any

import gymnasium as gym
import numpy as np


class SnapshotUnsupported(ValueError):
    """This env's state cannot be captured; the message says which part and why."""


# Wrappers that keep no state between steps: nothing to save.
STATELESS_WRAPPERS = (
    gym.wrappers.RescaleAction,
    gym.wrappers.ClipAction,
    gym.wrappers.DtypeObservation,
    gym.wrappers.FlattenObservation,
)
# Wrappers whose state is these attributes.
WRAPPER_STATE = {
    gym.wrappers.TimeLimit: ("_elapsed_steps",),
    gym.wrappers.OrderEnforcing: ("_has_reset",),
}
# Checks an env's first reset and steps once per env; a restored env counts as checked (the run
# it continues ran them), so these wrappers are restored with every check done.
CHECK_ONCE_WRAPPERS = (gym.wrappers.PassiveEnvChecker,)
EPISODE_STATISTICS = ("episode_count", "episode_returns", "episode_lengths", "prev_dones")


def snapshot_vector_env(envs: gym.vector.VectorEnv) -> dict[str, Any]:
    """The state of a `make_vector_env` env (sync, with episode statistics) between steps."""
    statistics, vector = _layers(envs)
    return {
        "statistics": {name: _copy(getattr(statistics, name)) for name in EPISODE_STATISTICS},
        "autoreset": vector._autoreset_envs.copy(),
        "envs": [_snapshot_env(env) for env in vector.envs],
    }


def restore_vector_env(envs: gym.vector.VectorEnv, state: dict[str, Any]) -> None:
    """Put `envs` (built with the same settings) in the state `snapshot_vector_env` returned."""
    statistics, vector = _layers(envs)
    if len(state["envs"]) != len(vector.envs):
        raise SnapshotUnsupported(
            f"the snapshot holds {len(state['envs'])} envs, this vector env {len(vector.envs)}"
        )
    for name in EPISODE_STATISTICS:
        setattr(statistics, name, _copy(state["statistics"][name]))
    # Wall-clock episode times are not part of the run's results; they restart now.
    statistics.episode_start_times = np.full(len(vector.envs), time.perf_counter())
    vector._autoreset_envs = np.array(state["autoreset"], dtype=bool)
    for env, env_state in zip(vector.envs, state["envs"], strict=True):
        _restore_env(env, env_state)


def _layers(envs: gym.vector.VectorEnv) -> tuple[Any, gym.vector.SyncVectorEnv]:
    statistics = envs
    if not isinstance(statistics, gym.wrappers.vector.RecordEpisodeStatistics):
        raise SnapshotUnsupported(f"{type(envs).__name__} is not the episode-statistics wrapper")
    vector = statistics.env
    if not isinstance(vector, gym.vector.SyncVectorEnv):
        # Async envs live in worker processes; their state would have to be fetched by message.
        raise SnapshotUnsupported(f"{type(vector).__name__} envs (only sync ones are read)")
    return statistics, vector


def _snapshot_env(env: gym.Env) -> dict[str, Any]:
    wrappers = []
    while isinstance(env, gym.Wrapper):
        wrappers.append({name: getattr(env, name) for name in _wrapper_fields(env)})
        env = env.env
    return {"wrappers": wrappers, "rng": _rng_state(env), "core": _core_state(env)}


def _restore_env(env: gym.Env, state: dict[str, Any]) -> None:
    for saved in state["wrappers"]:
        if not isinstance(env, gym.Wrapper):
            raise SnapshotUnsupported("the snapshot holds more wrappers than this env has")
        for name, value in saved.items():
            setattr(env, name, value)
        if isinstance(env, CHECK_ONCE_WRAPPERS):
            env.checked_reset = env.checked_step = env.checked_data_reuse = True
            env._previous_data = None
        env = env.env
    if state["rng"] is not None:
        _restore_rng(env, state["rng"])
    _restore_core(env, state["core"])


def _wrapper_fields(wrapper: gym.Wrapper) -> tuple[str, ...]:
    if isinstance(wrapper, STATELESS_WRAPPERS + CHECK_ONCE_WRAPPERS):
        return ()
    for cls, fields in WRAPPER_STATE.items():
        if type(wrapper) is cls:
            return fields
    raise SnapshotUnsupported(f"the wrapper {type(wrapper).__name__} (its state is unknown)")


def _rng_state(env: gym.Env) -> dict[str, Any] | None:
    rng = env._np_random  # None until the env is seeded or asks for its generator
    if rng is None:
        return None
    if isinstance(rng, np.random.RandomState):  # shimmy's dm_control envs: the task's own
        return {"random_state": list(rng.get_state())}
    return rng.bit_generator.state


def _restore_rng(env: gym.Env, state: dict[str, Any]) -> None:
    """Into the env's own generator object when it is of the saved kind (others may hold it),
    else a new one of that kind (an env that was never seeded has none yet)."""
    rng = env._np_random
    if "random_state" in state:
        if not isinstance(rng, np.random.RandomState):
            rng = env._np_random = np.random.RandomState()
        rng.set_state(tuple(state["random_state"]))
        return
    if not isinstance(rng, np.random.Generator) or (
        type(rng.bit_generator).__name__ != state["bit_generator"]
    ):
        rng = env._np_random = np.random.Generator(getattr(np.random, state["bit_generator"])())
    rng.bit_generator.state = state


KINDS = {
    "gymnasium.envs.classic_control": "classic_control",
    "gymnasium.envs.mujoco": "mujoco",
    "shimmy.dm_control_compatibility": "dm_control",
}


def _kind(env: gym.Env) -> str:
    module = type(env).__module__
    for prefix, kind in KINDS.items():
        if module.startswith(prefix):
            return kind
    raise SnapshotUnsupported(
        f"{type(env).__module__}.{type(env).__name__} (only classic control, MuJoCo and "
        "DeepMind Control envs can be saved mid-episode)"
    )


def _core_state(env: gym.Env) -> dict[str, Any]:
    kind = _kind(env)
    if kind == "classic_control":  # their whole state: numbers and arrays (Pendulum: state, u)
        return _numbers(env)
    if kind == "mujoco":
        return _mujoco_state(env.unwrapped.model, env.unwrapped.data)
    inner = env._env  # dm_control's Environment: its physics is an MjData too
    return {
        "physics": _mujoco_state(inner.physics.model.ptr, inner.physics.data.ptr),
        "steps": {"_step_count": inner._step_count, "_reset_next_step": inner._reset_next_step},
        "task": _numbers(inner.task),
        "task_random": list(inner.task.random.get_state()),  # a numpy RandomState
    }


def _restore_core(env: gym.Env, state: dict[str, Any]) -> None:
    kind = _kind(env)
    if kind == "classic_control":
        _set_numbers(env, state)
    elif kind == "mujoco":
        _restore_mujoco(env.unwrapped.model, env.unwrapped.data, state)
    else:
        inner = env._env
        model, data = inner.physics.model.ptr, inner.physics.data.ptr
        _restore_mujoco(model, data, state["physics"])
        if getattr(inner.physics, "legacy_step", False):
            import mujoco

            # dm_control steps as mj_step2 then mj_step1, so that between steps the data holds
            # mj_step1's results for the current state (contacts and constraints included, which
            # the restore above cannot size); the next mj_step2 reads them.
            mujoco.mj_step1(model, data)
        _set_numbers(inner, state["steps"])
        _set_numbers(inner.task, state["task"])
        inner.task.random.set_state(tuple(state["task_random"]))


def _numbers(owner: object) -> dict[str, Any]:
    """An object's attributes that hold numbers or arrays, the private ones too."""
    return {
        name: _copy(value)
        for name, value in vars(owner).items()
        if isinstance(value, np.ndarray | Number)
    }


def _set_numbers(owner: object, values: dict[str, Any]) -> None:
    for name, value in values.items():
        setattr(owner, name, _copy(value))


def _mujoco_state(model: Any, data: Any) -> dict[str, Any]:
    import mujoco  # present: a MuJoCo env was built

    integration = np.empty(mujoco.mj_stateSize(model, mujoco.mjtState.mjSTATE_INTEGRATION))
    mujoco.mj_getState(model, data, integration, mujoco.mjtState.mjSTATE_INTEGRATION)
    # Beside the integration state, the quantities mj_forward computed during the last step:
    # envs read some before their next step (Ant's torso position from xpos, Reacher's
    # fingertip), and they belong to the positions before the last integration, so a fresh
    # mj_forward would not reproduce them (Ant then diverges within 150 steps).
    derived = {
        name: value.copy()
        for name in dir(data)
        if not name.startswith("_") and isinstance(value := getattr(data, name), np.ndarray)
    }
    return {"integration": integration, "derived": derived}


def _restore_mujoco(model: Any, data: Any, state: dict[str, Any]) -> None:
    import mujoco

    for name, value in state["derived"].items():
        target = getattr(data, name)
        # Arrays sized by the last step's contacts and constraints may differ in size here; the
        # next step recomputes them before any use.
        if target.shape == value.shape:
            target[...] = value
    mujoco.mj_setState(
        model, data, np.asarray(state["integration"]), mujoco.mjtState.mjSTATE_INTEGRATION
    )


def _copy(value: Any) -> Any:
    return value.copy() if isinstance(value, np.ndarray | np.generic) else value
