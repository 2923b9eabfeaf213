"""Evaluation rollouts: `evaluate(policy, envs, episodes)` runs exactly `episodes` episodes of
a policy on a vector env and summarizes their returns. It logs nothing (its callers do): the
training loop's periodic evaluation and evaluate.py both use it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

Policy = Callable[[np.ndarray], np.ndarray]  # batched obs (N, obs_dim) -> actions (N, A)


def evaluate(
    policy: Policy, envs: gym.vector.VectorEnv, episodes: int, seed: int | None = None
) -> dict[str, Any]:
    """Run `episodes` episodes over a next-step-autoreset vector env and summarize them.

    Each sub-env i runs a fixed quota of (episodes + i) // num_envs episodes (SB3's scheme), so
    short episodes finishing first cannot crowd out long ones and bias the mean upward.
    """
    if not isinstance(envs, gym.vector.VectorEnv):  # e.g. an SB3 VecEnv: use evaluate_policy
        raise TypeError(f"evaluate needs a gymnasium vector env, got {type(envs).__name__}")
    # agents.validation.is_integer's test, written here: envs/ does not import agents/.
    if not isinstance(episodes, (int, np.integer)) or isinstance(episodes, bool) or episodes < 1:
        raise ValueError(f"episodes must be an integer >= 1, got {episodes!r}")
    mode = envs.metadata.get("autoreset_mode", gym.vector.AutoresetMode.NEXT_STEP)
    if mode != gym.vector.AutoresetMode.NEXT_STEP:  # other modes would split episodes wrongly
        raise ValueError(f"evaluate needs a next-step autoreset vector env, got {mode}")
    num_envs = envs.num_envs
    quota = np.array([(episodes + i) // num_envs for i in range(num_envs)])
    returns: list[list[float]] = [[] for _ in range(num_envs)]
    lengths: list[list[int]] = [[] for _ in range(num_envs)]
    successes: list[list[bool]] = [[] for _ in range(num_envs)]
    episode_return = np.zeros(num_envs)
    episode_length = np.zeros(num_envs, dtype=np.int64)
    resetting = np.zeros(num_envs, dtype=bool)

    obs, _ = envs.reset(seed=seed)
    while any(len(r) < q for r, q in zip(returns, quota)):
        obs, reward, terminated, truncated, info = envs.step(policy(obs))
        live = ~resetting  # a sub-env's autoreset step belongs to no episode
        episode_return[live] += reward[live]
        episode_length[live] += 1
        done = np.logical_or(terminated, truncated) & live
        for i in np.flatnonzero(done):
            if len(returns[i]) < quota[i]:
                returns[i].append(float(episode_return[i]))
                lengths[i].append(int(episode_length[i]))
                if "is_success" in info and info.get("_is_success", np.ones(num_envs, bool))[i]:
                    successes[i].append(bool(info["is_success"][i]))
            episode_return[i] = 0.0
            episode_length[i] = 0
        resetting = np.logical_or(terminated, truncated)

    all_returns = np.array([r for per_env in returns for r in per_env])
    all_lengths = np.array([n for per_env in lengths for n in per_env])
    report: dict[str, Any] = {
        "episodes": len(all_returns),
        "return_mean": float(all_returns.mean()),
        "return_std": float(all_returns.std()),
        "return_min": float(all_returns.min()),
        "return_max": float(all_returns.max()),
        "return_median": float(np.median(all_returns)),
        "length_mean": float(all_lengths.mean()),
        "episode_returns": all_returns.tolist(),
        "episode_lengths": all_lengths.tolist(),
    }
    flat_successes = [s for per_env in successes for s in per_env]
    if flat_successes:
        report["success_rate"] = float(np.mean(flat_successes))
    return report
