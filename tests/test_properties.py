"""Properties tried on hundreds of generated inputs (hypothesis): the tanh-Gaussian's actions and
log-probabilities against torch.distributions, the replay buffer against a list of what was
added, and stored transitions against random episode schedules of a real vector env."""

from __future__ import annotations

import numpy as np
import torch
from fake_envs import counter_thunk, sync_vector
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sac_test_support import examples
from torch.distributions import Normal
from torch.distributions.transforms import TanhTransform

from agents.distributions import TanhNormal
from agents.replay_buffer import ReplayBuffer
from envs import TransitionTracker

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0  # the actor's bounds (agent.log_std_min / max)
MEANS = st.floats(-1e4, 1e4, allow_nan=False)  # any pre-squash mean a network gives
LOG_STDS = st.floats(LOG_STD_MIN, LOG_STD_MAX)


@st.composite
def gaussians(draw: st.DrawFn) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(mean, log_std, eps), each (batch, action_dim)."""
    batch, dims = draw(st.integers(1, 4)), draw(st.integers(1, 3))

    def matrix(values: st.SearchStrategy[float]) -> torch.Tensor:
        rows = draw(st.lists(values, min_size=batch * dims, max_size=batch * dims))
        return torch.tensor(rows, dtype=torch.float32).reshape(batch, dims)

    return matrix(MEANS), matrix(LOG_STDS), matrix(st.floats(-6.0, 6.0))


@settings(max_examples=examples(500), deadline=None)
@given(gaussians(), st.integers(0, 2**31))
def test_samples_are_actions_with_finite_log_probs(gaussian, seed: int) -> None:
    mean, log_std, _ = gaussian
    torch.manual_seed(seed)
    action, log_prob = TanhNormal(mean, log_std).rsample()
    # float32 tanh rounds to exactly +-1 beyond |u| ~ 9: closed bounds, open only below that.
    assert torch.all(action.abs() <= 1.0) and torch.isfinite(log_prob).all()
    assert action.shape == mean.shape and log_prob.shape == mean.shape[:1]


@settings(max_examples=examples(500), deadline=None)
@given(gaussians())
def test_log_prob_equals_torch_distributions(gaussian) -> None:
    """log pi(tanh(u)) for u = mean + std * eps, against Normal + TanhTransform in float64."""
    mean, log_std, eps = (tensor.double() for tensor in gaussian)
    pre_tanh = mean + log_std.exp() * eps
    ours = TanhNormal(mean, log_std).log_prob_pre_tanh(pre_tanh)
    oracle = Normal(mean, log_std.exp()).log_prob(pre_tanh) - TanhTransform().log_abs_det_jacobian(
        pre_tanh, torch.tanh(pre_tanh)
    )
    torch.testing.assert_close(ours, oracle.sum(-1), rtol=1e-9, atol=1e-9)
    squashed = TanhNormal(mean, log_std).squash(eps)
    torch.testing.assert_close(squashed, torch.tanh(pre_tanh))


class ReplayBufferMachine(RuleBasedStateMachine):
    """Any sequence of adds (batches of any size, across the wrap) and samples: the buffer holds
    exactly the newest `capacity` transitions added, and samples only those, whole."""

    @initialize(capacity=st.integers(1, 12), obs_dim=st.integers(1, 3))
    def build(self, capacity: int, obs_dim: int) -> None:
        self.buffer = ReplayBuffer(capacity, obs_dim, 1)
        self.capacity, self.obs_dim = capacity, obs_dim
        self.added: list[float] = []  # each transition is named by a number it carries
        self.generator = torch.Generator().manual_seed(0)

    def _transitions(self, names: np.ndarray) -> tuple[np.ndarray, ...]:
        obs = np.repeat(names[:, None], self.obs_dim, axis=1)
        return obs, -names[:, None], names * 2, obs + 0.5, (names % 2 == 0).astype(np.float32)

    @rule(count=st.integers(0, 30))
    def add(self, count: int) -> None:
        names = np.arange(len(self.added), len(self.added) + count, dtype=np.float32)
        self.buffer.add(*self._transitions(names))
        self.added.extend(names.tolist())

    @rule(batch_size=st.integers(1, 40))
    def sample(self, batch_size: int) -> None:
        if not self.added:
            return
        batch = self.buffer.sample(batch_size, self.generator)
        names = batch.obs[:, 0]
        assert set(names.tolist()) <= set(self.added[-self.capacity :])
        expected = self._transitions(names.numpy())
        for got, want in zip(batch, expected, strict=True):  # each row is one whole transition
            assert np.array_equal(got.numpy(), np.asarray(want, dtype=np.float32))

    @rule()
    def reload(self) -> None:
        """A state_dict round trip (a checkpoint) changes nothing."""
        copy = ReplayBuffer(self.capacity, self.obs_dim, 1)
        copy.load_state_dict(self.buffer.state_dict())
        self.buffer = copy

    @invariant()
    def holds_the_newest(self) -> None:
        if not hasattr(self, "buffer"):
            return
        newest = self.added[-self.capacity :]
        assert len(self.buffer) == len(newest)
        stored = self.buffer.storage["obs"][: len(self.buffer), 0]
        assert sorted(stored.tolist()) == sorted(newest)


ReplayBufferMachine.TestCase.settings = settings(
    max_examples=examples(200), stateful_step_count=25, deadline=None
)
TestReplayBufferInvariants = ReplayBufferMachine.TestCase


@settings(max_examples=examples(300), deadline=None)
@given(
    schedules=st.lists(
        st.tuples(st.none() | st.integers(1, 6), st.none() | st.integers(1, 6)),
        min_size=1,
        max_size=3,
    ),
    steps=st.integers(1, 40),
)
def test_stored_transitions_follow_episode_schedules(schedules, steps: int) -> None:
    """Sub-envs ending by termination (terminate_at) and by truncation (a time limit) at random
    lengths: no transition joins one episode's end to the next's start, `terminated` is set for
    exactly the terminal steps, and each step stores one transition per sub-env but those that
    only reset."""
    thunks = [
        counter_thunk(float(i), terminate_at, time_limit)
        for i, (terminate_at, time_limit) in enumerate(schedules)
    ]
    envs, tracker = sync_vector(thunks), TransitionTracker(len(schedules))
    try:
        obs, _ = envs.reset(seed=0)
        action = np.zeros((len(schedules), 1), dtype=np.float32)
        stored, reset_steps = [], 0
        for _ in range(steps):
            reset_steps += int(tracker.resetting.sum())
            next_obs, reward, terminated, truncated, _ = envs.step(action)
            stored.append(tracker.step(obs, action, reward, next_obs, terminated, truncated))
            obs = next_obs
    finally:
        envs.close()
    rows = [
        (o, n, t)
        for batch in stored
        for o, n, t in zip(batch.obs, batch.next_obs, batch.terminated)
    ]
    assert len(rows) == steps * len(schedules) - reset_steps
    for obs_row, next_row, terminated_flag in rows:
        assert next_row[0] == obs_row[0] + 1 and next_row[1] == obs_row[1]  # one episode, one env
        terminate_at = schedules[int(obs_row[1])][0]
        assert bool(terminated_flag) == (terminate_at is not None and next_row[0] == terminate_at)
