"""One SAC update with hand-written backward passes: the math of `agents.sac`'s losses, fewer ops.

Why not autograd: at SAC's sizes (batch 256, 256x256 MLPs) on a CPU, an update is a few hundred
small ops, and their per-op cost rivals the matmuls: with tiny tensors, where only that cost is
left, an autograd update takes 2.2 ms and this one 0.95 ms (benchmarks/EXPERIMENTS.md). The
backward of a ReLU MLP is a handful of matmuls, so writing it out removes graph recording and
replay and lets the update skip work autograd cannot know to skip:

- the actor runs once on [obs; next_obs] (2B rows): its parameters do not change during the
  critic step, so the target's next actions and the actor step's actions share one forward;
- the actor step's pass through the (frozen) critics computes the gradient w.r.t. the action
  columns of the input only, never the critics' weight gradients;
- no graph, no saved-tensor bookkeeping, no zero_grad: gradients are written into `.grad` and
  the optimizers' own fused Adam kernel steps them (`adam_step`).

`tests/test_manual_update.py` checks losses and every gradient against the autograd reference
(`critic_loss`, `actor_loss`, `alpha_loss`) on the same batch and noise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import torch

from agents.distributions import _HALF_LOG_2PI, tanh_log_abs_det_jacobian
from agents.replay_buffer import Batch

if TYPE_CHECKING:
    from agents.networks import Actor
    from agents.sac import Metrics, SACAgent

# d ReLU: zero the gradient where the (post-ReLU) activation is 0. One kernel instead of a
# comparison and a multiply; it is the op autograd itself uses for ReLU's backward.
_relu_backward = torch.ops.aten.threshold_backward


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


class _Layers:
    """A network's weights and biases as plain lists, read once per update.

    Why: indexing or slicing an `nn.ModuleList` builds Python objects (a slice is a new
    ModuleList), and each `module.weight` goes through `nn.Module.__getattr__`; inside one update
    that was ~0.2 ms, as much as the 64x64 networks' matmuls. The lists hold the live Parameters,
    so gradients written to them land on the modules.
    """

    __slots__ = ("weights", "biases")

    def __init__(self, layers: Iterable[torch.nn.Module]) -> None:
        self.weights: list[torch.Tensor] = []
        self.biases: list[torch.Tensor] = []
        for layer in layers:
            self.weights.append(layer.weight)
            self.biases.append(layer.bias)

    def all(self) -> list[torch.Tensor]:
        """Weights then biases, in the same order for any two networks of the same layout."""
        return self.weights + self.biases


def _actor_forward(
    actor: Actor, trunk: _Layers, obs: torch.Tensor
) -> tuple[list[torch.Tensor], ...]:
    """Trunk activations (input first), mean, tanh of the log-std head, and log σ."""
    activations = [obs]
    x = obs
    for weight, bias in zip(trunk.weights, trunk.biases):
        x = torch.addmm(bias, x, weight.t()).relu_()
        activations.append(x)
    mean = torch.addmm(actor.mu.bias, x, actor.mu.weight.t())
    unit = torch.tanh(torch.addmm(actor.log_std.bias, x, actor.log_std.weight.t()))
    half_range = 0.5 * (actor.log_std_max - actor.log_std_min)
    log_std = (unit + 1.0).mul_(half_range).add_(actor.log_std_min)  # as Actor.forward
    return activations, mean, unit, log_std


@torch.no_grad()
def actor_action(actor: Actor, obs: torch.Tensor, eps: torch.Tensor | None) -> torch.Tensor:
    """tanh(mean) when eps is None, else tanh(mean + σ eps): `Actor(obs)`'s action in plain ops.

    Why: acting runs once per env step; skipping seven `Module.__call__`s and the distribution
    object took ~25 % off its cost (64x64 networks, one observation).
    """
    _, mean, _, log_std = _actor_forward(actor, _Layers(actor.trunk_linears), obs)
    if eps is None:
        return mean.tanh_()
    return torch.addcmul(mean, log_std.exp_(), eps).tanh_()


def _critic_forward(layers: _Layers, x: torch.Tensor) -> list[torch.Tensor]:
    """Activations of every layer of the ensemble, input (n, B, D) first, output (n, B, 1) last."""
    weights, biases = layers.weights, layers.biases
    activations = [x.unsqueeze(0).expand(weights[0].shape[0], *x.shape)]
    last = len(weights) - 1
    for index in range(last):
        activations.append(torch.baddbmm(biases[index], activations[-1], weights[index]).relu_())
    activations.append(torch.baddbmm(biases[last], activations[-1], weights[last]))
    return activations


def _critic_backward_weights(
    layers: _Layers, activations: list[torch.Tensor], grad_q: torch.Tensor
) -> None:
    """Write d loss / d (weights, biases) of every ensemble layer into `.grad`; grad_q (n, B)."""
    grad = grad_q.unsqueeze(-1)  # (n, B, 1)
    for index in range(len(layers.weights) - 1, -1, -1):
        weight, inputs = layers.weights[index], activations[index]
        # (n, in, out); the first layer's input is one (B, D) batch expanded over the members,
        # which matmul handles without copying it n times
        mm = torch.bmm if index > 0 else torch.matmul
        weight.grad = mm(inputs.transpose(1, 2), grad)
        layers.biases[index].grad = grad.sum(dim=1, keepdim=True)  # (n, 1, out)
        if index > 0:
            grad = _relu_backward(torch.bmm(grad, weight.transpose(1, 2)), inputs, 0)


def _critic_backward_action(
    layers: _Layers, activations: list[torch.Tensor], grad_q: torch.Tensor, obs_dim: int
) -> torch.Tensor:
    """d loss / d action (B, A) through the ensemble; no weight gradients are formed."""
    grad = grad_q.unsqueeze(-1)  # (n, B, 1)
    weights = layers.weights
    for index in range(len(weights) - 1, 0, -1):
        grad = torch.bmm(grad, weights[index].transpose(1, 2))
        grad = _relu_backward(grad, activations[index], 0)
    action_weight = weights[0][:, obs_dim:, :]  # (n, A, H): only the action columns
    return torch.bmm(grad, action_weight.transpose(1, 2)).sum(dim=0)


def _actor_backward(
    agent: SACAgent,
    trunk: _Layers,
    activations: list[torch.Tensor],
    unit: torch.Tensor,
    grad_mean: torch.Tensor,
    grad_log_std: torch.Tensor,
) -> None:
    """Write the actor's parameter gradients into `.grad` from d loss / d (mean, log σ)."""
    actor = agent.actor
    half_range = 0.5 * (actor.log_std_max - actor.log_std_min)
    grad_head = grad_log_std.mul_(half_range) * (1.0 - unit.square())  # through tanh
    features = activations[-1]
    actor.mu.weight.grad = torch.mm(grad_mean.t(), features)
    actor.mu.bias.grad = grad_mean.sum(dim=0)
    actor.log_std.weight.grad = torch.mm(grad_head.t(), features)
    actor.log_std.bias.grad = grad_head.sum(dim=0)
    grad = torch.addmm(torch.mm(grad_mean, actor.mu.weight), grad_head, actor.log_std.weight)
    for index in range(len(trunk.weights) - 1, -1, -1):
        weight = trunk.weights[index]
        grad = _relu_backward(grad, activations[index + 1], 0)
        weight.grad = torch.mm(grad.t(), activations[index])
        trunk.biases[index].grad = grad.sum(dim=0)
        if index > 0:
            grad = torch.mm(grad, weight)


