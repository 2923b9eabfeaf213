"""REDQ's ensemble (agent.target_subset): the target's min runs over a uniformly random subset
of the critics, drawn anew at each update, and the actor maximizes the ensemble's mean.
(tests/test_manual_update.py and tests/test_population.py hold the fast path to this one.)"""

from __future__ import annotations

import copy
import math

import pytest
import torch
from sac_test_support import random_batch

from agents import SACAgent, SACConfig
from agents.sac import actor_loss, critic_loss


class ConstantCritics(torch.nn.Module):
    """n critics, critic i answering `values[i]` for every (obs, action): (n, B)."""

    def __init__(self, values: list[float]) -> None:
        super().__init__()
        self.values = torch.tensor(values)

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.values[:, None].expand(len(self.values), obs.shape[0])


def chosen_minimum(subset: int, critics: int, draws: int) -> list[float]:
    """How often each critic's value was the target's min, over `draws` updates. Critic i
    answers i, so the min says which is the lowest critic of the drawn subset."""
    torch.manual_seed(0)
    actor = SACAgent(3, 1, SACConfig(hidden_sizes=[8])).actor
    batch = random_batch(3, 1, seed=0, batch_size=2)._replace(
        reward=torch.zeros(2), terminated=torch.zeros(2)
    )
    online = ConstantCritics([0.0] * critics)  # the loss is 0.5 * n * target^2
    target = ConstantCritics([float(i) for i in range(critics)])
    counts = [0] * critics
    for _ in range(draws):
        loss, _ = critic_loss(actor, online, target, batch, torch.tensor(0.0), 1.0, subset)
        counts[round(math.sqrt(2.0 * loss.item() / critics))] += 1
    return [count / draws for count in counts]


@pytest.mark.parametrize("subset", [1, 2, 5])
def test_the_targets_critics_are_a_uniform_random_subset(subset: int) -> None:
    """The lowest of M critics drawn from N without replacement is critic i with probability
    C(N-1-i, M-1) / C(N, M): 0 for the M-1 highest, which a min over fewer or over repeated
    critics would not give, and always critic 0 when M = N."""
    critics, draws = 5, 1500
    frequencies = chosen_minimum(subset, critics, draws)
    expected = [math.comb(critics - 1 - i, subset - 1) / math.comb(critics, subset)
                for i in range(critics)]  # fmt: skip
    for i, (seen, exact) in enumerate(zip(frequencies, expected)):
        if exact in (0.0, 1.0):
            assert seen == exact, (i, frequencies)
        else:  # 4 binomial standard errors
            assert abs(seen - exact) < 4 * math.sqrt(exact * (1 - exact) / draws), (i, frequencies)


def test_without_a_subset_the_target_is_the_min_over_all_critics() -> None:
    assert chosen_minimum(0, 4, 50) == [1.0, 0.0, 0.0, 0.0]


def test_the_actor_maximizes_the_ensembles_mean() -> None:
    torch.manual_seed(0)
    agent = SACAgent(3, 2, SACConfig(hidden_sizes=[16], num_critics=5, target_subset=2))
    obs = torch.randn(8, 3)
    torch.manual_seed(3)
    loss, _, log_prob = actor_loss(agent.actor, agent.critic, obs, torch.tensor(0.2), True)
    torch.manual_seed(3)
    action, _ = agent.actor(obs).rsample()
    mean_q = agent.critic(obs, action).mean(dim=0)  # (B,) over the five critics
    torch.testing.assert_close(loss, (0.2 * log_prob - mean_q).mean())
    torch.manual_seed(3)
    min_loss, _, _ = actor_loss(agent.actor, agent.critic, obs, torch.tensor(0.2))
    assert not torch.isclose(loss, min_loss)  # the min over five is not their mean


@pytest.mark.parametrize("backend", ["manual", "autograd"])
def test_each_update_draws_its_own_subset(backend: str) -> None:
    """Two updates on the same batch and weights from different generator states give
    different critic losses (other subsets), and from the same state the same loss."""
    config = SACConfig(hidden_sizes=[16], num_critics=6, target_subset=1, update_backend=backend)
    torch.manual_seed(0)
    agent = SACAgent(3, 1, config)
    with torch.no_grad():  # target critics that disagree, so the subset matters
        for param in agent.critic_target.parameters():
            param.add_(torch.randn_like(param))
    state = copy.deepcopy(agent.state_dict())  # state_dict() holds the live tensors
    batch = random_batch(3, 1, seed=1, batch_size=16)
    losses = []
    for seed in (5, 5, 6):
        agent.load_state_dict(state)
        torch.manual_seed(seed)
        losses.append(agent.update(batch)["critic_loss"].item())
    assert losses[0] == losses[1]
    assert losses[0] != losses[2]


@pytest.mark.parametrize(
    "overrides, words",
    [
        (dict(target_subset=0), r"agent.target_subset must be in \[1, agent.num_critics\]"),
        (dict(target_subset=3), "got 3 of 2"),
        (dict(target_subset=1.5), "agent.target_subset must be an integer or null"),
        (dict(target_subset=2, critic_quantiles=5), "exclude each other"),
    ],
)
def test_bad_subsets_are_refused(overrides: dict, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        SACConfig(**overrides).validate()
