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
from typing import NamedTuple

import torch

from agents.distributions import HALF_LOG_2PI, tanh_log_abs_det_jacobian
from agents.networks import Actor, Critic
from agents.optim import adam_step
from agents.replay_buffer import Batch

Metrics = dict[str, torch.Tensor]


class UpdateParts(NamedTuple):
    """What one update reads and writes: the networks, α and their optimizers, and the
    hyperparameters. Built by the agent for each update, so a changed setting takes effect."""

    actor: Actor
    critic: Critic
    critic_target: Critic
    log_alpha: torch.Tensor
    actor_optimizer: torch.optim.Adam
    critic_optimizer: torch.optim.Adam
    alpha_optimizer: torch.optim.Adam
    gamma: float
    tau: float
    learn_alpha: bool
    target_entropy: float


# d ReLU: zero the gradient where the (post-ReLU) activation is 0. One kernel instead of a
# comparison and a multiply; it is the op autograd itself uses for ReLU's backward.
_relu_backward = torch.ops.aten.threshold_backward


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
    actor: Actor,
    trunk: _Layers,
    activations: list[torch.Tensor],
    unit: torch.Tensor,
    grad_mean: torch.Tensor,
    grad_log_std: torch.Tensor,
) -> None:
    """Write the actor's parameter gradients into `.grad` from d loss / d (mean, log σ)."""
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


def policy_noise(
    parts: UpdateParts, batch_size: int, update_actor: bool, out: torch.Tensor | None = None
) -> torch.Tensor:
    """The update's ε ~ N(0, I): (2B, A) when the actor steps (rows [:B] for obs, [B:] for
    next_obs), else (B, A) for next_obs. Drawn next_obs rows first, as the autograd path does."""
    rows = noise_rows(batch_size, update_actor)
    if out is None:
        out = torch.empty(rows, parts.actor.mu.out_features, device=parts.log_alpha.device)
    out[rows - batch_size :].normal_()
    if rows > batch_size:
        out[:batch_size].normal_()
    return out


def manual_update(
    parts: UpdateParts,
    batch: Batch,
    update_actor: bool,
    step: Callable[..., Metrics] | None = None,
) -> Metrics:
    """The SAC update without autograd: critic step, actor step (if `update_actor`), alpha step,
    Polyak update. Draws the policy noise; the math is `update_step`'s, or `step`'s, a compiled
    `update_step`. With the same generator state the result equals the autograd path's."""
    noise = policy_noise(parts, batch.action.shape[0], update_actor)
    return (step or update_step)(parts, batch, noise, update_actor)


@torch.no_grad()
def update_step(
    parts: UpdateParts, batch: Batch, noise: torch.Tensor, update_actor: bool
) -> Metrics:
    """One update's math on a batch and `policy_noise`'s draw. Touches no Python counters and
    makes no host syncs, so it can be recorded as a CUDA graph or compiled as one graph."""
    batch_size = batch.action.shape[0]
    alpha = parts.log_alpha.detach().exp()
    # Actor forward on [obs; next_obs] when the actor steps, else on next_obs only.
    actor_input = torch.cat([batch.obs, batch.next_obs]) if update_actor else batch.next_obs
    trunk = _Layers(parts.actor.trunk_linears)
    activations, mean, unit, log_std = _actor_forward(parts.actor, trunk, actor_input)
    std = log_std.exp()
    pre_tanh = torch.addcmul(mean, std, noise)
    action = torch.tanh(pre_tanh)
    log_prob = (
        (-0.5 * noise.square() - log_std - HALF_LOG_2PI) - tanh_log_abs_det_jacobian(pre_tanh)
    ).sum(-1)
    rows = slice(batch_size, None) if update_actor else slice(None)

    # Critic step: soft Bellman target with clipped double-Q (critic_loss).
    next_obs_action = torch.cat([batch.next_obs, action[rows]], dim=-1)
    target_layers = _Layers(parts.critic_target.layers)
    next_q = _critic_forward(target_layers, next_obs_action)[-1].squeeze(-1)
    next_value = next_q.amin(dim=0) - alpha * log_prob[rows]
    target = batch.reward + parts.gamma * (1.0 - batch.terminated) * next_value
    critic_layers = _Layers(parts.critic.layers)
    critic_acts = _critic_forward(critic_layers, torch.cat([batch.obs, batch.action], dim=-1))
    q = critic_acts[-1].squeeze(-1)  # (n, B)
    residual = q - target
    critic_loss = 0.5 * residual.square().mean(dim=1).sum()
    _critic_backward_weights(critic_layers, critic_acts, residual.div_(batch_size))
    adam_step(parts.critic_optimizer)
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
        grad_action = _critic_backward_action(critic_layers, acts, grad_q, batch.obs.shape[1])
        # a = tanh(u), u = mean + σ ε; d log π / du = 2 tanh(u) from the log-det term, and
        # d log π / d log σ = -1 from the Gaussian term (ε is held fixed).
        grad_log_prob = alpha / batch_size
        grad_pre_tanh = grad_action.mul_(1.0 - own_action.square())
        grad_pre_tanh.add_(own_action * (2.0 * grad_log_prob))
        grad_log_std = (grad_pre_tanh * noise[own]).mul_(std[own]).sub_(grad_log_prob)
        own_acts = [a[own] for a in activations]
        _actor_backward(parts.actor, trunk, own_acts, unit[own], grad_pre_tanh, grad_log_std)
        adam_step(parts.actor_optimizer)
        entropy = -own_log_prob.mean()
        metrics |= {"actor_loss": actor_loss, "entropy": entropy}
        if parts.learn_alpha:
            # alpha_loss = -log_alpha * (mean log π + H): its gradient is -(mean log π + H).
            gap = parts.target_entropy - entropy
            parts.log_alpha.grad = -gap.reshape(parts.log_alpha.shape)
            metrics["alpha_loss"] = -parts.log_alpha * gap
            adam_step(parts.alpha_optimizer)
    torch._foreach_lerp_(target_layers.all(), critic_layers.all(), parts.tau)
    metrics["alpha"] = alpha
    return metrics
