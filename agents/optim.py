"""Adam for the agent: construction, and a step that calls torch's fused kernel directly.

`make_adam` is what every optimizer of the agent is; `adam_step` is `optimizer.step()` without
its per-call bookkeeping, used by the hand-written update (agents/fast/).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


def make_adam(params: Iterable[torch.Tensor], lr: float, device: torch.device) -> torch.optim.Adam:
    """Fused Adam: every tensor in one kernel (on CPU and CUDA in torch >= 2.4). Capturable on
    CUDA, so its step can be recorded in a CUDA graph (agents/fast/cuda_graph.py)."""
    return torch.optim.Adam(params, lr=lr, fused=True, capturable=device.type == "cuda")


def adam_step(optimizer: torch.optim.Adam) -> None:
    """`optimizer.step()` for a fused single-group Adam, through the same fused kernel.

    Why: `Optimizer.step`'s bookkeeping (hooks, grouping tensors by device, per-parameter checks)
    costs ~0.1 ms per call on a CPU, as much as the fused kernel itself; an update makes three
    calls. The state stays the optimizer's own (`exp_avg`, `exp_avg_sq`, `step`), so its
    state_dict is unchanged. Anything unusual (first step, amsgrad, weight decay, maximize,
    differentiable, a missing gradient, several groups) goes through `optimizer.step()`.
    Optimizer step hooks do not run on this path (the package registers none).
    """
    groups = optimizer.param_groups
    group = groups[0]
    params = group["params"]
    state = optimizer.state
    if (
        len(groups) != 1
        or not group["fused"]
        or group["amsgrad"]
        or group["weight_decay"]
        or group["maximize"]
        or group["differentiable"]
        or any(p.grad is None or p not in state for p in params)
    ):
        optimizer.step()
        return
    states = [state[p] for p in params]
    steps = [s["step"] for s in states]
    beta1, beta2 = group["betas"]
    if torch.compiler.is_compiling():  # inductor cannot trace the fused kernel: same math
        _adam_math(params, states, group["lr"], beta1, beta2, group["eps"])
        return
    shared, steps = _step_counter(optimizer, states, steps)
    shared.add_(1)
    torch._fused_adam_(
        params,
        [p.grad for p in params],
        [s["exp_avg"] for s in states],
        [s["exp_avg_sq"] for s in states],
        [],
        steps,
        amsgrad=False,
        lr=group["lr"],
        beta1=beta1,
        beta2=beta2,
        weight_decay=0.0,
        eps=group["eps"],
        maximize=False,
    )


def _step_counter(
    optimizer: torch.optim.Adam, states: list[dict], steps: list[torch.Tensor]
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """One 1-D tensor whose elements are the parameters' `step` tensors (0-d views of it), and
    the views.

    Why: `torch._foreach_add_(steps, 1)` on a CPU adds to each 0-d tensor separately (~14 µs per
    optimizer); one `add_` on the shared tensor is a single small op. Every parameter of a group
    steps together, so the counts stay equal. Rebuilt when the state's step tensors change
    (first step, `load_state_dict`).
    """
    cached = getattr(optimizer, "_shared_step", None)
    unchanged = cached is not None and len(cached[1]) == len(steps)
    if unchanged and all(a is b for a, b in zip(cached[1], steps)):
        return cached
    shared = torch.stack([step.detach().reshape(()) for step in steps])
    views = [shared[i] for i in range(len(steps))]
    for state, view in zip(states, views):
        state["step"] = view
    optimizer._shared_step = (shared, views)
    return shared, views


def _adam_math(
    params: list[torch.Tensor],
    states: list[dict],
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
) -> None:
    """torch.optim.Adam's update in plain tensor ops (its capturable form), for torch.compile."""
    for param, state in zip(params, states):
        step = state["step"].add_(1)
        grad = param.grad
        state["exp_avg"].lerp_(grad, 1 - beta1)
        state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        step_size = lr / (1 - beta1**step)
        denom = (state["exp_avg_sq"].sqrt() / (1 - beta2**step).sqrt()).add_(eps)
        param.sub_(step_size * state["exp_avg"] / denom)
