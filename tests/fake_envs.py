"""Tiny Gymnasium envs whose every number is known, shared by test_envs.py and test_evaluate.py,
and a Pendulum with asymmetric action bounds."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.envs.classic_control.pendulum import PendulumEnv
from gymnasium.vector import AutoresetMode


class CounterEnv(gym.Env):
    """Observation [t, marker], t = steps since reset; reward `reward` per step.

    Terminates (terminated=True) when t reaches `terminate_at`; never ends on its own when it is
    None (wrap it in TimeLimit for truncation). With `success` set, info['is_success'] is reported
    on every step, True only on the terminating step (so only the episode-end value may count).
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(
        self,
        marker: float = 0.0,
        terminate_at: int | None = None,
        reward: float = 1.0,
        success: bool | None = None,
        render_mode: str | None = None,
    ) -> None:
        self.render_mode = render_mode
        self.marker = float(marker)
        self.terminate_at = terminate_at
        self.reward = float(reward)
        self.success = success
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.t = 0
        self.last_action: np.ndarray | None = None

    def _obs(self) -> np.ndarray:
        return np.array([self.t, self.marker], dtype=np.float32)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        self.last_action = np.array(action, copy=True)
        self.t += 1
        terminated = self.terminate_at is not None and self.t >= self.terminate_at
        info: dict[str, Any] = {}
        if self.success is not None:
            info["is_success"] = bool(self.success and terminated)
        return self._obs(), self.reward, terminated, False, info


def counter_thunk(
    marker: float, terminate_at: int | None = None, time_limit: int | None = None, **kwargs: Any
) -> Callable[[], gym.Env]:
    """A thunk for one CounterEnv, optionally inside a TimeLimit (truncation)."""

    def thunk() -> gym.Env:
        env: gym.Env = CounterEnv(marker, terminate_at, **kwargs)
        if time_limit is not None:
            env = gym.wrappers.TimeLimit(env, max_episode_steps=time_limit)
        return env

    return thunk


def sync_vector(thunks: Sequence[Callable[[], gym.Env]]) -> gym.vector.SyncVectorEnv:
    """A SyncVectorEnv with next-step autoreset, like make_vector_env builds."""
    return gym.vector.SyncVectorEnv(list(thunks), autoreset_mode=AutoresetMode.NEXT_STEP)


class AsymmetricPendulum(PendulumEnv):
    """Pendulum whose torque is given in [-1, 3] and shifted by -1 into Pendulum's [-2, 2]:
    the same task, with action bounds that are not symmetric about 0."""

    def __init__(self, render_mode: str | None = None) -> None:
        super().__init__(render_mode=render_mode)
        self.action_space = gym.spaces.Box(-1.0, 3.0, (1,), np.float32)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        return super().step(np.asarray(action, np.float32) - 1.0)


ASYMMETRIC_PENDULUM_ID = "SacTestEnvs/AsymmetricPendulum-v0"


def register_asymmetric_pendulum() -> str:
    """Register AsymmetricPendulum (200 steps, as Pendulum-v1) in this process; its id."""
    if ASYMMETRIC_PENDULUM_ID not in gym.registry:
        gym.register(ASYMMETRIC_PENDULUM_ID, AsymmetricPendulum, max_episode_steps=200)
    return ASYMMETRIC_PENDULUM_ID
