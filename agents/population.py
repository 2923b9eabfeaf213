"""A population: K independent SAC agents (members) trained by one member-batched update.

Each member is a whole `SACAgent` (it acts, evaluates, saves and exports as any agent), but its
parameters are views of the population's stacked tensors, (K, ...) each, so one update of
agents/fast/ updates them all: every matmul is one batched matmul over the members, and the
optimizers step the stacks with one fused Adam kernel. Nothing mixes members: each gets the
update it would get alone, on its own batch and its own noise (tests/test_population.py).

Why: at SAC's sizes an update is dominated by the fixed cost of each small op, not its math;
batching K seeds pays that cost once for all of them.

A single run is a population of one. Its stacks are (1, ...) and it draws from torch's default
generator, as a lone agent does; with the manual backend its results are bit-identical to the
agent's own `update` (on CPU). The autograd backend (the reference) updates one member only.
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from agents.fast import (
    UpdateParts,
    actor_layers,
    ensemble_layers,
    fast_update_path,
    linear_layers,
    update_step,
)
from agents.optim import make_adam
from agents.replay_buffer import Batch
from agents.sac import Metrics, SACAgent
from agents.validation import check_batch

_NETWORKS = ("actor", "critic", "critic_target")
# What each stacked optimizer steps: its stacks' name, and the SACAgent optimizer and learning
# rate it stands in for.
_OPTIMIZED = {
    "actor": ("actor_optimizer", "actor_lr"),
    "critic": ("critic_optimizer", "critic_lr"),
    "log_alpha": ("alpha_optimizer", "alpha_lr"),
}


def fork_generator(device: torch.device) -> torch.Generator:
    """A generator continuing the default one's stream for `device` from where it is now: a
    member built after `torch.manual_seed(s)` then draws what a lone agent seeded `s` draws."""
    generator = torch.Generator(device=device)
    if device.type == "cuda":
        generator.set_state(torch.cuda.get_rng_state(device))
    else:
        generator.set_state(torch.get_rng_state())
    return generator


class Population:
    """K members with the same config, updated together; `update` takes one batch per member."""

    def __init__(self, members: list[SACAgent]) -> None:
        if not members:
            raise ValueError("a population needs at least one member")
        self.members = members
        first = members[0]
        self.config, self.device = first.config, first.device
        if any(m.config != self.config or m.device != self.device for m in members):
            raise ValueError("the members of a population share one config and device")
        if self.config.update_backend == "autograd" and len(members) > 1:
            raise ValueError(
                "a population of several members needs agent.update_backend=manual (the "
                "autograd backend, the reference, updates one agent at a time)"
            )
        self._compiled_step = None
        self._stacks: dict[str, list[torch.Tensor]] = {}
        self._optimizers: dict[str, torch.optim.Adam] = {}
        if self.config.update_backend == "manual":
            self._stack_members()
        self._fast = fast_update_path(self.config.cuda_graphs, self.device, None)

    def __len__(self) -> int:
        return len(self.members)

    @property
    def stacked(self) -> bool:
        """True when the members' parameters live in the population's stacks (manual backend);
        their state is then `member_state_dict`'s, not the members' own optimizers'."""
        return bool(self._optimizers)

    # -- the stacks

    def _stack_members(self) -> None:
        """Move every member's parameters into (K, ...) stacks, leaving views in the members, and
        stack their optimizers' state (a resumed member's moments) the same way."""
        groups = {
            name: [list(getattr(member, name).parameters()) for member in self.members]
            for name in _NETWORKS
        }
        groups["log_alpha"] = [[member.log_alpha] for member in self.members]
        for name, per_member in groups.items():
            stacks = [torch.stack([p.detach() for p in same]) for same in zip(*per_member)]
            for index, params in enumerate(per_member):
                for param, stack in zip(params, stacks):
                    param.data = stack[index]  # the member's own Parameter, now a view
            self._stacks[name] = stacks
        for name, (optimizer_name, lr_name) in _OPTIMIZED.items():
            lr = getattr(self.config, lr_name)
            optimizer = make_adam(self._stacks[name], lr, self.device)
            self._optimizers[name] = optimizer
            own = [getattr(member, optimizer_name) for member in self.members]
            self._stack_optimizer_state(optimizer, own)
        self._parts = self._build_parts()

    def _stack_optimizer_state(
        self, optimizer: torch.optim.Adam, member_optimizers: list[torch.optim.Adam]
    ) -> None:
        states = [o.state_dict()["state"] for o in member_optimizers]
        if not states[0]:  # no step taken yet: Adam creates its state at the first step
            return
        for index, stack in enumerate(optimizer.param_groups[0]["params"]):
            saved = [state[index] for state in states]
            optimizer.state[stack] = {
                "step": saved[0]["step"].detach().clone().to(self.device),
                "exp_avg": torch.stack([s["exp_avg"] for s in saved]).to(self.device),
                "exp_avg_sq": torch.stack([s["exp_avg_sq"] for s in saved]).to(self.device),
            }
        for own in member_optimizers:  # the stacks hold the moments now: one copy, not two
            own.state.clear()

    def _build_parts(self) -> UpdateParts:
        config, first = self.config, self.members[0]
        stacks = self._stacks
        trunk_count = len(first.actor.trunk_linears)
        actor = stacks["actor"]  # parameters() order: trunk (weight, bias)..., mu, log_std
        trunk = linear_layers(actor[0 : 2 * trunk_count : 2], actor[1 : 2 * trunk_count : 2])
        heads = linear_layers(actor[2 * trunk_count :: 2], actor[2 * trunk_count + 1 :: 2])
        critics = [ensemble_layers(stacks[n][0::2], stacks[n][1::2]) for n in _NETWORKS[1:]]
        generators = tuple(m.generator for m in self.members)
        (log_alpha,) = stacks["log_alpha"]
        return UpdateParts(
            actor_layers(first.actor, trunk, heads), *critics, log_alpha, log_alpha,
            self._optimizers["actor"], self._optimizers["critic"], self._optimizers["log_alpha"],
            config.target_discount, config.tau, config.learn_alpha, first.target_entropy,
            generators,
            config.critic_layer_norm, config.kept_atoms, config.target_subset_size,
        )  # fmt: skip

    def compile(self) -> None:
        """torch.compile the population's update (see `SACAgent.compile`)."""
        if self.config.update_backend == "autograd":
            self.members[0].compile()
            return
        self._compiled_step = torch.compile(update_step)
        self._fast = fast_update_path(self.config.cuda_graphs, self.device, self._compiled_step)

    # -- the update

    def update(self, batches: list[Batch]) -> Metrics:
        """One SAC update of every member on its own batch; metrics (K,) per key."""
        members = self.members
        if len(batches) != len(members):
            raise ValueError(f"{len(batches)} batches for {len(members)} members")
        if self.config.update_backend == "autograd":
            metrics = members[0].update(batches[0])
            return {key: value.reshape(1) for key, value in metrics.items()}
        normalized = []
        for member, batch in zip(members, batches):
            check_batch(batch, member.obs_dim, member.action_dim)
            if member.obs_norm is not None:  # each member's own statistics
                batch = batch._replace(
                    obs=member.normalize(batch.obs), next_obs=member.normalize(batch.next_obs)
                )
            normalized.append(batch)
        if len(normalized) == 1:
            stacked = Batch(*(field.unsqueeze(0) for field in normalized[0]))  # views
        else:
            stacked = Batch(*(torch.stack(fields) for fields in zip(*normalized)))
        update_actor = members[0].num_updates % self.config.actor_update_every == 0
        metrics = self._fast(self._parts, stacked, update_actor)
        for member in members:
            member.num_updates += 1
        return metrics

    # -- one member's state, in a lone agent's format

    def member_state_dict(self, index: int) -> dict[str, Any]:
        """Member `index` as `SACAgent.state_dict()` of a lone agent: copies, not views (a saved
        view would carry the whole stack), with its slice of the stacked optimizer state."""
        member = self.members[index]
        state = member.state_dict()
        if not self._optimizers:
            return state
        for name in _NETWORKS:
            state[name] = {key: value.clone() for key, value in state[name].items()}
        for name, (optimizer_name, _) in _OPTIMIZED.items():
            optimizer = self._optimizers[name]
            state[optimizer_name] = self._member_optimizer_state(
                optimizer, state[optimizer_name], index
            )
        return state

    @staticmethod
    def _member_optimizer_state(
        optimizer: torch.optim.Adam, member_state: dict[str, Any], index: int
    ) -> dict[str, Any]:
        member_state = {"state": {}, "param_groups": copy.deepcopy(member_state["param_groups"])}
        for position, stack in enumerate(optimizer.param_groups[0]["params"]):
            state = optimizer.state.get(stack)
            if not state:
                continue
            member_state["state"][position] = {
                "step": state["step"].detach().clone(),
                "exp_avg": state["exp_avg"][index].clone(),
                "exp_avg_sq": state["exp_avg_sq"][index].clone(),
            }
        return member_state
