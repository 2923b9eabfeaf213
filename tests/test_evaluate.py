"""evaluate(policy, envs, episodes): exact episode counts, per-env quotas, returns, seeding."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from fake_envs import counter_thunk, sync_vector

from envs import evaluate, make_env, make_vector_env

W = np.array([[-0.6], [0.25], [-0.15]], dtype=np.float32)  # a fixed linear Pendulum policy


def zero_policy(obs: np.ndarray) -> np.ndarray:
    return np.zeros((len(obs), 1), dtype=np.float32)


def linear_policy(obs: np.ndarray) -> np.ndarray:
    return np.clip(obs @ W, -1.0, 1.0).astype(np.float32)


class AutoresetStepReward(gym.vector.VectorWrapper):
    """Reports a large reward on every autoreset step, which belongs to no episode.

    SyncVectorEnv reports 0.0 there, which would hide a bug that counts it; other vector envs
    need not.
    """

    BONUS = 1000.0

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
        self.prev_done = np.zeros(self.num_envs, dtype=bool)
        return self.env.reset(**kwargs)

    def step(self, actions: np.ndarray) -> tuple[Any, ...]:
        obs, reward, terminated, truncated, info = self.env.step(actions)
        reward = np.where(self.prev_done, self.BONUS, reward)
        self.prev_done = np.logical_or(terminated, truncated)
        return obs, reward, terminated, truncated, info


def _variable_length_envs(short_index: int) -> tuple[gym.vector.VectorEnv, list[int]]:
    """Three sub-envs, reward 1 per step; sub-env `short_index` has 2-step episodes."""
    lengths = [9, 13, 17]
    lengths[short_index] = 2
    envs = sync_vector([counter_thunk(i, terminate_at=n) for i, n in enumerate(lengths)])
    return envs, lengths


# ------------------------------------------------------------------------- episode counting


def test_evaluate_pendulum_vector_env_runs_exact_episode_count() -> None:
    envs = make_vector_env("Pendulum-v1", num_envs=3, max_episode_steps=10)
    try:
        report = evaluate(linear_policy, envs, episodes=7, seed=0)
    finally:
        envs.close()
    assert report["episodes"] == 7
    assert len(report["episode_returns"]) == 7
    assert report["episode_lengths"] == [10] * 7


@pytest.mark.parametrize("short_index", [0, 1, 2])
def test_evaluate_per_env_quota_with_very_different_lengths(short_index: int) -> None:
    envs, lengths = _variable_length_envs(short_index)
    try:
        report = evaluate(zero_policy, envs, episodes=7, seed=0)
    finally:
        envs.close()
    quota = [(7 + i) // 3 for i in range(3)]  # [2, 2, 3]
    assert report["episodes"] == 7
    assert len(report["episode_returns"]) == 7
    # Reward 1 per step, so each return is its episode's length, which identifies its sub-env.
    expected = sorted(n for n, q in zip(lengths, quota) for _ in range(q))
    assert sorted(report["episode_returns"]) == expected
    assert sorted(report["episode_lengths"]) == expected
    # The short sub-env finishes many more episodes in the same time,
    # yet contributes only its quota.
    assert report["episode_returns"].count(2.0) == quota[short_index]


def test_evaluate_fewer_episodes_than_envs() -> None:
    envs, lengths = _variable_length_envs(0)  # lengths [2, 13, 17]; quota [0, 1, 1]
    try:
        report = evaluate(zero_policy, envs, episodes=2, seed=0)
    finally:
        envs.close()
    assert report["episodes"] == 2
    assert sorted(report["episode_returns"]) == [13.0, 17.0]


@pytest.mark.parametrize("episodes", [0, -1])
def test_evaluate_rejects_non_positive_episodes(episodes: int) -> None:
    envs = sync_vector([counter_thunk(0, terminate_at=2)])
    try:
        with pytest.raises(ValueError, match="episodes"):
            evaluate(zero_policy, envs, episodes=episodes)
    finally:
        envs.close()


# ---------------------------------------------------------------------- returns and lengths


def test_evaluate_constant_rewards_give_known_returns_and_lengths() -> None:
    # Sub-env 0 terminates after 4 steps; sub-env 1 is truncated by a TimeLimit after 6.
    envs = sync_vector(
        [counter_thunk(0, terminate_at=4, reward=0.5), counter_thunk(1, time_limit=6, reward=0.5)]
    )
    try:
        report = evaluate(zero_policy, envs, episodes=6, seed=0)
    finally:
        envs.close()
    assert report["episode_returns"] == [2.0, 2.0, 2.0, 3.0, 3.0, 3.0]
    assert report["episode_lengths"] == [4, 4, 4, 6, 6, 6]
    assert report["length_mean"] == pytest.approx(5.0)


def test_evaluate_does_not_count_autoreset_step_reward_or_length() -> None:
    envs = AutoresetStepReward(
        sync_vector([counter_thunk(0, terminate_at=3), counter_thunk(1, terminate_at=5)])
    )
    try:
        report = evaluate(zero_policy, envs, episodes=6, seed=0)
    finally:
        envs.close()
    # Episodes after the first of each sub-env start with an autoreset step worth BONUS.
    assert report["episode_returns"] == [3.0, 3.0, 3.0, 5.0, 5.0, 5.0]
    assert report["episode_lengths"] == [3, 3, 3, 5, 5, 5]


def test_autoreset_step_reward_wrapper_really_injects_bonus() -> None:
    """Guards the test above: the wrapper does put BONUS on the autoreset step."""
    envs = AutoresetStepReward(sync_vector([counter_thunk(0, terminate_at=2)]))
    try:
        envs.reset(seed=0)
        rewards = [float(envs.step(zero_policy(np.zeros((1, 2))))[1][0]) for _ in range(4)]
    finally:
        envs.close()
    assert rewards == [1.0, 1.0, AutoresetStepReward.BONUS, 1.0]


def test_evaluate_matches_manual_single_env_rollouts_on_pendulum() -> None:
    envs = make_vector_env("Pendulum-v1", num_envs=2, max_episode_steps=20)
    try:
        report = evaluate(linear_policy, envs, episodes=2, seed=11)
    finally:
        envs.close()
    manual = []
    for i in range(2):  # the vector env seeds sub-env i with seed + i
        env = make_env("Pendulum-v1", max_episode_steps=20)
        try:
            obs, _ = env.reset(seed=11 + i)
            total, done = 0.0, False
            while not done:
                obs, reward, terminated, truncated, _ = env.step(linear_policy(obs[None])[0])
                total += float(reward)
                done = terminated or truncated
        finally:
            env.close()
        manual.append(total)
    np.testing.assert_allclose(report["episode_returns"], manual, rtol=1e-6)
    assert report["episode_lengths"] == [20, 20]


# ----------------------------------------------------------------------------------- seeding


def _pendulum_returns(seed: int) -> list[float]:
    envs = make_vector_env("Pendulum-v1", num_envs=2, max_episode_steps=30)
    try:
        return evaluate(linear_policy, envs, episodes=3, seed=seed)["episode_returns"]
    finally:
        envs.close()


def test_evaluate_same_seed_same_returns_different_seed_different_returns() -> None:
    first = _pendulum_returns(seed=3)
    assert len(first) == 3
    assert _pendulum_returns(seed=3) == first  # fresh envs, bit-identical
    other = _pendulum_returns(seed=4)
    assert all(a != b for a, b in zip(other, first))


def test_evaluate_reseeds_the_same_envs() -> None:
    envs = make_vector_env("Pendulum-v1", num_envs=2, max_episode_steps=30)
    try:
        first = evaluate(linear_policy, envs, episodes=2, seed=5)["episode_returns"]
        second = evaluate(linear_policy, envs, episodes=2, seed=5)["episode_returns"]
    finally:
        envs.close()
    assert first == second


# ------------------------------------------------------------------------------ report fields


def test_evaluate_summary_fields_agree_with_numpy() -> None:
    envs, _ = _variable_length_envs(1)
    envs = AutoresetStepReward(envs)
    try:
        report = evaluate(zero_policy, envs, episodes=7, seed=0)
    finally:
        envs.close()
    returns = np.array(report["episode_returns"])
    lengths = np.array(report["episode_lengths"])
    assert len(set(returns.tolist())) == 3  # a spread for std/median to mean something
    assert report["return_mean"] == pytest.approx(np.mean(returns))
    assert report["return_std"] == pytest.approx(np.std(returns))
    assert report["return_min"] == pytest.approx(np.min(returns))
    assert report["return_max"] == pytest.approx(np.max(returns))
    assert report["return_median"] == pytest.approx(np.median(returns))
    assert report["length_mean"] == pytest.approx(np.mean(lengths))
    for key in ("return_mean", "return_std", "return_min", "return_max", "return_median"):
        assert type(report[key]) is float
    assert "success_rate" not in report  # the counter env reports no is_success


def test_evaluate_success_rate_from_episode_end_info() -> None:
    # Sub-env 0 always succeeds, sub-env 1 reports nothing, sub-env 2 always fails.
    # is_success is False on every step but the last, so only the episode-end value may count.
    envs = sync_vector(
        [
            counter_thunk(0, terminate_at=3, success=True),
            counter_thunk(1, terminate_at=4),
            counter_thunk(2, terminate_at=5, success=False),
        ]
    )
    try:
        report = evaluate(zero_policy, envs, episodes=6, seed=0)
    finally:
        envs.close()
    assert report["episodes"] == 6
    # 2 successes out of the 4 episodes that reported one; the silent sub-env is not a failure.
    assert report["success_rate"] == pytest.approx(0.5)


def test_evaluate_success_rate_all_successes() -> None:
    envs = sync_vector([counter_thunk(i, terminate_at=2 + i, success=True) for i in range(2)])
    try:
        report = evaluate(zero_policy, envs, episodes=3, seed=0)
    finally:
        envs.close()
    assert report["success_rate"] == pytest.approx(1.0)


def test_same_step_autoreset_env_is_refused() -> None:
    """evaluate() splits episodes by next-step autoreset; other modes would be miscounted."""
    envs = gym.make_vec(
        "Pendulum-v1", 1, vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP}
    )
    try:
        with pytest.raises(ValueError, match="next-step autoreset"):
            evaluate(zero_policy, envs, 3, seed=0)
        with pytest.raises(ValueError, match="episodes must be an integer"):
            evaluate(zero_policy, envs, 2.5, seed=0)
    finally:
        envs.close()
