"""Build single and vector Gymnasium envs the agent can use: Box actions rescaled to [-1, 1],
float32 flat observations, episode statistics, and one clear error for anything else."""

from __future__ import annotations

import difflib
import logging
import os
import sys
import warnings
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode


class EnvError(ValueError):
    """An env SAC cannot use (unknown id, wrong spaces, missing dependency); one-line message."""


@dataclass(frozen=True)
class EnvSpaces:
    """What the agent needs to know about an env: sizes and the original action bounds."""

    obs_dim: int
    action_dim: int
    action_low: np.ndarray
    action_high: np.ndarray
    max_episode_steps: int | None = None  # the time limit, None when the env has none


DMC_PREFIX = "dm_control/"
DMC_HINT = (
    'DeepMind Control envs need shimmy and dm-control (for this project: pip install -e ".[dmc]")'
)


def _set_headless_gl_default() -> None:
    """MUJOCO_GL=egl on Linux without a display, unless set: MuJoCo and dm_control then render
    offscreen. Elsewhere they choose their own backend (there is no EGL on macOS)."""
    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
        os.environ.setdefault("MUJOCO_GL", "egl")


def _register_dm_control() -> None:
    """`import shimmy` registers the dm_control/<domain>-<task>-v0 ids (only on demand: slow)."""
    # dm_control logs through absl at INFO (GL backend) and warns on every env build about a
    # deprecated MJCF attribute in its own models; neither is actionable for a user.
    logging.getLogger("absl").setLevel(logging.ERROR)
    logging.getLogger("OpenGL").setLevel(logging.WARNING)
    _set_headless_gl_default()  # dm_control picks its GL backend when imported
    try:
        import shimmy  # noqa: F401
    except ImportError as error:
        raise EnvError(f"{DMC_HINT}: {str(error).splitlines()[0]}") from error
    except Exception as error:  # e.g. an unsupported mujoco, or a GL backend that will not load
        raise EnvError(
            f"cannot load DeepMind Control (MUJOCO_GL={os.environ.get('MUJOCO_GL')}): "
            f"{str(error).splitlines()[0]}"
        ) from error


_shown_mujoco_warnings: set[str] = set()


def _mujoco_warning(message: str) -> None:
    # Once per text by hand: `warnings` would show it again after any filter change (make_env's
    # own catch_warnings below resets its memory of what it showed).
    if message not in _shown_mujoco_warnings:
        _shown_mujoco_warnings.add(message)
        warnings.warn(f"MuJoCo: {message}", RuntimeWarning, stacklevel=1)


def _quiet_mujoco(env_id: str) -> None:
    """For MuJoCo and dm_control envs: MuJoCo's own warnings through Python's `warnings`, and
    PyOpenGL's INFO line (no OpenGL_accelerate module) left out of the console and train.log.

    MuJoCo otherwise prints each warning at every model compile (gymnasium 1.4's HalfCheetah
    uses the deprecated `settotalmass`: five lines per train.py run) and appends it to a
    MUJOCO_LOG.TXT in the working directory; here each text shows once and no file is written.
    A handler set by the user is kept.
    """
    if not env_id.startswith(DMC_PREFIX) and "mujoco" not in str(gym.spec(env_id).entry_point):
        return
    logging.getLogger("OpenGL").setLevel(logging.WARNING)
    try:
        import mujoco
    except ImportError:
        return  # gym.make reports the missing simulator, with the extra to install
    if mujoco.get_mju_user_warning() is None:
        mujoco.set_mju_user_warning(_mujoco_warning)


