"""Truncated quantile critics (agent.critic_quantiles, TQC): the loss against its definition
computed element by element, the settings' validation, and what cannot take them."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from sac_test_support import random_batch

from agents import SACAgent, SACConfig
from agents.sac import actor_loss, truncated_quantile_loss


def definition_loss(z, next_z, reward, terminated, next_log_prob, alpha, gamma, dropped):
    """TQC's critic loss (Kuznetsov et al. 2020, Eq. 10-12) in plain Python floats: pool the
    target critics' quantiles per transition, drop the `dropped` * n largest, and regress
    each critic's quantile i (level (2i + 1) / 2Q) on every kept atom with the Huber quantile
    loss; mean over transitions, quantiles and atoms, summed over critics."""
    critics, batch, quantiles = len(z), len(z[0]), len(z[0][0])
    total = 0.0
    for n in range(critics):
        per_critic = 0.0
        for b in range(batch):
            pooled = sorted(next_z[m][b][j] for m in range(critics) for j in range(quantiles))
            kept = pooled[: critics * (quantiles - dropped)]
            for i, atom in itertools.product(range(quantiles), kept):
                y = reward[b] + gamma * (1 - terminated[b]) * (atom - alpha * next_log_prob[b])
                delta = y - z[n][b][i]
                huber = 0.5 * delta**2 if abs(delta) <= 1 else abs(delta) - 0.5
                level = (2 * i + 1) / (2 * quantiles)
                per_critic += abs(level - (1.0 if delta < 0 else 0.0)) * huber
        total += per_critic / (batch * quantiles * len(kept))
    return total


@pytest.mark.parametrize("dropped", [0, 1, 3])
def test_the_loss_is_tqcs_definition(dropped: int) -> None:
    config = SACConfig(hidden_sizes=[16], num_critics=3, critic_quantiles=4,
                       quantiles_dropped=dropped, update_backend="autograd")  # fmt: skip
    torch.manual_seed(0)
    agent = SACAgent(3, 2, config)
    with torch.no_grad():  # targets that differ from the critics, so the truncation matters
        for param in agent.critic_target.parameters():
            param.add_(torch.randn_like(param))
    batch = random_batch(3, 2, seed=1, batch_size=6)
    alpha, gamma = torch.tensor(0.3), 0.9
    torch.manual_seed(7)
    loss, metrics = truncated_quantile_loss(agent.actor, agent.critic, agent.critic_target,
                                            batch, alpha, gamma, config.kept_atoms)  # fmt: skip
    torch.manual_seed(7)  # the same policy noise for the next actions
    with torch.no_grad():
        next_action, next_log_prob = agent.actor(batch.next_obs).rsample()
        next_z = agent.critic_target(batch.next_obs, next_action)
        z = agent.critic(batch.obs, batch.action)
    expected = definition_loss(z.tolist(), next_z.tolist(), batch.reward.tolist(),
                               batch.terminated.tolist(), next_log_prob.tolist(), 0.3, gamma,
                               dropped)  # fmt: skip
    assert math.isclose(loss.item(), expected, rel_tol=1e-5)
    assert metrics["q_mean"].item() == pytest.approx(z.mean().item())
    assert config.kept_atoms == 3 * (4 - dropped)


def test_the_actor_maximizes_the_mean_of_all_quantiles() -> None:
    torch.manual_seed(0)
    agent = SACAgent(3, 2, SACConfig(hidden_sizes=[16], critic_quantiles=5))
    obs = torch.randn(8, 3)
    torch.manual_seed(3)
    loss, _, log_prob = actor_loss(agent.actor, agent.critic, obs, torch.tensor(0.2))
    torch.manual_seed(3)
    action, _ = agent.actor(obs).rsample()
    mean_q = agent.critic(obs, action).mean(dim=(0, 2))  # (B,) over critics and quantiles
    torch.testing.assert_close(loss, (0.2 * log_prob - mean_q).mean())


@pytest.mark.parametrize(
    "overrides, words",
    [
        (dict(critic_quantiles=-1), "agent.critic_quantiles must be >= 0"),
        (dict(critic_quantiles=5, quantiles_dropped=5), "agent.quantiles_dropped must be in"),
        (dict(critic_quantiles=5, quantiles_dropped=-1), "agent.quantiles_dropped must be in"),
        (dict(critic_quantiles=2.5), "agent.critic_quantiles must be an integer"),
    ],
)
def test_bad_quantile_settings_are_refused(overrides: dict, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        SACConfig(**overrides).validate()


def test_plain_critics_ignore_quantiles_dropped() -> None:
    config = SACConfig(critic_quantiles=0, quantiles_dropped=7)
    config.validate()  # inert without quantiles
    assert config.kept_atoms == 0


@pytest.mark.parametrize("scale, shift", [(0.5, 0.0), (3.0, 0.0), (30.0, 500.0), (1.0, 2000.0)])
def test_the_fast_loss_from_sorted_atoms_is_the_pairwise_one(scale: float, shift: float) -> None:
    """agents/fast/quantile_loss.py against every (quantile, atom) pair in float64, at returns'
    magnitudes (where sums of atoms dwarf the deltas), with tied atoms and atoms exactly at
    z - 1, z and z + 1 (the bounds of its runs)."""
    from agents.fast.quantile_loss import quantile_huber

    generator = torch.Generator().manual_seed(int(scale * 10 + shift))
    z = torch.randn(2, 3, 16, 5, generator=generator) * scale + shift  # (K, n, B, Q)
    target = torch.randn(2, 16, 12, generator=generator) * scale + shift  # (K, B, kept)
    target[:, :, :3] = target[:, :, :1]  # ties
    target[0, 0, 3:6] = z[0, 1, 0, 2] + torch.tensor([-1.0, 0.0, 1.0])  # on the bounds
    target = target.sort(dim=-1).values
    loss, grad = quantile_huber(z, target)

    z64, target64 = z.double(), target.double()
    delta = target64[:, None, :, None, :] - z64.unsqueeze(-1)  # (K, n, B, Q, kept)
    tau = ((torch.arange(5, dtype=torch.float64) + 0.5) / 5).view(-1, 1)
    weight = torch.where(delta < 0, 1.0 - tau, tau)
    huber = torch.where(delta.abs() <= 1.0, 0.5 * delta**2, delta.abs() - 0.5)
    count = 16 * 5 * 12
    expected_loss = (weight * huber).sum(dim=(1, 2, 3, 4)) / count
    expected_grad = -(weight * delta.clamp(-1.0, 1.0)).sum(dim=-1) / count
    torch.testing.assert_close(loss, expected_loss.float(), rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(grad, expected_grad.float(), rtol=1e-5, atol=1e-7)
