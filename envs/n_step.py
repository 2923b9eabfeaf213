"""n-step transitions (`agent.n_step`): each stored transition sums the rewards of n env steps
and leads to the state n steps later, so the target bootstraps from it with gamma^n:

    (s_t, a_t, r_t + gamma r_{t+1} + ... + gamma^(n-1) r_{t+n-1}, s_{t+n}, terminated)

Windows are kept per sub-env. An episode that terminates inside a window ends every pending
window there (terminated: nothing is bootstrapped, so the shorter sum is exact). One that is
truncated (a time limit) drops its last n-1 pending windows instead: their shorter sums would
bootstrap with gamma^m, m < n, which a target with one discount cannot express; that is n-1
transitions per time-limited episode (0.2 % of a 1000-step episode at n = 3).

Why hand-written: SB3's n-step buffer is tied to its own replay buffer and vector-env wrappers;
this sits between the vector env and our buffer, unchanged by n = 1 (no windows are kept).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from envs.transitions import Transitions

# One pending step: (obs, action, reward) of a sub-env.
Step = tuple[np.ndarray, np.ndarray, float]


class NStepWindows:
    """The last (up to n-1) steps of each sub-env that no stored transition has started from."""

    def __init__(self, num_envs: int, n: int, gamma: float) -> None:
        if n < 2:
            raise ValueError(f"n-step windows need n >= 2, got {n}")
        self.n, self.gamma = n, gamma
        self.pending: list[list[Step]] = [[] for _ in range(num_envs)]

    def __call__(
        self, env_index: np.ndarray, transitions: Transitions, truncated: np.ndarray
    ) -> Transitions:
        """One vector step's one-step transitions (row i from sub-env env_index[i]) in, the
        n-step transitions they complete out (possibly none)."""
        out: list[tuple[np.ndarray, np.ndarray, float, np.ndarray, float]] = []
        obs, action, reward, next_obs, terminated = transitions
        for row, env in enumerate(env_index):
            window = self.pending[env]
            window.append((obs[row], action[row], float(reward[row])))
            if terminated[row]:
                out += [
                    self._transition(window[k:], next_obs[row], 1.0) for k in range(len(window))
                ]
                window.clear()
                continue
            if len(window) == self.n:
                out.append(self._transition(window, next_obs[row], 0.0))
                window.pop(0)
            if truncated[row]:
                window.clear()
        if not out:
            return Transitions(
                obs[:0], action[:0], reward[:0], next_obs[:0], terminated[:0]
            )  # fmt: skip
        columns = list(zip(*out))
        return Transitions(
            np.stack(columns[0]), np.stack(columns[1]), np.asarray(columns[2], np.float32),
            np.stack(columns[3]), np.asarray(columns[4], np.float32),
        )  # fmt: skip

    def _transition(
        self, steps: list[Step], next_obs: np.ndarray, terminated: float
    ) -> tuple[np.ndarray, np.ndarray, float, np.ndarray, float]:
        discounted = sum(self.gamma**k * step[2] for k, step in enumerate(steps))
        return steps[0][0], steps[0][1], discounted, next_obs, terminated

    def clear(self) -> None:
        """After `envs.reset()`: every episode starts over."""
        for window in self.pending:
            window.clear()

    def state_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "pending": [[(o.copy(), a.copy(), r) for o, a, r in window] for window in self.pending],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """ValueError when the state is another n's or another env count's."""
        if state["n"] != self.n or len(state["pending"]) != len(self.pending):
            raise ValueError(
                f"n-step windows of n={state['n']} over {len(state['pending'])} envs, this run "
                f"has n={self.n} over {len(self.pending)}"
            )
        self.pending = [
            [(np.asarray(o), np.asarray(a), float(r)) for o, a, r in window]
            for window in state["pending"]
        ]
