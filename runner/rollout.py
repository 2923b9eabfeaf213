"""The acting side of the training loop between two env steps, and its checkpoint form.

Between steps the loop holds: the vector env (simulators, RNGs, time limits, episode
statistics, autoreset flags), the observation the next action is for, which sub-envs only
reset on the next step (that step stores no transition), the exploration noise, and the
latest update metrics (logged on their schedule). A checkpoint holding all of them resumes
exactly: on the same machine, the resumed run takes the steps the uninterrupted one would have.
"""

from __future__ import annotations

import sys
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from agents.noise import ColoredNoise
from envs import TransitionTracker
from envs.n_step import NStepWindows
from envs.snapshot import SnapshotUnsupported, restore_vector_env, snapshot_vector_env
from envs.transitions import Transitions


class Rollout:
    """What the next env step starts from; `state_dict()` raises SnapshotUnsupported for an
    env whose state cannot be read out."""

    def __init__(
        self,
        envs: gym.vector.VectorEnv,
        noise: ColoredNoise | None,
        *,
        n_step: int,
        gamma: float,
    ) -> None:
        self.envs, self.noise = envs, noise
        self.tracker = TransitionTracker(envs.num_envs)
        # agent.n_step > 1: the steps each sub-env has not yet stored a transition from
        self.windows = NStepWindows(envs.num_envs, n_step, gamma) if n_step > 1 else None
        self.obs = np.empty(0, dtype=np.float32)  # set by start() or load_state_dict()
        self.metrics: dict[str, torch.Tensor] = {}
        self.unsnapshotable: str | None = None  # why the envs cannot be saved, once known

    def start(self, seed: int) -> None:
        """New episodes in every sub-env, the first seeded `seed`, the others seed + i."""
        self.obs, _ = self.envs.reset(seed=seed)
        self.tracker.reset()
        if self.windows is not None:
            self.windows.clear()

    def transitions(
        self,
        action: np.ndarray,
        reward: np.ndarray,
        next_obs: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
    ) -> Transitions:
        """What one vector step from `self.obs` gives the replay buffer: its one-step
        transitions, or with agent.n_step the n-step transitions they complete."""
        valid = np.flatnonzero(~self.tracker.resetting)
        one_step = self.tracker.step(self.obs, action, reward, next_obs, terminated, truncated)
        if self.windows is None:
            return one_step
        return self.windows(valid, one_step, np.asarray(truncated)[valid])

    def state_dict(self) -> dict[str, Any]:
        state = {
            "envs": to_tensors(snapshot_vector_env(self.envs)),
            "obs": torch.from_numpy(self.obs.copy()),
            "resetting": torch.from_numpy(self.tracker.resetting.copy()),
            "noise": None if self.noise is None else to_tensors(self.noise.state_dict()),
            # Cloned: an update may write its metrics into tensors it reuses.
            "metrics": {key: value.detach().clone() for key, value in self.metrics.items()},
        }
        if self.windows is not None:  # absent at n = 1: such checkpoints read as before
            state["n_step"] = to_tensors(self.windows.state_dict())
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a saved state; SnapshotUnsupported (or ValueError) when it does not fit
        this run's envs or noise, before anything is changed but the envs."""
        if (state["noise"] is None) != (self.noise is None):
            raise SnapshotUnsupported("the checkpoint's exploration noise differs from this run's")
        if ("n_step" in state) != (self.windows is not None):
            raise SnapshotUnsupported("the checkpoint's agent.n_step differs from this run's")
        windows = self.windows
        if windows is not None:  # read into a copy: a ValueError (another n) changes nothing
            windows = NStepWindows(self.envs.num_envs, windows.n, windows.gamma)
            windows.load_state_dict(to_numpy(state["n_step"]))
        restore_vector_env(self.envs, to_numpy(state["envs"]))
        if self.noise is not None:
            self.noise.load_state_dict(to_numpy(state["noise"]))
        self.windows = windows
        self.obs = state["obs"].numpy().copy()
        self.tracker.resetting = state["resetting"].numpy().copy()
        self.metrics = dict(state["metrics"])

    def checkpoint_entries(self, mid_step: bool) -> dict[str, Any]:
        """A checkpoint's `rollout` (this state, for an exact resume), or None and the reason
        in `rollout_missing`; an env that cannot be saved is warned about once."""
        if mid_step:
            return {"rollout": None, "rollout_missing": "the checkpoint was saved mid-step"}
        if self.unsnapshotable is None:
            try:
                return {"rollout": self.state_dict(), "rollout_missing": None}
            except SnapshotUnsupported as error:
                self.unsnapshotable = f"the envs' state cannot be saved: {error}"
                print(
                    f"warning: {self.unsnapshotable}; a run resumed from this run's "
                    "checkpoints starts new episodes",
                    file=sys.stderr,
                )
        return {"rollout": None, "rollout_missing": self.unsnapshotable}

    def continue_from(self, saved: dict[str, Any] | None, why_missing: str | None) -> str | None:
        """Continue a checkpoint's `rollout`: None when it did, else why the run must start new
        episodes (the checkpoint has none, or it does not fit these envs or noise)."""
        if saved is None:
            return why_missing or "the checkpoint holds no env state"
        try:
            self.load_state_dict(saved)
        except (SnapshotUnsupported, ValueError, KeyError, TypeError) as error:
            return f"its env state does not fit this run: {error}"
        return None


def to_tensors(value: Any) -> Any:
    """numpy arrays and scalars inside dicts and lists as tensors (a checkpoint is loaded with
    weights_only=True, which refuses numpy objects); everything else as it is."""
    if isinstance(value, dict):
        return {key: to_tensors(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(to_tensors(item) for item in value)
    if isinstance(value, np.ndarray | np.generic):
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise SnapshotUnsupported(f"an env holds an array of {array.dtype} values")
        return torch.from_numpy(array.copy())
    return value


def to_numpy(value: Any) -> Any:
    """The inverse of `to_tensors`; a 0-d tensor comes back as a numpy scalar of its dtype."""
    if isinstance(value, dict):
        return {key: to_numpy(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(to_numpy(item) for item in value)
    if isinstance(value, torch.Tensor):
        array = value.numpy().copy()
        return array[()] if array.ndim == 0 else array
    return value
