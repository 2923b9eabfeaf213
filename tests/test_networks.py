"""Actor/critic networks: shapes, the batched critic ensemble vs per-member matmuls, bounds."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from agents.distributions import TanhNormal
from agents.networks import Actor, Critic, EnsembleLinear, mlp

torch.set_num_threads(1)

OBS_DIM, ACTION_DIM, HIDDEN = 5, 3, [32, 32]


@pytest.mark.parametrize("num_critics", [1, 2, 5])
def test_critic_output_shape(num_critics):
    critic = Critic(OBS_DIM, ACTION_DIM, HIDDEN, num_critics)
    q = critic(torch.randn(7, OBS_DIM), torch.rand(7, ACTION_DIM) * 2 - 1)
    assert q.shape == (num_critics, 7)


@pytest.mark.parametrize("num_critics", [1, 2, 5])
def test_critic_ensemble_equals_per_member_matmuls(num_critics):
    torch.manual_seed(0)
    critic = Critic(OBS_DIM, ACTION_DIM, [16, 24, 8], num_critics).double()
    obs = torch.randn(11, OBS_DIM, dtype=torch.float64)
    action = torch.rand(11, ACTION_DIM, dtype=torch.float64) * 2 - 1
    q = critic(obs, action)

    x0 = torch.cat([obs, action], dim=-1)
    for i in range(num_critics):
        x = x0
        for k, layer in enumerate(critic.layers):
            x = x @ layer.weight[i] + layer.bias[i]  # bias[i] is (1, out): broadcasts over B
            if k < len(critic.layers) - 1:
                x = torch.relu(x)
        torch.testing.assert_close(q[i], x.squeeze(-1), atol=1e-6, rtol=0)


def test_critic_members_initialized_differently():
    torch.manual_seed(0)
    critic = Critic(OBS_DIM, ACTION_DIM, HIDDEN, num_critics=3)
    for layer in critic.layers:
        for i in range(3):
            for j in range(i + 1, 3):
                assert not torch.equal(layer.weight[i], layer.weight[j])
                assert not torch.equal(layer.bias[i], layer.bias[j])
    q = critic(torch.randn(4, OBS_DIM), torch.zeros(4, ACTION_DIM))
    assert not torch.equal(q[0], q[1]) and not torch.equal(q[1], q[2])


def test_ensemble_linear_init_bound_and_shapes():
    torch.manual_seed(0)
    layer = EnsembleLinear(3, 64, 7)
    assert layer.weight.shape == (3, 64, 7) and layer.bias.shape == (3, 1, 7)
    bound = 1.0 / 64**0.5
    assert layer.weight.abs().max() <= bound and layer.bias.abs().max() <= bound
    assert layer(torch.randn(3, 5, 64)).shape == (3, 5, 7)


def test_critic_gradients_are_per_member():
    """A loss on member 0 only must give no gradient to the other members' weights."""
    critic = Critic(OBS_DIM, ACTION_DIM, HIDDEN, num_critics=3)
    q = critic(torch.randn(6, OBS_DIM), torch.randn(6, ACTION_DIM))
    q[0].sum().backward()
    for layer in critic.layers:
        assert layer.weight.grad[0].abs().sum() > 0
        assert torch.count_nonzero(layer.weight.grad[1:]) == 0
        assert torch.count_nonzero(layer.bias.grad[1:]) == 0


def test_actor_heads_and_distribution_shapes():
    actor = Actor(OBS_DIM, ACTION_DIM, HIDDEN)
    assert actor.mu.weight.shape == (ACTION_DIM, HIDDEN[-1])
    assert actor.log_std.weight.shape == (ACTION_DIM, HIDDEN[-1])
    dist = actor(torch.randn(9, OBS_DIM))
    assert isinstance(dist, TanhNormal)
    assert dist.mean.shape == (9, ACTION_DIM) and dist.log_std.shape == (9, ACTION_DIM)
    action, log_prob = dist.rsample()
    assert action.shape == (9, ACTION_DIM) and log_prob.shape == (9,)
    assert (action.abs() <= 1).all()


@pytest.mark.parametrize("log_std_min,log_std_max", [(-5.0, 2.0), (-20.0, 2.0), (-3.0, 0.5)])
def test_actor_log_std_bounded_for_huge_inputs(log_std_min, log_std_max):
    torch.manual_seed(0)
    actor = Actor(OBS_DIM, ACTION_DIM, HIDDEN, log_std_min, log_std_max)
    obs = torch.cat([torch.randn(64, OBS_DIM) * scale for scale in (1.0, 1e3, 1e6, -1e6)])
    log_std = actor(obs).log_std
    assert torch.isfinite(log_std).all()
    assert (log_std >= log_std_min).all() and (log_std <= log_std_max).all()
    # The bound is actually reached at huge inputs (saturating), not merely respected.
    big = log_std[128:]
    assert (
        torch.isclose(big, torch.tensor(log_std_min)).any()
        or torch.isclose(big, torch.tensor(log_std_max)).any()
    )


def test_actor_log_std_is_affine_squash_of_head():
    """log_std = min + (max - min) * (tanh(h) + 1) / 2 of the log_std head output h."""
    torch.manual_seed(0)
    actor = Actor(OBS_DIM, ACTION_DIM, HIDDEN, -5.0, 2.0)
    obs = torch.randn(8, OBS_DIM)
    h = actor.log_std(actor.trunk(obs))
    expected = -5.0 + 7.0 * (torch.tanh(h) + 1.0) / 2.0
    torch.testing.assert_close(actor(obs).log_std, expected)
    torch.testing.assert_close(actor(obs).mean, actor.mu(actor.trunk(obs)))


def test_mlp_structure():
    net = mlp(4, [8, 16], 3)
    kinds = [type(m) for m in net]
    assert kinds == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]
    dims = [(m.in_features, m.out_features) for m in net if isinstance(m, nn.Linear)]
    assert dims == [(4, 8), (8, 16), (16, 3)]

    trunk = mlp(4, [8, 16])  # no output layer: ends with ReLU
    assert [type(m) for m in trunk] == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU]
    assert (trunk(torch.randn(5, 4)) >= 0).all()

    assert [type(m) for m in mlp(4, [], 2)] == [nn.Linear]


def test_critic_layer_norm_normalizes_each_hidden_layer():
    """With LayerNorm, scaling a hidden layer's weights and bias by c > 0 leaves Q unchanged
    (the next ReLU sees the same normalized input); without it Q changes."""
    torch.manual_seed(0)
    obs, action = torch.randn(16, 5), torch.randn(16, 2)
    for layer_norm in (True, False):
        critic = Critic(5, 2, [32, 32], num_critics=2, layer_norm=layer_norm)
        q = critic(obs, action)
        with torch.no_grad():
            for layer in critic.layers[:-1]:
                layer.weight.mul_(7.0)
                layer.bias.mul_(7.0)
        scaled = critic(obs, action)
        if layer_norm:
            torch.testing.assert_close(scaled, q, rtol=1e-4, atol=1e-5)
        else:
            assert not torch.allclose(scaled, q, rtol=1e-2)