def noise_rows(batch_size: int, update_actor: bool) -> int:
    """Rows of the update's ε: next_obs always, obs too when the actor steps."""
    return 2 * batch_size if update_actor else batch_size


def policy_noise(agent: SACAgent, batch_size: int, out: torch.Tensor | None = None) -> torch.Tensor:
    """The update's ε ~ N(0, I): (2B, A) when the actor steps (rows [:B] for obs, [B:] for
    next_obs), else (B, A) for next_obs. Drawn next_obs rows first, as the autograd path does."""
    rows = noise_rows(batch_size, actor_steps(agent))
    if out is None:
        out = torch.empty(rows, agent.action_dim, device=agent.device)
    out[rows - batch_size :].normal_()
    if rows > batch_size:
        out[:batch_size].normal_()
    return out


def actor_steps(agent: SACAgent) -> bool:
    """Whether this update steps the actor and alpha (every `actor_update_every` updates)."""
    return agent.num_updates % agent.config.actor_update_every == 0


def manual_update(
    agent: SACAgent,
    batch: Batch,
    noise: torch.Tensor | None = None,
    step: Callable[..., Metrics] | None = None,
) -> Metrics:
    """`SACAgent.update` without autograd: critic step, actor step, alpha step, Polyak update.

    Draws the policy noise (`policy_noise`, unless given) and counts the update; the math is
    `update_step`'s, or `step`'s, a compiled `update_step`. With the same generator state the
    result equals the autograd path's.
    """
    if noise is None:
        noise = policy_noise(agent, batch.action.shape[0])
    metrics = (step or update_step)(agent, batch, noise, actor_steps(agent))
    agent.num_updates += 1
    return metrics


