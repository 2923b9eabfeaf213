"""Running mean/std observation normalization, updated only from collected training data."""

from __future__ import annotations

from typing import Any

import torch


class RunningObsNorm:
    """Tracks per-dimension mean and variance of observations (Chan et al.'s parallel update,
    in float64 so millions of steps do not drift) and normalizes with them.

    Only the training loop calls `update`; acting, evaluation and gradient updates merely read
    the statistics, so an evaluation never changes them. Normalized values are clipped to
    [-clip, clip] as SB3's VecNormalize does (clip_obs=10).
    """

    def __init__(
        self, obs_dim: int, device: torch.device | str = "cpu", clip: float = 10.0
    ) -> None:
        self.mean = torch.zeros(obs_dim, dtype=torch.float64, device=device)
        self.var = torch.ones(obs_dim, dtype=torch.float64, device=device)
        self.count = 1e-4  # a tiny prior count: the first batch sets the statistics
        self.clip = clip

    def update(self, obs: torch.Tensor) -> None:
        """Fold a batch (N, obs_dim) into the statistics."""
        obs = obs.to(self.mean.device, torch.float64).reshape(-1, self.mean.shape[0])
        batch_count = obs.shape[0]
        if batch_count == 0:
            return
        batch_mean = obs.mean(dim=0)
        batch_var = obs.var(dim=0, unbiased=False)
        delta = batch_mean - self.mean
        total = self.count + batch_count
        self.mean = self.mean + delta * (batch_count / total)
        m2 = self.var * self.count + batch_var * batch_count
        self.var = (m2 + delta.square() * (self.count * batch_count / total)) / total
        self.count = total

    def __call__(self, obs: torch.Tensor) -> torch.Tensor:
        mean, std = self.mean_std(obs.dtype)
        return ((obs - mean) / std).clamp(-self.clip, self.clip)

    def mean_std(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """The mean and std that normalizing subtracts and divides by, in `dtype` (an exported
        graph holds them as constants)."""
        return self.mean.to(dtype), torch.sqrt(self.var + 1e-8).to(dtype)

    def state_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.cpu().clone(), "var": self.var.cpu().clone(),
                "count": self.count, "clip": self.clip}  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["mean"].shape != self.mean.shape:
            raise ValueError(f"observation statistics have shape {tuple(state['mean'].shape)}, "
                             f"expected {tuple(self.mean.shape)}")  # fmt: skip
        self.mean = state["mean"].to(self.mean.device, torch.float64)
        self.var = state["var"].to(self.var.device, torch.float64)
        self.count, self.clip = float(state["count"]), float(state["clip"])
