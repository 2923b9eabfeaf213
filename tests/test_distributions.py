"""TanhNormal checked against independent oracles: torch's TransformedDistribution, SB3's
squashed Gaussian and float64 evaluations of log(1 - tanh(u)^2)."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal, TanhTransform, TransformedDistribution

from agents.distributions import TanhNormal, tanh_log_abs_det_jacobian

torch.set_num_threads(1)

# (mean, std) cases: scalar-action and multi-dimensional, narrow and wide.
CASES = [
    ([0.0], [1.0]),
    ([0.7], [0.3]),
    ([-1.2, 0.4], [0.5, 1.5]),
    ([0.1, -0.3, 2.0, -0.8], [0.05, 0.8, 0.4, 1.0]),
]


def _batched(mean, std, batch=64, dtype=torch.float64):
    mean_t = torch.tensor(mean, dtype=dtype).expand(batch, len(mean)).clone()
    log_std_t = torch.tensor(std, dtype=dtype).log().expand(batch, len(std)).clone()
    return mean_t, log_std_t


@pytest.mark.parametrize("mean,std", CASES)
def test_rsample_log_prob_matches_torch_transformed_distribution(mean, std):
    torch.manual_seed(0)
    mean_t, log_std_t = _batched(mean, std)
    action, log_prob = TanhNormal(mean_t, log_std_t).rsample()
    assert action.shape == mean_t.shape and log_prob.shape == mean_t.shape[:1]
    assert action.dtype == torch.float64

    oracle = TransformedDistribution(Normal(mean_t, log_std_t.exp()), TanhTransform())
    accurate = (action.abs() < 0.999).all(-1)  # atanh is only accurate away from ±1
    assert accurate.sum() >= 16
    expected = oracle.log_prob(action).sum(-1)
    torch.testing.assert_close(log_prob[accurate], expected[accurate], atol=1e-4, rtol=0)


@pytest.mark.parametrize("mean,std", CASES)
def test_log_prob_pre_tanh_matches_torch_transformed_distribution(mean, std):
    torch.manual_seed(1)
    mean_t, log_std_t = _batched(mean, std)
    pre_tanh = mean_t + log_std_t.exp() * torch.randn_like(mean_t)
    action = torch.tanh(pre_tanh)
    accurate = (action.abs() < 0.999).all(-1)
    oracle = TransformedDistribution(Normal(mean_t, log_std_t.exp()), TanhTransform())
    got = TanhNormal(mean_t, log_std_t).log_prob_pre_tanh(pre_tanh)
    torch.testing.assert_close(
        got[accurate], oracle.log_prob(action).sum(-1)[accurate], atol=1e-4, rtol=0
    )


def test_log_prob_pre_tanh_stable_for_large_pre_tanh_float32():
    u = torch.tensor([-20.0, -15.0, -10.0, 10.0, 15.0, 20.0]).unsqueeze(-1)  # (6, 1): 1-D actions
    # Gaussian centred on u with unit std: the Gaussian part is exactly -0.5*log(2*pi).
    dist = TanhNormal(u.clone(), torch.zeros_like(u))
    got = dist.log_prob_pre_tanh(u)
    assert got.dtype == torch.float32
    assert torch.isfinite(got).all()

    # Asymptote of log(1 - tanh(u)^2) = log 4 - 2|u| - 2*log(1 + exp(-2|u|)), the last term < 5e-9.
    asymptote = math.log(4.0) - 2.0 * u.squeeze(-1).abs()
    expected = -0.5 * math.log(2.0 * math.pi) - asymptote
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-5)

    # Per-dimension Jacobian term too.
    jac = tanh_log_abs_det_jacobian(u).squeeze(-1)
    torch.testing.assert_close(jac, asymptote, atol=1e-4, rtol=1e-5)

    # The naive float32 formula fails here, so the check above is meaningful.
    naive = torch.log(1.0 - torch.tanh(u) ** 2)
    assert torch.isinf(naive).all() and (naive < 0).all()


def test_tanh_log_abs_det_jacobian_matches_float64_naive():
    u = torch.linspace(-6.0, 6.0, 241, dtype=torch.float64)
    expected = torch.log(1.0 - torch.tanh(u) ** 2)
    torch.testing.assert_close(tanh_log_abs_det_jacobian(u), expected, atol=1e-10, rtol=1e-10)
    # float32 input, compared against the float64 reference.
    got32 = tanh_log_abs_det_jacobian(u.float()).double()
    torch.testing.assert_close(got32, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mean,std", CASES)
def test_log_prob_agrees_with_sb3_squashed_gaussian(mean, std):
    from stable_baselines3.common.distributions import SquashedDiagGaussianDistribution

    torch.manual_seed(2)
    mean_t, log_std_t = _batched(mean, std, batch=128)
    action_dim = mean_t.shape[-1]
    dist = TanhNormal(mean_t, log_std_t)
    action, log_prob = dist.rsample()
    gaussian_action = torch.atanh(action)  # float64, accurate for |a| < 0.9
    keep = (action.abs() < 0.9).all(-1)
    assert keep.sum() >= 8

    sb3 = SquashedDiagGaussianDistribution(action_dim).proba_distribution(mean_t, log_std_t)
    expected = sb3.log_prob(action, gaussian_action)
    torch.testing.assert_close(log_prob[keep], expected[keep], atol=1e-3, rtol=0)
    torch.testing.assert_close(
        dist.log_prob_pre_tanh(gaussian_action)[keep], expected[keep], atol=1e-3, rtol=0
    )


def test_rsample_is_reparameterized():
    torch.manual_seed(3)
    mean = torch.tensor([[0.3, -0.5], [1.0, 0.2]], requires_grad=True)
    log_std = torch.tensor([[-0.2, 0.1], [0.4, -1.0]], requires_grad=True)

    action, _ = TanhNormal(mean, log_std).rsample()
    action.sum().backward()
    assert mean.grad is not None and (mean.grad != 0).all()
    assert log_std.grad is not None and (log_std.grad != 0).all()

    mean.grad = None
    log_std.grad = None
    _, log_prob = TanhNormal(mean, log_std).rsample()
    log_prob.sum().backward()
    assert mean.grad is not None and (mean.grad != 0).all()
    assert log_std.grad is not None and (log_std.grad != 0).all()


def test_mode_is_tanh_mean_and_samples_are_fresh():
    torch.manual_seed(4)
    mean = torch.tensor([[0.3, -0.6, 0.9]])
    log_std = torch.full_like(mean, -1.0)
    dist = TanhNormal(mean, log_std)
    torch.testing.assert_close(dist.mode, torch.tanh(mean), atol=0, rtol=0)

    a1, lp1 = dist.rsample()
    a2, lp2 = dist.rsample()
    assert not torch.equal(a1, a2)
    assert not torch.equal(lp1, lp2)
    # Each sample's log-prob belongs to its own action.
    oracle = TransformedDistribution(Normal(mean.double(), log_std.double().exp()), TanhTransform())
    for a, lp in ((a1, lp1), (a2, lp2)):
        assert (a.abs() < 0.99).all()
        torch.testing.assert_close(
            lp.double(), oracle.log_prob(a.double()).sum(-1), atol=1e-3, rtol=0
        )