@torch.no_grad()
def update_step(agent: SACAgent, batch: Batch, noise: torch.Tensor, update_actor: bool) -> Metrics:
    """One update's math on a batch and `policy_noise`'s draw. Touches no Python counters and
    makes no host syncs, so it can be recorded as a CUDA graph or compiled as one graph."""
    cfg = agent.config
    batch_size = batch.action.shape[0]
    alpha = agent.alpha
    # Actor forward on [obs; next_obs] when the actor steps, else on next_obs only.
    actor_input = torch.cat([batch.obs, batch.next_obs]) if update_actor else batch.next_obs
    trunk = _Layers(agent.actor.trunk_linears)
    activations, mean, unit, log_std = _actor_forward(agent.actor, trunk, actor_input)
    std = log_std.exp()
    pre_tanh = torch.addcmul(mean, std, noise)
    action = torch.tanh(pre_tanh)
    log_prob = (
        (-0.5 * noise.square() - log_std - _HALF_LOG_2PI) - tanh_log_abs_det_jacobian(pre_tanh)
    ).sum(-1)
    rows = slice(batch_size, None) if update_actor else slice(None)

    # Critic step: soft Bellman target with clipped double-Q (critic_loss).
    next_obs_action = torch.cat([batch.next_obs, action[rows]], dim=-1)
    target_layers = _Layers(agent.critic_target.layers)
    next_q = _critic_forward(target_layers, next_obs_action)[-1].squeeze(-1)
    next_value = next_q.amin(dim=0) - alpha * log_prob[rows]
    target = batch.reward + cfg.gamma * (1.0 - batch.terminated) * next_value
    critic_layers = _Layers(agent.critic.layers)
    critic_acts = _critic_forward(critic_layers, torch.cat([batch.obs, batch.action], dim=-1))
    q = critic_acts[-1].squeeze(-1)  # (n, B)
    residual = q - target
    critic_loss = 0.5 * residual.square().mean(dim=1).sum()
    _critic_backward_weights(critic_layers, critic_acts, residual.div_(batch_size))
    adam_step(agent.critic_optimizer)
    metrics = {"critic_loss": critic_loss, "q_mean": q.mean()}

    if update_actor:
        # Actor step: E[alpha * log pi(a|s) - min_i Q_i(s, a)] through the updated critics.
        own = slice(0, batch_size)
        own_action, own_log_prob = action[own], log_prob[own]
        acts = _critic_forward(critic_layers, torch.cat([batch.obs, own_action], dim=-1))
        q_pi = acts[-1].squeeze(-1)
        q_min, argmin = q_pi.min(dim=0)
        actor_loss = (alpha * own_log_prob - q_min).mean()
        members = torch.arange(q_pi.shape[0], device=q_pi.device).unsqueeze(1)
        grad_q = (argmin == members).to(q_pi.dtype).mul_(-1.0 / batch_size)  # d loss / d Q_i
        grad_action = _critic_backward_action(critic_layers, acts, grad_q, agent.obs_dim)
        # a = tanh(u), u = mean + σ ε; d log π / du = 2 tanh(u) from the log-det term, and
        # d log π / d log σ = -1 from the Gaussian term (ε is held fixed).
        grad_log_prob = alpha / batch_size
        grad_pre_tanh = grad_action.mul_(1.0 - own_action.square())
        grad_pre_tanh.add_(own_action * (2.0 * grad_log_prob))
        grad_log_std = (grad_pre_tanh * noise[own]).mul_(std[own]).sub_(grad_log_prob)
        own_acts = [a[own] for a in activations]
        _actor_backward(agent, trunk, own_acts, unit[own], grad_pre_tanh, grad_log_std)
        adam_step(agent.actor_optimizer)
        entropy = -own_log_prob.mean()
        metrics |= {"actor_loss": actor_loss, "entropy": entropy}
        if cfg.learn_alpha:
            # alpha_loss = -log_alpha * (mean log π + H): its gradient is -(mean log π + H).
            gap = agent.target_entropy - entropy
            agent.log_alpha.grad = -gap.reshape(agent.log_alpha.shape)
            metrics["alpha_loss"] = -agent.log_alpha * gap
            adam_step(agent.alpha_optimizer)
    torch._foreach_lerp_(target_layers.all(), critic_layers.all(), cfg.tau)
    metrics["alpha"] = alpha
    return metrics
