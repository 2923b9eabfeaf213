"""Circular replay buffer of preallocated float32 tensors, sampled uniformly with torch."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch

from agents.validation import checked_device, is_integer


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
        if obs_dim < 1 or action_dim < 1:
            raise ValueError(f"obs_dim and action_dim must be >= 1, got {obs_dim}, {action_dim}")
        self.capacity = capacity
        self.device = checked_device(device)
        widths = self.field_widths(obs_dim, action_dim)
        # One (capacity, width) row tensor; each field is a column view of it. Why: a sample is
        # then one gather of B rows instead of one per field, and an add one row copy; at batch
        # 256 a gather costs ~12 µs of overhead, so five of them were a few % of a small update.
        # `empty`, not `zeros`: untouched pages stay unallocated (only [:size] is ever read).
        self._widths = list(widths.values())
        self.rows = torch.empty(
            (capacity, sum(self._widths)), dtype=torch.float32, device=self.device
        )
        self._columns: dict[str, slice | int] = {}
        offset = 0
        for name, width in widths.items():
            scalar = name in ("reward", "terminated")  # stored (capacity,), sampled (B,)
            self._columns[name] = offset if scalar else slice(offset, offset + width)
            offset += width
        self.storage = {name: self.rows[:, col] for name, col in self._columns.items()}
        self.position = 0  # next index to write
        self.size = 0

    @staticmethod
    def field_widths(obs_dim: int, action_dim: int) -> dict[str, int]:
        """Each field's float32 columns in a stored row (their sum: one transition's width)."""
        return dict(obs=obs_dim, action=action_dim, reward=1, next_obs=obs_dim, terminated=1)

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
        fields = (obs, action, reward, next_obs, terminated)
        n = len(reward)
        if n == 0:  # e.g. an autoreset step of every env: nothing to store
            return
        for name, value in zip(_FIELDS, fields):  # reshape below must not regroup numbers
            if len(value) != n:
                raise ValueError(f"{name} has {len(value)} leading rows, the reward has {n}")
        if all(isinstance(v, np.ndarray) for v in fields):  # the env loop's case: one numpy concat
            parts = [np.asarray(v, dtype=np.float32).reshape(n, -1) for v in fields]
        else:
            parts = [torch.as_tensor(v, dtype=torch.float32).reshape(n, -1) for v in fields]
        widths = [p.shape[1] for p in parts]
        if widths != self._widths:
            raise ValueError(
                "transition widths (obs, action, reward, next_obs, terminated) are "
                f"{widths}, expected {self._widths}"
            )
        if isinstance(parts[0], np.ndarray):
            rows = torch.from_numpy(np.concatenate(parts, axis=1)).to(self.device)
        else:
            rows = torch.cat([p.to(self.device) for p in parts], dim=1)
        if n > self.capacity:  # only the newest `capacity` transitions can be kept
            rows, n = rows[-self.capacity :], self.capacity
        # At most two contiguous slice copies (before and after the wrap): cheaper per env step
        # than a scatter through an index tensor.
        first = min(n, self.capacity - self.position)
        self.rows[self.position : self.position + first] = rows[:first]
        if first < n:
            self.rows[: n - first] = rows[first:]
        self.position = (self.position + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> Batch:
        """Uniform sample with replacement, drawn on the buffer's device (no numpy round trip)."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        if not is_integer(batch_size) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        index = torch.randint(0, self.size, (batch_size,), device=self.device, generator=generator)
        rows = self.rows[index]
        return Batch(*(rows[:, self._columns[name]] for name in _FIELDS))

    def state_dict(self) -> dict[str, Any]:
        """A copy of the filled part only, so a checkpoint of a young run stays small."""
        return {
            "capacity": self.capacity,
            "position": self.position,
            "size": self.size,
            "storage": {k: v[: self.size].cpu().clone() for k, v in self.storage.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from `state_dict()`; everything is checked first, so a malformed state raises
        ValueError and leaves the buffer as it was (a missing field would otherwise leave
        uninitialized memory in the samples, a bad position overwrite the wrong rows)."""
        if state["capacity"] != self.capacity:
            raise ValueError(
                f"replay buffer capacity mismatch: checkpoint {state['capacity']}, "
                f"config {self.capacity}"
            )
        size, position, storage = state["size"], state["position"], state["storage"]
        if not (0 <= size <= self.capacity and 0 <= position < self.capacity):
            raise ValueError(
                f"replay buffer size {size} / position {position} do not fit capacity "
                f"{self.capacity}"
            )
        if size < self.capacity and position != size:  # filled in order until it first wraps
            raise ValueError(f"replay buffer position {position} does not follow its size {size}")
        if set(storage) != set(self.storage):
            raise ValueError(f"replay buffer fields {sorted(storage)}, expected {_FIELDS}")
        for name, value in storage.items():
            if tuple(value.shape) != (size, *self.storage[name].shape[1:]):
                raise ValueError(f"replay buffer field {name!r} has shape {tuple(value.shape)}")
        for name, value in storage.items():
            self.storage[name][:size] = value.to(self.device)
        self.position, self.size = position, size
