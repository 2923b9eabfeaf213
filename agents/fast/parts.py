"""What one hand-written update is given: the networks, optimizers and settings it reads and
writes (`UpdateParts`), and the random draws it takes (`UpdateNoise`), drawn before its math so
that a CUDA graph can replay the math on fresh draws."""

from __future__ import annotations

from typing import NamedTuple

import torch

from agents.fast.layers import ActorLayers, Layers


class UpdateParts(NamedTuple):
    """What one update reads and writes: the networks of K members, α (K,) and the leaf it views,
    the optimizers, the hyperparameters, and each member's generator (None: torch's own)."""

    actor: ActorLayers
    critic: Layers
    critic_target: Layers
    log_alpha: torch.Tensor  # (K,)
    log_alpha_leaf: torch.Tensor
    actor_optimizer: torch.optim.Adam
    critic_optimizer: torch.optim.Adam
    alpha_optimizer: torch.optim.Adam
    discount: float  # of the bootstrapped value: gamma^n_step (SACConfig.target_discount)
    tau: float
    learn_alpha: bool
    target_entropy: float
    generators: tuple[torch.Generator | None, ...]
    critic_layer_norm: bool
    # TQC (agent.critic_quantiles): the pooled target quantiles kept, the smallest; 0: plain Q
    # critics, whose target takes the min over the ensemble.
    kept_atoms: int
    # REDQ (agent.target_subset): the target's min over this many critics drawn at random, the
    # actor on the ensemble's mean; 0: the min over all critics for both.
    target_subset: int


class UpdateNoise(NamedTuple):
    """One update's random draws: the policy's ε (K, rows, A), and with REDQ each member's
    uniform keys (K, n), whose `target_subset` smallest pick the critics of its target ((K, 0)
    without REDQ)."""

    policy: torch.Tensor
    critic_keys: torch.Tensor


def noise_rows(batch_size: int, update_actor: bool) -> int:
    """Rows of each member's ε: next_obs always, obs too when the actor steps."""
    return 2 * batch_size if update_actor else batch_size


def update_noise(
    parts: UpdateParts, batch_size: int, update_actor: bool, out: UpdateNoise | None = None
) -> UpdateNoise:
    """The update's draws: ε ~ N(0, I), (K, 2B, A) when the actor steps (rows [:B] for obs,
    [B:] for next_obs), else (K, B, A) for next_obs; and REDQ's critic keys. Each member's from
    its own generator in the autograd path's order: next_obs rows, keys, obs rows."""
    if out is None:
        out = empty_update_noise(parts, batch_size, update_actor)
    rows = noise_rows(batch_size, update_actor)
    for policy, keys, generator in zip(*out, parts.generators):
        policy[rows - batch_size :].normal_(generator=generator)
        if keys.numel():  # REDQ only: without it, the generator advances as before
            keys.uniform_(generator=generator)
        if rows > batch_size:
            policy[:batch_size].normal_(generator=generator)
    return out


def empty_update_noise(parts: UpdateParts, batch_size: int, update_actor: bool) -> UpdateNoise:
    """`update_noise`'s tensors, allocated and not drawn."""
    members, device = len(parts.generators), parts.log_alpha.device
    action_dim = parts.actor.heads.weights[0].shape[1]
    rows = noise_rows(batch_size, update_actor)
    critics = parts.critic.weights[0].shape[0] // members if parts.target_subset else 0
    return UpdateNoise(
        torch.empty(members, rows, action_dim, device=device),
        torch.empty(members, critics, device=device),
    )
