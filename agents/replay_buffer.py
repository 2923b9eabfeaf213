"""Circular replay buffer of preallocated float32 tensors, sampled uniformly with torch."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch


class Batch(NamedTuple):
    """A batch of transitions; reward and terminated are (B,), never (B, 1)."""

    obs: torch.Tensor  # (B, obs_dim)
    action: torch.Tensor  # (B, action_dim), in [-1, 1]
    reward: torch.Tensor  # (B,)
    next_obs: torch.Tensor  # (B, obs_dim), the true next observation, also at truncation
    terminated: torch.Tensor  # (B,), 1.0 only for true terminal states (not time limits)


_FIELDS = Batch._fields


class ReplayBuffer:
    """Stores transitions in tensors allocated once on `device`; the oldest are overwritten."""

    def __init__(
        self, capacity: int, obs_dim: int, action_dim: int, device: torch.device | str = "cpu"
    ) -> None:
        if capacity < 1:
            raise ValueError(f"replay buffer capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.device = torch.device(device)
        shapes = {
            "obs": (obs_dim,),
            "action": (action_dim,),
            "reward": (),
            "next_obs": (obs_dim,),
            "terminated": (),
        }
        self.storage = {
            # empty, not zeros: untouched pages stay unallocated (only [:size] is ever read)
            name: torch.empty((capacity, *shape), dtype=torch.float32, device=self.device)
            for name, shape in shapes.items()
        }
        self.position = 0  # next index to write
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def add(
        self,
        obs: np.ndarray | torch.Tensor,
        action: np.ndarray | torch.Tensor,
        reward: np.ndarray | torch.Tensor,
        next_obs: np.ndarray | torch.Tensor,
        terminated: np.ndarray | torch.Tensor,
    ) -> None:
        """Add a batch of N transitions (leading dim N), wrapping around at capacity."""
        values = dict(zip(_FIELDS, (obs, action, reward, next_obs, terminated)))
        tensors = {
            k: torch.as_tensor(v, dtype=torch.float32).to(self.device) for k, v in values.items()
        }
        n = tensors["reward"].shape[0]
        if n > self.capacity:  # only the newest `capacity` transitions can be kept
            tensors = {k: v[-self.capacity :] for k, v in tensors.items()}
            n = self.capacity
        # At most two contiguous slice copies (before and after the wrap): cheaper per env step
        # than a scatter through an index tensor.
        first = min(n, self.capacity - self.position)
        for name, value in tensors.items():
            self.storage[name][self.position : self.position + first] = value[:first]
            self.storage[name][: n - first] = value[first:]
        self.position = (self.position + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> Batch:
        """Uniform sample with replacement, drawn on the buffer's device (no numpy round trip)."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        index = torch.randint(0, self.size, (batch_size,), device=self.device, generator=generator)
        return Batch(*(self.storage[name][index] for name in _FIELDS))

    def state_dict(self) -> dict[str, Any]:
        """A copy of the filled part only, so a checkpoint of a young run stays small."""
        return {
            "capacity": self.capacity,
            "position": self.position,
            "size": self.size,
            "storage": {k: v[: self.size].cpu().clone() for k, v in self.storage.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["capacity"] != self.capacity:
            raise ValueError(
                f"replay buffer capacity mismatch: checkpoint {state['capacity']}, "
                f"config {self.capacity}"
            )
        for name, value in state["storage"].items():
            if value.shape[1:] != self.storage[name].shape[1:]:
                raise ValueError(f"replay buffer field {name!r} has shape {tuple(value.shape)}")
            self.storage[name][: state["size"]] = value.to(self.device)
        self.position = state["position"]
        self.size = state["size"]
