"""Tiny Gymnasium envs whose every number is known, shared by test_envs.py and test_evaluate.py."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
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