def _check_registered(env_id: str) -> None:
    if env_id.startswith(DMC_PREFIX) and env_id not in gym.registry:
        _register_dm_control()
    if env_id in gym.registry:
        return
    close = difflib.get_close_matches(env_id, list(gym.registry), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    if env_id.startswith(DMC_PREFIX) and not close:
        hint = f"; {DMC_HINT}; ids look like dm_control/cheetah-run-v0"
    raise EnvError(f"unknown Gymnasium env id {env_id!r}{hint}")


def _one_line(array: np.ndarray) -> str:
    return np.array2string(np.asarray(array), max_line_width=10**9, threshold=8)


def _check_spaces(env_id: str, env: gym.Env) -> None:
    action_space = env.action_space
    if not isinstance(action_space, gym.spaces.Box):
        raise EnvError(
            f"{env_id}: SAC needs a continuous Box action space, got {type(action_space).__name__}"
        )
    if not (np.all(np.isfinite(action_space.low)) and np.all(np.isfinite(action_space.high))):
        raise EnvError(
            f"{env_id}: SAC needs finite action bounds to squash into, got "
            f"low={_one_line(action_space.low)}, high={_one_line(action_space.high)}"
        )
    if len(action_space.shape) != 1:
        raise EnvError(f"{env_id}: SAC needs a 1-D action space, got shape {action_space.shape}")
    obs_space = env.observation_space
    if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 1:
        raise EnvError(
            f"{env_id}: needs a flat Box observation space, got "
            f"{type(obs_space).__name__} of shape {obs_space.shape}"
        )


def _box_leaves(space: gym.Space) -> list[gym.Space]:
    if isinstance(space, gym.spaces.Dict):
        return [leaf for sub in space.spaces.values() for leaf in _box_leaves(sub)]
    if isinstance(space, gym.spaces.Tuple):
        return [leaf for sub in space.spaces for leaf in _box_leaves(sub)]
    return [space]


def flatten_state_dict(env: gym.Env) -> gym.Env:
    """Concatenate dict/tuple observations of state vectors (DeepMind Control's position,
    velocity, ...) into one flat Box with gymnasium's FlattenObservation (fixed key order).
    Dicts holding images or other non-vector parts are left as they are, and refused later."""
    space = env.observation_space
    if not isinstance(space, (gym.spaces.Dict, gym.spaces.Tuple)):
        return env
    leaves = _box_leaves(space)
    if leaves and all(isinstance(s, gym.spaces.Box) and len(s.shape) <= 1 for s in leaves):
        return gym.wrappers.FlattenObservation(env)
    return env


def _extra_hint(env_id: str) -> str:
    """Name this project's optional extra that installs the env family's simulator."""
    if env_id.startswith(DMC_PREFIX):
        return ' (for this project: pip install -e ".[dmc]")'
    entry_point = str(gym.spec(env_id).entry_point)
    for family in ("box2d", "mujoco"):
        if f"envs.{family}" in entry_point:
            return f' (for this project: pip install -e ".[{family}]")'
    return ""


def make_env(
    env_id: str,
    render_mode: str | None = None,
    max_episode_steps: int | None = None,
    **env_kwargs: Any,
) -> gym.Env:
    """`gymnasium.make` plus: actions in [-1, 1], float32 observations, validated spaces."""
    _set_headless_gl_default()  # before gymnasium's MuJoCo renderer or dm_control load
    _check_registered(env_id)
    _quiet_mujoco(env_id)
    if render_mode is not None:  # only when asked: some envs' __init__ takes no render_mode
        env_kwargs = {"render_mode": render_mode, **env_kwargs}
    if max_episode_steps is not None and max_episode_steps < 1:
        raise EnvError(f"{env_id}: max_episode_steps must be >= 1, got {max_episode_steps}")
    try:
        env = gym.make(env_id, max_episode_steps=max_episode_steps, **env_kwargs)
    except gym.error.DependencyNotInstalled as error:
        raise EnvError(f"{env_id}: {str(error).splitlines()[0]}{_extra_hint(env_id)}") from error
    # Any other failure of the constructor: with kwargs, most likely about them (a kwarg it does
    # not take: TypeError; a missing model file: OSError; a bad value: ValueError).
    except Exception as error:  # noqa: BLE001 - reported as one line
        reason = _error_line(error)
        if env_kwargs:
            raise EnvError(f"{env_id}: bad env kwargs {sorted(env_kwargs)}: {reason}") from error
        raise EnvError(f"{env_id}: the env could not be built: {reason}") from error
    env = flatten_state_dict(env)
    try:
        _check_spaces(env_id, env)
    except EnvError:
        env.close()  # release simulators/renderers of an env we refuse
        raise
    # Rescaling here means the agent's tanh output always spans the env's full action range.
    ones = np.ones(env.action_space.shape, dtype=np.float32)  # float32 bounds: no cast warning
    with warnings.catch_warnings():  # float64 spaces (e.g. DeepMind Control) cast to float32
        warnings.filterwarnings("ignore", message=".*precision lowered by casting.*")
        warnings.filterwarnings("ignore", message="overflow encountered in cast")  # ±inf bounds
        env = gym.wrappers.RescaleAction(env, min_action=-ones, max_action=ones)
        if env.observation_space.dtype != np.float32:
            env = gym.wrappers.DtypeObservation(env, np.float32)
    return env


def _error_line(error: BaseException) -> str:
    first = next((line for line in str(error).splitlines() if line.strip()), "")
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def env_spaces(env_id: str, **env_kwargs: Any) -> EnvSpaces:
    """Sizes and original action bounds of an env, validated (builds and closes one copy).

    The copy also takes one reset and one step: a kwarg of the wrong type (Pendulum's g="abc")
    is accepted by the constructor and fails only there, which would otherwise be mid-run.
    """
    _check_registered(env_id)
    env = make_env(env_id, **env_kwargs)
    given = {key: value for key, value in env_kwargs.items() if value is not None}
    try:
        try:
            first_obs, _ = env.reset(seed=0)
            obs, reward, *_ = env.step(np.zeros(env.action_space.shape, env.action_space.dtype))
        except Exception as error:  # noqa: BLE001 - any failure here is the env's setup
            raise EnvError(
                f"{env_id} with env kwargs {given}: reset and step failed: {_error_line(error)}"
            ) from error
        # e.g. Pendulum's g=nan: caught here, before a run dir or a resumed checkpoint is touched
        try:
            values = [np.asarray(value, dtype=np.float64) for value in (first_obs, obs, reward)]
            finite = all(np.isfinite(value).all() for value in values)
        except (TypeError, ValueError):  # e.g. a custom env's reward of None
            finite = False
        if not finite:
            raise EnvError(
                f"{env_id} with env kwargs {given}: its first reset or step returns NaN, inf or "
                "a non-number"
            )
        raw_space = env.unwrapped.action_space
        return EnvSpaces(
            obs_dim=int(env.observation_space.shape[0]),
            action_dim=int(env.action_space.shape[0]),
            action_low=np.asarray(raw_space.low, dtype=np.float64),
            action_high=np.asarray(raw_space.high, dtype=np.float64),
            max_episode_steps=env.spec.max_episode_steps if env.spec else None,
        )
    finally:
        env.close()


def make_vector_env(
    env_id: str,
    num_envs: int = 1,
    vectorization: str = "sync",
    render_mode: str | None = None,
    max_episode_steps: int | None = None,
    **env_kwargs: Any,
) -> gym.vector.VectorEnv:
    """`num_envs` copies in a Gymnasium vector env with next-step autoreset and episode stats.

    Validates the env in this process first, so an async worker never hides the error.
    """
    if num_envs < 1:
        raise EnvError(f"num_envs must be >= 1, got {num_envs}")
    if vectorization not in ("sync", "async"):
        raise EnvError(f"vectorization must be 'sync' or 'async', got {vectorization!r}")
    env_spaces(env_id, max_episode_steps=max_episode_steps, **env_kwargs)

    def thunk() -> gym.Env:
        return make_env(env_id, render_mode, max_episode_steps, **env_kwargs)

    vector_cls = gym.vector.SyncVectorEnv if vectorization == "sync" else gym.vector.AsyncVectorEnv
    envs = vector_cls([thunk] * num_envs, autoreset_mode=AutoresetMode.NEXT_STEP)
    return gym.wrappers.vector.RecordEpisodeStatistics(envs)
