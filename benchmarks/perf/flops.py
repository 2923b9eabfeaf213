"""FLOPs: the matmul FLOP count of one SAC update, torch's matmul rates at the update's shapes,
and the matmul calls one of our updates actually runs (recorded below autograd)."""

from __future__ import annotations

import statistics
import time
from typing import Any, NamedTuple

import numpy as np

from .settings import SHARED


def update_flops(
    obs_dim: int, action_dim: int, hidden: list[int], batch: int, num_critics: int = 2
) -> dict[str, float]:
    """Matmul FLOPs of one SAC update (elementwise ops, Adam and sampling are not counted).

    A linear layer in->out on B rows costs 2*B*in*out in the forward pass. Its backward costs
    the same again for the weight gradient (x^T g) and again for the input gradient (g W^T): so
    "bwd = 2x fwd" for a network whose weights train, "bwd = 1x fwd" for a frozen one that only
    passes gradient to its input. Autograd skips an input gradient no one needs, so the first
    layer of a network fed with data (obs, or cat(obs, action) from the buffer) has none; the
    plain 2x rule (`rule_of_thumb`) counts it anyway (~550 MFLOP for Pendulum, the usual
    back-of-the-envelope figure).

    1. target (no_grad): actor fwd on next_obs + n target critics fwd;
    2. critic step: n critics fwd + bwd (weight grads; input grads except the first layer);
    3. actor step: actor fwd + n critics fwd with frozen weights + their bwd, input grads only
       (in the first layer only for the action columns: the observation needs none) + actor bwd
       (weight grads; input grads except the first layer). The alpha step has no matmul.

    tests/test_benchmark.py checks the total against the matmuls one of our updates runs.
    """

    def layers(dims: list[int]) -> list[float]:
        return [2.0 * batch * d_in * d_out for d_in, d_out in zip(dims[:-1], dims[1:])]

    # mu and log_std heads: two 256->A layers, counted as one 256->2A layer (same FLOPs).
    actor = layers([obs_dim, *hidden, 2 * action_dim])
    critic = [num_critics * f for f in layers([obs_dim + action_dim, *hidden, 1])]
    actor_fwd, critic_fwd = sum(actor), sum(critic)
    target = actor_fwd + critic_fwd
    critic_step = critic_fwd + 2 * critic_fwd - critic[0]
    critic_action_grad = num_critics * 2.0 * batch * hidden[0] * action_dim  # first layer
    critic_input_grads = critic_fwd - critic[0] + critic_action_grad
    actor_step = actor_fwd + critic_fwd + critic_input_grads + 2 * actor_fwd - actor[0]
    total = target + critic_step + actor_step
    rule = target + 3 * critic_fwd + (3 * actor_fwd + 2 * critic_fwd)
    return {
        "target": target,
        "critic_step": critic_step,
        "actor_step": actor_step,
        "total": total,
        "rule_of_thumb": rule,
    }


def matmul_gflops(chunks: int, calls: int, device: str = "cpu") -> dict[str, float]:
    """torch GFLOP/s at the update's shapes (batch 256 x 256x256 weights), at the set threads.

    mm: the forward x @ W; mm_tn: a weight gradient x^T @ g; mm_nt: an input gradient g @ W^T;
    bmm2: the critic ensemble's batched (2, 256, 256) @ (2, 256, 256). Median over chunks.
    """
    import torch

    b, h = SHARED["batch_size"], SHARED["hidden_sizes"][0]
    x, w, g = (torch.randn(*shape, device=device) for shape in ((b, h), (h, h), (b, h)))
    x2, w2 = torch.randn(2, b, h, device=device), torch.randn(2, h, h, device=device)
    sync = torch.cuda.synchronize if device == "cuda" else lambda: None
    cases = {
        "mm": (lambda: torch.mm(x, w), 2.0 * b * h * h),
        "mm_tn": (lambda: torch.mm(x.t(), g), 2.0 * b * h * h),
        "mm_nt": (lambda: torch.mm(g, w.t()), 2.0 * b * h * h),
        "bmm2": (lambda: torch.bmm(x2, w2), 4.0 * b * h * h),
    }
    rates = {}
    for name, (call, flops) in cases.items():
        for _ in range(calls // 4):
            call()
        samples = []
        for _ in range(chunks):
            sync()
            start = time.perf_counter()
            for _ in range(calls):
                call()
            sync()
            samples.append(flops * calls / (time.perf_counter() - start) / 1e9)
        rates[name] = statistics.median(samples)
    return rates


class Layout(NamedTuple):
    """A tensor argument's shape and strides, as recorded from one update."""

    shape: tuple[int, ...]
    stride: tuple[int, ...]


MatmulCall = tuple[Any, list[Any]]  # (aten op, its args: a Layout per tensor)


def record_update_matmuls(agent: Any, batch: Any) -> list[MatmulCall]:
    """The matmul calls (`mm`, `addmm`, `bmm`, `baddbmm`) that `agent.update(batch)` runs, in
    order, seen below autograd and our manual backward alike (a TorchDispatchMode)."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    aten = torch.ops.aten
    matmuls = {aten.mm.default, aten.addmm.default, aten.bmm.default, aten.baddbmm.default}
    calls: list[MatmulCall] = []

    class Recorder(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func in matmuls:
                layouts = [
                    Layout(tuple(a.shape), a.stride()) if isinstance(a, torch.Tensor) else a
                    for a in args
                ]
                calls.append((func, layouts))
            return func(*args, **(kwargs or {}))

    with Recorder():
        agent.update(batch)
    return calls


def matmul_call_flops(call: MatmulCall) -> float:
    """2 * M * K * N (times the batch of a bmm) of one recorded call; the last two tensor
    arguments are the factors (addmm and baddbmm take the bias first)."""
    lhs, rhs = [a.shape for a in call[1] if isinstance(a, Layout)][-2:]
    return 2.0 * float(np.prod(lhs)) * rhs[-1]
