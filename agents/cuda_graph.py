"""The manual SAC update replayed as a CUDA graph: ~150 kernel launches become one replay.

Why: on a GPU, SAC's small matmuls finish faster than the CPU can launch them, so an eager update
is bound by launch overhead. `torch.cuda.graphs` records the update once and replays it; the
math is `manual_update`'s, the batch and the policy noise are copied into (drawn into) static
tensors before each replay, and the optimizers are created `capturable` so their steps can be
recorded. `SACAgent.load_state_dict` drops the graphs, since they hold the old tensors' memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from agents.manual_update import actor_steps, manual_update, policy_noise, update_step
from agents.replay_buffer import Batch

if TYPE_CHECKING:
    from agents.sac import Metrics, SACAgent


class GraphedUpdate:
    """Callable like `manual_update(agent, batch)`; eager for the first `warmup` calls.

    The returned metrics are the graph's output tensors: the next replay overwrites them, so a
    caller that keeps them across updates must clone them (train.py reads them right away).
    """

    def __init__(self, agent: SACAgent, warmup: int = 3) -> None:
        if agent.device.type != "cuda":
            raise ValueError("CUDA graphs need a CUDA agent")
        self.agent = agent
        self.warmup_left = warmup  # eager updates first: lazy state (Adam moments, cuBLAS) exists
        self.batch: Batch | None = None
        # One graph per kind of update (with the actor step, critic only), each with its own
        # memory pool: they may replay in any order.
        self.graphs: dict[bool, tuple[torch.cuda.CUDAGraph, torch.Tensor, Metrics]] = {}

    def __call__(self, batch: Batch) -> Metrics:
        agent = self.agent
        if self.warmup_left > 0:
            self.warmup_left -= 1
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):  # as torch.cuda.graphs' docs: warm up on a side stream
                metrics = manual_update(agent, batch)
            torch.cuda.current_stream().wait_stream(stream)
            return metrics
        if self.batch is None or self.batch.action.shape != batch.action.shape:
            self.batch = Batch(*(t.clone() for t in batch))
            self.graphs.clear()
        else:
            for static, fresh in zip(self.batch, batch):
                static.copy_(fresh)
        key = actor_steps(agent)
        if key not in self.graphs:
            self.graphs[key] = self._capture(key)
        graph, noise, metrics = self.graphs[key]
        policy_noise(agent, batch.action.shape[0], out=noise)
        graph.replay()
        agent.num_updates += 1
        return metrics

    def _capture(self, update_actor: bool) -> tuple[torch.cuda.CUDAGraph, torch.Tensor, Metrics]:
        agent = self.agent
        assert self.batch is not None
        batch_size = self.batch.action.shape[0]
        rows = 2 * batch_size if update_actor else batch_size
        # Allocated, not drawn: drawing here would shift the generator against the eager path.
        noise = torch.empty(rows, agent.action_dim, device=agent.device)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            metrics = update_step(agent, self.batch, noise, update_actor)  # recorded, not run
        return graph, noise, metrics
