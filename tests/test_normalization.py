"""Observation normalization: statistics update in training, freeze in eval, survive checkpoints."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sac_test_support import TINY, run_train

from agents import SACAgent, SACConfig
from agents.checkpoint import load_checkpoint
from agents.normalization import RunningObsNorm
from agents.replay_buffer import Batch


def test_running_statistics_match_numpy_over_chunks() -> None:
    rng = np.random.default_rng(0)
    data = rng.normal(loc=[5.0, -3.0, 0.0], scale=[2.0, 0.1, 10.0], size=(1000, 3))
    norm = RunningObsNorm(3)
    for chunk in np.array_split(data, [1, 7, 100, 555]):  # uneven chunks, one of size 1
        norm.update(torch.as_tensor(chunk))
    np.testing.assert_allclose(norm.mean.numpy(), data.mean(0), rtol=1e-6, atol=1e-6)
    # the 1e-4 prior count (variance 1) shifts a variance by at most ~1e-6
    np.testing.assert_allclose(norm.var.numpy(), data.var(0), rtol=1e-4, atol=1e-5)
    normalized = norm(torch.as_tensor(data, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(normalized.mean(0), 0.0, atol=1e-3)
    np.testing.assert_allclose(normalized.std(0), 1.0, atol=1e-3)
    assert norm(torch.full((1, 3), 1e6)).max() == 10.0  # clipped as SB3's VecNormalize
    assert norm(torch.full((1, 3), -1e6)).min() == -10.0  # at both ends
    # An empty batch (SACAgent.observe of no rows) changes nothing; without the guard its mean
    # of zero rows turned the statistics into NaN.
    mean, var, count = norm.mean.clone(), norm.var.clone(), norm.count
    norm.update(torch.empty(0, 3))
    assert torch.equal(norm.mean, mean) and torch.equal(norm.var, var) and norm.count == count


def make_agent() -> SACAgent:
    return SACAgent(3, 1, SACConfig(hidden_sizes=[16, 16], batch_size=8, normalize_obs=True))


def test_acting_and_updating_leave_statistics_frozen() -> None:
    torch.manual_seed(0)
    agent = make_agent()
    agent.observe(np.random.default_rng(0).normal(3.0, 2.0, size=(64, 3)))
    mean, var = agent.obs_norm.mean.clone(), agent.obs_norm.var.clone()
    obs = torch.randn(8, 3) * 2 + 3
    agent.act(obs.numpy(), deterministic=True)
    agent.predict(obs.numpy())
    agent.update(Batch(obs, torch.zeros(8, 1), torch.zeros(8), obs, torch.zeros(8)))
    assert torch.equal(agent.obs_norm.mean, mean) and torch.equal(agent.obs_norm.var, var)


def test_policy_sees_normalized_observations() -> None:
    torch.manual_seed(0)
    agent = make_agent()
    raw = np.random.default_rng(1).normal(100.0, 5.0, size=(32, 3)).astype(np.float32)
    agent.observe(raw)
    expected = torch.tanh(agent.actor(agent.obs_norm(torch.as_tensor(raw))).mean)
    np.testing.assert_allclose(agent.act(raw, deterministic=True), expected.detach().numpy(),
                               rtol=1e-6)  # fmt: skip
    unnormalized = torch.tanh(agent.actor(torch.as_tensor(raw)).mean).detach().numpy()
    assert not np.allclose(agent.act(raw, deterministic=True), unnormalized)


def test_statistics_survive_a_checkpoint_round_trip() -> None:
    agent = make_agent()
    agent.observe(np.random.default_rng(2).normal(-4.0, 3.0, size=(50, 3)))
    buffer = io.BytesIO()
    torch.save(agent.state_dict(), buffer)
    buffer.seek(0)
    restored = make_agent()
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    assert torch.equal(restored.obs_norm.mean, agent.obs_norm.mean)
    assert torch.equal(restored.obs_norm.var, agent.obs_norm.var)
    assert restored.obs_norm.count == agent.obs_norm.count
    plain = SACAgent(3, 1, SACConfig(hidden_sizes=[16, 16]))
    with pytest.raises(ValueError, match="normalize_obs"):
        plain.load_state_dict(agent.state_dict())


def test_training_run_saves_statistics(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_train(run_dir, *TINY, "agent.normalize_obs=true")
    state = load_checkpoint(run_dir)["agent"]["obs_norm"]
    assert state["count"] == pytest.approx(300 + 1, abs=1)  # the reset obs plus one per step
    assert not torch.allclose(state["mean"], torch.zeros(3, dtype=torch.float64))
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["total_steps"] == 300


@pytest.mark.parametrize("backend", ["manual", "autograd"])
def test_update_trains_on_normalized_observations(backend: str) -> None:
    """An update on raw observations equals a plain agent's update on the same observations
    normalized by hand: both backends share the normalization, so comparing them cannot tell."""
    config = dict(hidden_sizes=[16, 16], batch_size=8, update_backend=backend)
    torch.manual_seed(0)
    normed = SACAgent(3, 1, SACConfig(normalize_obs=True, **config))
    plain = SACAgent(3, 1, SACConfig(**config))
    plain.load_state_dict({**normed.state_dict(), "obs_norm": None})
    normed.observe(np.random.default_rng(0).normal(100.0, 5.0, (64, 3)))  # far from N(0, 1)
    g = torch.Generator().manual_seed(1)
    obs, next_obs = (torch.randn(8, 3, generator=g) * 5 + 100 for _ in range(2))
    action, reward = torch.rand(8, 1, generator=g) * 2 - 1, torch.randn(8, generator=g)
    raw = Batch(obs, action, reward, next_obs, torch.zeros(8))
    by_hand = raw._replace(obs=normed.obs_norm(obs), next_obs=normed.obs_norm(next_obs))
    for agent, batch in ((normed, raw), (plain, by_hand)):
        torch.manual_seed(2)  # the same noise for both
        agent.update(batch)
    for name in ("actor", "critic", "critic_target"):
        for key, value in plain.state_dict()[name].items():
            torch.testing.assert_close(normed.state_dict()[name][key], value, msg=key)
