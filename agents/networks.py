"""Actor and critic networks. The critic is n Q-networks run as one batched ensemble."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from agents.distributions import TanhNormal

LAYER_NORM_EPS = 1e-5  # nn.LayerNorm's default


def mlp(in_dim: int, hidden_sizes: Sequence[int], out_dim: int | None = None) -> nn.Sequential:
    """Linear+ReLU layers; a final linear layer to `out_dim` when given."""
    layers: list[nn.Module] = []
    for width in hidden_sizes:
        # In place: Linear's backward needs its input, not its output, so ReLU may overwrite it.
        layers += [nn.Linear(in_dim, width), nn.ReLU(inplace=True)]
        in_dim = width
    if out_dim is not None:
        layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)


class Actor(nn.Module):
    """obs -> TanhNormal policy. Separate `mu` / `log_std` heads mirror SB3's layout."""

    def __init__(
        self,
        obs_dim: int,
        action_dim: int,
        hidden_sizes: Sequence[int],
        log_std_min: float = -5.0,
        log_std_max: float = 2.0,
        clamp_log_std: bool = False,
        mean_clip: float | None = None,
    ) -> None:
        super().__init__()
        self.trunk = mlp(obs_dim, hidden_sizes)
        self.mu = nn.Linear(hidden_sizes[-1], action_dim)
        self.log_std = nn.Linear(hidden_sizes[-1], action_dim)
        self.log_std_min = log_std_min
        self.log_std_max = log_std_max
        # SB3 clamps log σ hard (sac/policies.py); an imported SB3 actor keeps that, so that its
        # stochastic actions follow SB3's distribution exactly.
        self.clamp_log_std = clamp_log_std
        # SB3's gSDE actor clips μ (nn.Hardtanh(-clip_mean, clip_mean), the same as a clamp);
        # an imported one keeps that, so that its deterministic action tanh(μ) is SB3's.
        self.mean_clip = mean_clip

    @property
    def trunk_linears(self) -> list[nn.Linear]:
        """The trunk's Linear layers in order (the ReLUs between them hold no parameters)."""
        return [m for m in self.trunk if isinstance(m, nn.Linear)]

    def forward(self, obs: torch.Tensor) -> TanhNormal:
        features = self.trunk(obs)
        mean = self.mu(features)
        if self.mean_clip is not None:
            mean = mean.clamp(-self.mean_clip, self.mean_clip)
        if self.clamp_log_std:
            log_std = self.log_std(features).clamp(self.log_std_min, self.log_std_max)
            return TanhNormal(mean, log_std)
        # Squash log σ smoothly into [min, max] (as in pytorch_sac / CleanRL) rather than clamping,
        # so the bound never zeroes the gradient.
        unit = torch.tanh(self.log_std(features))
        log_std = self.log_std_min + 0.5 * (self.log_std_max - self.log_std_min) * (unit + 1.0)
        return TanhNormal(mean, log_std)


class EnsembleLinear(nn.Module):
    """n independent linear layers applied with one batched matmul: (n, B, in) -> (n, B, out)."""

    def __init__(self, num_members: int, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_members, in_dim, out_dim))
        self.bias = nn.Parameter(torch.empty(num_members, 1, out_dim))
        # Same distribution as nn.Linear's default init, drawn independently per member.
        bound = 1.0 / math.sqrt(in_dim)
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


def quantile_levels(quantiles: torch.Tensor) -> torch.Tensor:
    """The levels tau_i = (2i + 1) / (2Q) that a TQC critic's Q outputs (the last dimension of
    `quantiles`) estimate, as a (Q,) tensor of its dtype and device."""
    count = quantiles.shape[-1]
    levels = torch.arange(count, device=quantiles.device, dtype=quantiles.dtype)
    return levels.add_(0.5).div_(count)


class Critic(nn.Module):
    """n Q-networks Q_i(obs, action) evaluated together; output (n, B), or with `quantiles`
    (TQC) each network's that many quantiles of the return, (n, B, quantiles).

    With `layer_norm`, each hidden layer's pre-activation is normalized over its units before
    the ReLU (Linear -> LayerNorm -> ReLU, DroQ's order). Unlike DroQ's and RLPD's Flax
    LayerNorm, it has no learned gain or bias (and DroQ's dropout is not here): the critic keeps
    exactly the parameters (and checkpoint keys) of the plain one, and the hand-written update
    needs no extra gradients. What that gives up: each ReLU sees a zero-mean, unit-variance
    input per sample; the next layer learns the scale after it, nothing learns a shift before.
    """

    def __init__(
        self,
        obs_dim: int,
        action_dim: int,
        hidden_sizes: Sequence[int],
        num_critics: int = 2,
        layer_norm: bool = False,
        quantiles: int = 0,
    ) -> None:
        super().__init__()
        self.num_critics = num_critics
        self.layer_norm = layer_norm
        self.quantiles = quantiles
        dims = [obs_dim + action_dim, *hidden_sizes, max(quantiles, 1)]
        self.layers = nn.ModuleList(
            EnsembleLinear(num_critics, d_in, d_out) for d_in, d_out in zip(dims[:-1], dims[1:])
        )

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        x = torch.cat([obs, action], dim=-1)  # (B, D)
        x = x.unsqueeze(0).expand(self.num_critics, *x.shape)  # (n, B, D), no copy
        for layer in self.layers[:-1]:
            x = layer(x)  # (n, B, H)
            if self.layer_norm:
                x = F.layer_norm(x, x.shape[-1:], eps=LAYER_NORM_EPS)
            x = x.relu_()  # in place is safe, as in mlp()
        out = self.layers[-1](x)  # (n, B, quantiles or 1)
        return out if self.quantiles else out.squeeze(-1)
