"""Argument and state checks for the agent and the replay buffer.

Each check raises one ValueError that names the bad value, before anything changes: torch and
numpy would otherwise broadcast a wrong shape silently or fail deep inside a matmul.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn


def is_integer(value: Any) -> bool:
    """A Python or numpy integer, not a bool (True would pass as 1) and not a whole float."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def checked_device(device: torch.device | str) -> torch.device:
    """torch.device, refusing CUDA where there is none with a one-line ValueError (torch's own
    error is an AssertionError from deep inside the first allocation)."""
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device} requested, but no CUDA GPU is available")
    return device


def check_sizes(obs_dim: Any, action_dim: Any) -> None:
    """An agent's sizes: positive integers (numpy's too), not floats or bools."""
    for name, size in (("obs_dim", obs_dim), ("action_dim", action_dim)):
        if not is_integer(size) or size < 1:
            raise ValueError(f"{name} must be a positive integer, got {size!r}")


def action_bounds(
    low: np.ndarray | None, high: np.ndarray | None, action_dim: int
) -> tuple[np.ndarray, np.ndarray]:
    """`predict`'s env bounds, checked: both or neither (then [-1, 1]), finite, scalars or of
    shape (action_dim,), low <= high. Why strict: numpy would broadcast any other shape into
    wrong actions silently."""
    if (low is None) != (high is None):
        raise ValueError("give both action_low and action_high, or neither (then [-1, 1])")
    if low is None or high is None:
        return -np.ones(action_dim), np.ones(action_dim)
    low, high = np.asarray(low, np.float64), np.asarray(high, np.float64)
    # A scalar bound means the same bound for every action dimension, as in gymnasium's Box.
    low = np.full(action_dim, float(low)) if low.ndim == 0 else low
    high = np.full(action_dim, float(high)) if high.ndim == 0 else high
    for name, bound in (("action_low", low), ("action_high", high)):
        if bound.shape != (action_dim,):
            raise ValueError(f"{name} has shape {bound.shape}, expected ({action_dim},)")
        if not np.all(np.isfinite(bound)):
            raise ValueError(f"{name} must be finite, got {bound}")
    if np.any(low > high):
        raise ValueError(f"action_low must be <= action_high, got {low} and {high}")
    return low, high


def check_batch(batch: Any, obs_dim: int, action_dim: int) -> None:
    """A hand-built batch with reward (B, 1) would broadcast the target to (B, B) and train on
    it without an error: every field's shape is checked against the batch size."""
    size = batch.action.shape[0]
    expected = {
        "obs": (size, obs_dim),
        "action": (size, action_dim),
        "reward": (size,),
        "next_obs": (size, obs_dim),
        "terminated": (size,),
    }
    for name, shape in expected.items():
        if tuple(getattr(batch, name).shape) != shape:
            raise ValueError(f"batch.{name} has shape {tuple(getattr(batch, name).shape)}, "
                             f"expected {shape}")  # fmt: skip


def check_obs_shape(obs: torch.Tensor, obs_dim: int, finite: bool = False) -> None:
    """One (obs_dim,) observation or a batch (N, obs_dim); torch would regroup other shapes
    of the same size silently (reshape) or fail deep inside a matmul. `finite`: no NaN or inf
    either (for the observation statistics, which one NaN would poison for good)."""
    if obs.dim() not in (1, 2) or obs.shape[-1] != obs_dim:
        raise ValueError(
            f"observations have shape {tuple(obs.shape)}, expected (N, {obs_dim}) or ({obs_dim},)"
        )
    if finite and not bool(torch.isfinite(obs).all()):
        raise ValueError("observations hold NaN or inf; the statistics would stay NaN")


def check_eps_shape(eps: torch.Tensor, expected: tuple[int, int]) -> None:
    """Given acting noise is one row per observation: no silent broadcasting of one eps."""
    if eps.shape != expected:
        raise ValueError(f"eps has shape {tuple(eps.shape)}, expected {expected}")


