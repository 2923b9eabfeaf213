"""n-step transitions (envs/n_step.py, agent.n_step) against a reference computed per episode,
over random episode schedules of several sub-envs and through Rollout over a vector env with
autoresets; and the target's discount gamma^n."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fake_envs import counter_thunk, sync_vector
from hypothesis import given, settings
from hypothesis import strategies as st
from sac_test_support import random_batch

from agents import SACAgent, SACConfig
from envs.n_step import NStepWindows
from envs.transitions import Transitions
from runner.rollout import Rollout

GAMMA = 0.9

# Per step of one sub-env: (reward, how it ends: None, "terminated" or "truncated").
steps = st.tuples(
    st.integers(-5, 5), st.sampled_from([None, None, None, "terminated", "truncated"])
)


def reference(stream: list[tuple[int, str | None]], env: int, n: int) -> set[tuple]:
    """Every n-step transition of one sub-env's stream, episode by episode: (env, t) names the
    state at step t; a terminal episode keeps its shorter tails, a truncated one drops them."""
    out, start = set(), 0
    if not stream:
        return out
    ends = [t for t, (_, end) in enumerate(stream) if end] + [len(stream) - 1]
    for last in dict.fromkeys(ends):  # each episode's last step (the stream's end included)
        end = stream[last][1]
        for t in range(start, last + 1):
            reach = t + n - 1
            if reach <= last or end == "terminated":
                stop = min(reach, last)
                ret = sum(GAMMA ** (k - t) * stream[k][0] for k in range(t, stop + 1))
                terminated = end == "terminated" and reach >= last
                out.add((env, t, round(ret, 4), stop + 1, terminated))
        start = last + 1
    return out


@settings(max_examples=200, deadline=None)
@given(n=st.integers(2, 4), streams=st.lists(st.lists(steps, max_size=25), min_size=1, max_size=3))
def test_windows_give_each_episodes_n_step_transitions(n: int, streams: list[list]) -> None:
    """Sub-envs step together (a shorter stream has ended its part); observations name
    (env, step), so each emitted transition says where it starts and where it bootstraps."""
    windows = NStepWindows(len(streams), n, GAMMA)
    got = set()
    for t in range(max(map(len, streams), default=0)):
        live = [env for env, stream in enumerate(streams) if t < len(stream)]
        if not live:
            continue
        rows = [streams[env][t] for env in live]
        one_step = Transitions(
            np.array([[env, t] for env in live], np.float32),
            np.zeros((len(live), 1), np.float32),
            np.array([r for r, _ in rows], np.float32),
            np.array([[env, t + 1] for env in live], np.float32),
            np.array([end == "terminated" for _, end in rows], np.float32),
        )
        truncated = np.array([end == "truncated" for _, end in rows])
        out = windows(np.array(live), one_step, truncated)
        for obs, reward, next_obs, terminated in zip(
            out.obs, out.reward, out.next_obs, out.terminated
        ):
            assert next_obs[0] == obs[0]  # never across sub-envs
            got.add(
                (
                    int(obs[0]),
                    int(obs[1]),
                    round(float(reward), 4),
                    int(next_obs[1]),
                    bool(terminated),
                )
            )
    expected = set().union(*(reference(s, env, n) for env, s in enumerate(streams)))
    assert got == expected


def test_windows_state_round_trips_and_refuses_another_n() -> None:
    windows = NStepWindows(2, 3, GAMMA)
    one_step = Transitions(np.ones((2, 3), np.float32), np.zeros((2, 1), np.float32),
                           np.array([1.0, 2.0], np.float32), np.ones((2, 3), np.float32),
                           np.zeros(2, np.float32))  # fmt: skip
    assert len(windows(np.array([0, 1]), one_step, np.zeros(2, bool)).reward) == 0  # pending
    copy = NStepWindows(2, 3, GAMMA)
    copy.load_state_dict(windows.state_dict())
    for w in (windows, copy):
        w(np.array([0, 1]), one_step, np.zeros(2, bool))
    out = [w(np.array([0, 1]), one_step, np.zeros(2, bool)) for w in (windows, copy)]
    np.testing.assert_array_equal(out[0].reward, out[1].reward)
    np.testing.assert_allclose(out[0].reward, [1 + GAMMA + GAMMA**2, 2 * (1 + GAMMA + GAMMA**2)])
    with pytest.raises(ValueError, match="n=3 over 2 envs, this run has n=2"):
        NStepWindows(2, 2, GAMMA).load_state_dict(windows.state_dict())


@pytest.mark.parametrize("backend", ["manual", "autograd"])
def test_the_target_discounts_by_gamma_to_the_n(backend: str) -> None:
    """n = 3 at gamma 0.9 updates exactly as n = 1 at gamma 0.729: only the discount changes."""
    results = []
    for n_step, gamma in ((3, GAMMA), (1, GAMMA**3)):
        torch.manual_seed(0)
        config = SACConfig(hidden_sizes=[16], batch_size=8, buffer_size=10, gamma=gamma,
                           n_step=n_step, update_backend=backend)  # fmt: skip
        agent = SACAgent(3, 1, config)
        torch.manual_seed(1)
        results.append(agent.update(random_batch(3, 1, batch_size=8, seed=2))["critic_loss"])
    assert torch.equal(results[0], results[1])
    assert SACConfig(n_step=3, gamma=GAMMA).target_discount == pytest.approx(0.729)


@pytest.mark.parametrize("n_step", [0, 1.5])
def test_n_step_must_be_a_positive_integer(n_step: float) -> None:
    with pytest.raises(ValueError, match="agent.n_step"):
        SACConfig(n_step=n_step).validate()


def test_rollout_gives_n_step_transitions_across_autoresets() -> None:
    """Through Rollout over a real vector env whose sub-envs end at different steps (a
    termination, a time limit, both at once), with gymnasium's next-step autoreset rows in
    between: every stored transition is one of its sub-env's n-step transitions, and each
    episode gives all of them (observations are [t, sub-env]; reward 1 per step)."""
    n, gamma = 3, 0.5
    envs = sync_vector([counter_thunk(0, terminate_at=3), counter_thunk(1, time_limit=5),
                        counter_thunk(2, terminate_at=4, time_limit=4)])  # fmt: skip
    expected = {  # (sub-env, t of obs, n-step return, t of next_obs, terminated)
        0: {(0, 1.75, 3, True), (1, 1.5, 3, True), (2, 1.0, 3, True)},
        1: {(0, 1.75, 3, False), (1, 1.75, 4, False), (2, 1.75, 5, False)},  # 3, 4 dropped
        2: {(0, 1.75, 3, False), (1, 1.75, 4, True), (2, 1.5, 4, True), (3, 1.0, 4, True)},
    }
    rollout = Rollout(envs, None, n_step=n, gamma=gamma)
    rollout.start(seed=0)
    got: dict[int, list[tuple]] = {0: [], 1: [], 2: []}
    try:
        for _ in range(30):
            action = np.zeros((3, 1), np.float32)
            next_obs, reward, terminated, truncated, _ = envs.step(action)
            out = rollout.transitions(action, reward, next_obs, terminated, truncated)
            for obs, ret, nxt, term in zip(out.obs, out.reward, out.next_obs, out.terminated):
                assert nxt[1] == obs[1]  # never across sub-envs
                got[int(obs[1])].append((int(obs[0]), float(ret), int(nxt[0]), bool(term)))
            rollout.obs = next_obs
    finally:
        envs.close()
    for env, transitions in got.items():
        assert set(transitions) == expected[env]
        # whole episodes: each transition of an episode as often as the others
        counts = {t: transitions.count(t) for t in expected[env]}
        assert len(set(counts.values())) == 1 and min(counts.values()) >= 4
