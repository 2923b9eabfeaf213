"""The manual SAC update replayed as a CUDA graph: ~150 kernel launches become one replay.

Why: on a GPU, SAC's small matmuls finish faster than the CPU can launch them, so an eager update
is bound by launch overhead. `torch.cuda.graphs` records the update once and replays it; the
math is `manual_update`'s, the batch and the update's noise are copied into (drawn into) static
tensors before each replay, and the optimizers are created `capturable` so their steps can be
recorded. `SACAgent.load_state_dict` drops the graphs, since they hold the old tensors' memory.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from agents.fast.manual_update import Metrics, manual_update, update_step
from agents.fast.parts import UpdateNoise, UpdateParts, empty_update_noise, update_noise
from agents.replay_buffer import Batch


class GraphedUpdate:
    """Callable like `manual_update(parts, batch, update_actor)`; each kind of update (with the
    actor step, critic only) runs eagerly for its first `warmup` calls, then is recorded once
    and replayed.

    A graph bakes in what it was recorded with: the modules and optimizers, their tensors, and
    the hyperparameters (learning rates, gamma, tau, alpha settings). Those form each graph's
    key, so changing any of them records a new graph instead of replaying a stale one.
    The returned metrics are views of the graph's outputs: the next replay overwrites their
    values, so a caller that keeps them across updates must clone them (the training loop logs
    each key's latest value, which is what a view holds: the actor and critic-only graphs have
    outputs of their own).
    """

    def __init__(self, warmup: int = 3) -> None:
        self.warmup = warmup  # eager runs first, so lazy state (Adam moments, cuBLAS) exists
        self.eager_runs: dict[bool, int] = {True: 0, False: 0}
        self.batch: Batch | None = None
        # Each graph has its own memory pool: they may replay in any order.
        self.graphs: dict[tuple, tuple[torch.cuda.CUDAGraph, UpdateNoise, Metrics]] = {}

    @staticmethod
    def _key(parts: UpdateParts, update_actor: bool) -> tuple:
        optimizers = (parts.actor_optimizer, parts.critic_optimizer, parts.alpha_optimizer)
        return (
            update_actor,
            *(id(layers.leaves[0]) for layers in (parts.actor.trunk, parts.critic)),
            id(parts.critic_target.leaves[0]),
            *(id(o) for o in optimizers),
            parts.generators,
            *(o.param_groups[0]["lr"] for o in optimizers),
            parts.discount,
            parts.tau,
            parts.learn_alpha,
            parts.target_entropy,
            parts.critic_layer_norm,
            parts.kept_atoms,
            parts.target_subset,
        )

    def __call__(self, parts: UpdateParts, batch: Batch, update_actor: bool) -> Metrics:
        if parts.log_alpha.device.type != "cuda":
            raise ValueError("CUDA graphs need a CUDA agent")
        if self.eager_runs[update_actor] < self.warmup:
            self.eager_runs[update_actor] += 1
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):  # as torch.cuda.graphs' docs: warm up on a side stream
                metrics = manual_update(parts, batch, update_actor)
            torch.cuda.current_stream().wait_stream(stream)
            return metrics
        if self.batch is None or self.batch.action.shape != batch.action.shape:
            self.batch = Batch(*(t.clone() for t in batch))
            self.graphs.clear()
        else:
            for static, fresh in zip(self.batch, batch):
                static.copy_(fresh)
        key = self._key(parts, update_actor)
        if key not in self.graphs:
            self.graphs = {k: v for k, v in self.graphs.items() if k[1:] == key[1:]}
            self.graphs[key] = self._capture(parts, update_actor)
        graph, noise, metrics = self.graphs[key]
        update_noise(parts, batch.action.shape[1], update_actor, out=noise)
        graph.replay()
        return dict(metrics)  # a caller may edit its dict; the tensors are the graph's

    def _capture(
        self, parts: UpdateParts, update_actor: bool
    ) -> tuple[torch.cuda.CUDAGraph, UpdateNoise, Metrics]:
        assert self.batch is not None
        # Allocated, not drawn: drawing here would shift the generator against the eager path.
        noise = empty_update_noise(parts, self.batch.action.shape[1], update_actor)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            metrics = update_step(parts, self.batch, noise, update_actor)  # recorded, not run
        return graph, noise, metrics


def fast_update_path(
    cuda_graphs: bool, device: torch.device, compiled_step: Callable[..., Metrics] | None
) -> Callable[[UpdateParts, Batch, bool], Metrics]:
    """The hand-written update (`compiled_step` when compiled), or on CUDA its graph replay."""
    if cuda_graphs and device.type == "cuda" and compiled_step is None:
        return GraphedUpdate()
    return lambda parts, batch, update_actor: manual_update(
        parts, batch, update_actor, step=compiled_step
    )