def check_agent_state(
    state: Mapping[str, Any],
    dims: tuple[int, int],
    networks: Mapping[str, nn.Module],
    optimizers: Mapping[str, torch.optim.Optimizer],
    log_alpha: torch.Tensor,
    obs_norm_state: dict[str, Any] | None,
    clamp_log_std: bool,
    mean_clip: float | None = None,
) -> None:
    """ValueError for a saved agent state that `SACAgent.load_state_dict` could only partly
    apply: missing keys, other sizes, networks or optimizers of another layout, or an actor that
    bounds log σ or clips μ otherwise (the same weights would act otherwise)."""
    required = ("obs_dim", "action_dim", *networks, "log_alpha", *optimizers, "num_updates")
    missing = [key for key in required if key not in state]
    if missing:
        raise ValueError(f"agent state lacks {missing}")
    saved_dims = (state["obs_dim"], state["action_dim"])
    if saved_dims != dims:
        raise ValueError(
            f"checkpoint is for obs_dim={saved_dims[0]}, action_dim={saved_dims[1]}; this agent "
            f"has obs_dim={dims[0]}, action_dim={dims[1]}"
        )
    _check_obs_norm(state.get("obs_norm"), obs_norm_state)
    if clamps_log_std(state) != clamp_log_std:
        raise ValueError("checkpoint and config disagree on agent.clamp_log_std")
    config = state.get("config")
    saved_clip = config.get("mean_clip") if isinstance(config, dict) else None
    if saved_clip != mean_clip:
        raise ValueError(
            f"checkpoint and config disagree on agent.mean_clip ({saved_clip} vs {mean_clip})"
        )
    sde_log_std = state.get("sde_log_std")
    sde_shape = (networks["actor"].mu.in_features, dims[1])
    if sde_log_std is not None and tuple(torch.as_tensor(sde_log_std).shape) != sde_shape:
        raise ValueError(
            f"checkpoint sde_log_std has shape {tuple(torch.as_tensor(sde_log_std).shape)}, "
            f"expected {sde_shape}"
        )
    log_alpha_shape = tuple(torch.as_tensor(state["log_alpha"]).shape)
    if log_alpha_shape != tuple(log_alpha.shape):
        raise ValueError(f"checkpoint log_alpha has shape {log_alpha_shape}")
    if not is_integer(state["num_updates"]) or state["num_updates"] < 0:
        raise ValueError(f"checkpoint num_updates is {state['num_updates']!r}")
    for name, module in networks.items():
        _check_network(name, module.state_dict(), state[name])
    for key, optimizer in optimizers.items():  # what Optimizer.load_state_dict would refuse late
        sizes = [len(group["params"]) for group in optimizer.param_groups]
        saved = state[key]
        groups = saved.get("param_groups") if isinstance(saved, dict) else None
        if not isinstance(groups, list) or [len(g.get("params", ())) for g in groups] != sizes:
            raise ValueError(f"checkpoint {key} does not fit this agent's parameters")


def _check_obs_norm(saved: Any, own: dict[str, Any] | None) -> None:
    if (saved is None) != (own is None):
        raise ValueError("checkpoint and config disagree on agent.normalize_obs")
    for key, value in (own or {}).items():
        saved_value = saved.get(key) if isinstance(saved, dict) else None
        if saved_value is None or np.shape(saved_value) != np.shape(value):
            raise ValueError(f"checkpoint observation statistics: bad {key!r}")


def _check_network(name: str, own: Mapping[str, torch.Tensor], saved: Any) -> None:
    if set(saved) != set(own):
        difference = sorted(set(saved) ^ set(own))
        raise ValueError(
            f"checkpoint networks do not match the config: {name} parameters differ "
            f"({', '.join(difference[:3])})"
        )
    for key, tensor in own.items():
        if tuple(saved[key].shape) != tuple(tensor.shape):
            raise ValueError(
                f"checkpoint networks do not match the config: {name}.{key} has shape "
                f"{tuple(saved[key].shape)}, this agent {tuple(tensor.shape)}"
            )


def clamps_log_std(state: Mapping[str, Any]) -> bool:
    """Whether a saved agent's actor clamps log σ. States saved before `clamp_log_std` existed
    name their actor's class instead: "SB3Actor" for an imported SB3 model's."""
    config = state.get("config")
    if isinstance(config, dict) and "clamp_log_std" in config:
        return bool(config["clamp_log_std"])
    actor_class = state.get("actor_class", "Actor")
    if actor_class not in ("Actor", "SB3Actor"):
        raise ValueError(f"agent state has an actor of unknown class {actor_class!r}")
    return actor_class == "SB3Actor"
