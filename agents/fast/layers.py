"""A network's parameters as the plain lists of weights and biases the hand-written update
multiplies (`Layers`), for one agent (views of its parameters) or a population's (K, ...) stacks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

from agents.networks import Actor, Critic


class Layers(NamedTuple):
    """A network's affine layers for K members, as plain lists.

    `weights` and `biases` are what the math multiplies, in the parameters' own orientation:
    the actor's (K, out, in) as `nn.Linear`, the critic's (K*n, in, out) (an ensemble of n per
    member counts as K*n), biases (K*n or K, 1, out). `leaves` are the tensors the optimizer
    steps (one agent's parameters, or a population's stacks), weights then biases: gradients
    are assigned to them as views, and Polyak averaging runs on them.

    Why plain lists: indexing an `nn.ModuleList` builds Python objects and each `module.weight`
    goes through `nn.Module.__getattr__`; inside one update that was ~0.2 ms, as much as the
    64x64 networks' matmuls.
    """

    weights: list[torch.Tensor]
    biases: list[torch.Tensor]
    leaves: list[torch.Tensor]

    def set_grads(self, weight_grads: Sequence[torch.Tensor], bias_grads: Sequence[torch.Tensor]):
        for leaf, grad in zip(self.leaves, [*weight_grads, *bias_grads]):
            leaf.grad = grad.view(leaf.shape)


def linear_layers(weights: Sequence[torch.Tensor], biases: Sequence[torch.Tensor]) -> Layers:
    """`Layers` of `nn.Linear`-shaped parameters: (out, in) and (out,) of one agent, or a
    population's stacks (K, out, in) and (K, out)."""
    members = [w if w.dim() == 3 else w.unsqueeze(0) for w in weights]
    return Layers(
        members,
        [b.view(w.shape[0], 1, -1) for b, w in zip(biases, members)],
        [*weights, *biases],
    )


def ensemble_layers(weights: Sequence[torch.Tensor], biases: Sequence[torch.Tensor]) -> Layers:
    """`Layers` of `EnsembleLinear` parameters: (n, in, out) and (n, 1, out) of one agent, or a
    population's stacks (K, n, in, out) and (K, n, 1, out), seen as K*n members."""
    return Layers(
        [w.flatten(0, -3) for w in weights], [b.flatten(0, -3) for b in biases], [*weights, *biases]
    )


class ActorLayers(NamedTuple):
    """The actor's trunk, its two heads (mu, then log σ) and the log σ bounds."""

    trunk: Layers
    heads: Layers
    log_std_min: float
    log_std_max: float


def actor_layers(actor: Actor, trunk: Layers, heads: Layers) -> ActorLayers:
    return ActorLayers(trunk, heads, actor.log_std_min, actor.log_std_max)


def agent_layers(actor: Actor, critic: Critic, critic_target: Critic) -> tuple[ActorLayers, ...]:
    """One agent's networks as `Layers` of one member (views of its parameters)."""
    linears = actor.trunk_linears
    trunk = linear_layers([m.weight for m in linears], [m.bias for m in linears])
    mu, log_std = actor.mu, actor.log_std
    heads = linear_layers([mu.weight, log_std.weight], [mu.bias, log_std.bias])
    ensembles = [
        ensemble_layers([m.weight for m in net.layers], [m.bias for m in net.layers])
        for net in (critic, critic_target)
    ]
    return actor_layers(actor, trunk, heads), *ensembles
