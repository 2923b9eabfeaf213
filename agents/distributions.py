"""Tanh-squashed diagonal Gaussian, the SAC policy distribution (arXiv:1812.05905, Appendix C).

`rsample` returns the action and its log-probability together, computed from the same
pre-tanh sample, so nothing is cached between calls (unlike SB3's distribution objects).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

_LOG_2 = math.log(2.0)
HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def tanh_log_abs_det_jacobian(pre_tanh: torch.Tensor) -> torch.Tensor:
    """log(1 - tanh(u)^2) in the stable form 2 * (log 2 - u - softplus(-2u)).

    The naive log(1 - a^2 + eps) loses all precision once |u| > ~9 (tanh(u) rounds to 1 in
    float32) and biases the entropy by eps; this form is exact for every finite u.
    """
    return 2.0 * (_LOG_2 - pre_tanh - F.softplus(-2.0 * pre_tanh))


class TanhNormal:
    """a = tanh(u), u ~ N(mean, std^2) per dimension; log-probs are summed over the last dim."""

    def __init__(self, mean: torch.Tensor, log_std: torch.Tensor) -> None:
        self.mean = mean
        self.log_std = log_std

    def rsample(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Reparameterized sample u = mean + std * eps, eps ~ N(0, I): gradients reach mean and std.

        Returns (action, log_prob) with shapes (..., A) and (...,).
        """
        eps = torch.randn_like(self.mean)
        pre_tanh = self.mean + self.log_std.exp() * eps
        # log N(u; mean, std) written with eps directly: (u - mean) / std == eps exactly.
        gaussian_log_prob = -0.5 * eps.square() - self.log_std - HALF_LOG_2PI
        log_prob = (gaussian_log_prob - tanh_log_abs_det_jacobian(pre_tanh)).sum(-1)
        return torch.tanh(pre_tanh), log_prob

    def squash(self, eps: torch.Tensor) -> torch.Tensor:
        """The action tanh(mean + std * eps) for a given eps, e.g. temporally correlated noise."""
        return torch.tanh(self.mean + self.log_std.exp() * eps)

    def log_prob_pre_tanh(self, pre_tanh: torch.Tensor) -> torch.Tensor:
        """Log-density of tanh(pre_tanh); taking u rather than a avoids atanh(±1) = inf."""
        z = (pre_tanh - self.mean) * torch.exp(-self.log_std)
        gaussian_log_prob = -0.5 * z.square() - self.log_std - HALF_LOG_2PI
        return (gaussian_log_prob - tanh_log_abs_det_jacobian(pre_tanh)).sum(-1)

    @property
    def mode(self) -> torch.Tensor:
        """The deterministic action tanh(mean), used for evaluation."""
        return torch.tanh(self.mean)
