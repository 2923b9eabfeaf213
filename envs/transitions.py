"""Turn Gymnasium 1.x vector steps (next-step autoreset) into transitions worth storing.

With next-step autoreset, the step that ends an episode returns the true final observation,
and the *following* step of that sub-env only resets it: its action is ignored and its
(final_obs -> reset_obs) pair is no transition at all. CleanRL's 0.29 idiom
(`infos["final_observation"]`) no longer applies.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from envs.factory import EnvError


class Transitions(NamedTuple):
    obs: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    next_obs: np.ndarray
    terminated: np.ndarray  # true termination only; truncation still bootstraps


class TransitionTracker:
    """Remembers which sub-envs are resetting this step and drops those steps."""

    def __init__(self, num_envs: int) -> None:
        self.resetting = np.zeros(num_envs, dtype=bool)

    def reset(self) -> None:
        """Call after `envs.reset()`: no sub-env has an autoreset pending."""
        self.resetting[:] = False

    def step(
        self,
        obs: np.ndarray,
        action: np.ndarray,
        reward: np.ndarray,
        next_obs: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
    ) -> Transitions:
        """The valid transitions of one vector step (possibly fewer than num_envs)."""
        valid = ~self.resetting
        transitions = Transitions(  # a wrong env count raises here, before any state changes
            obs[valid],
            action[valid],
            np.asarray(reward, dtype=np.float32)[valid],
            next_obs[valid],
            np.asarray(terminated, dtype=np.float32)[valid],
        )
        _check_finite(transitions, np.flatnonzero(valid))
        self.resetting = np.logical_or(terminated, truncated)
        return transitions


def _check_finite(transitions: Transitions, env_index: np.ndarray) -> None:
    """One NaN or inf stored in the replay buffer turns every later update's losses, and so the
    networks, into NaN for good; refuse it where it appears (a few µs per step)."""
    for name in ("obs", "action", "reward", "next_obs"):
        values = getattr(transitions, name)
        if not np.isfinite(values).all():
            who = "the agent's action" if name == "action" else f"the env's {name}"
            row = np.argwhere(~np.isfinite(values))[0][0]
            cause = (  # the policy is NaN only once its networks are (or a setting overflows)
                "; the networks diverged: look at the learning rates, agent.init_alpha and "
                "exploration.noise_beta"
                if name == "action"
                else ""
            )
            raise EnvError(
                f"{who} holds NaN or inf (sub-env {env_index[row]}); stored, it would turn every "
                f"later update into NaN{cause}"
            )
