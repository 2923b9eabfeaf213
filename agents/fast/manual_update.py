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

Every tensor carries a leading member dimension K: the same math updates one agent (K = 1, its
parameters seen through views) or a population of K independent agents whose parameters are
stacked (agents/population.py), each matmul one batched matmul over the members. No op mixes
members, so each member's update is the one it would get alone.

With `agent.critic_layer_norm`, each critic hidden layer's LayerNorm runs forward and backward
through the kernels autograd itself uses (`native_layer_norm` and its backward). With TQC's
quantile critics (`agent.critic_quantiles`) the critics' output layer has one unit per quantile,
the target pools and truncates their quantiles, and the loss gradient is the quantile Huber
loss's, from the sorted target atoms (`agents/fast/quantile_loss.py`; `truncated_quantile_loss`
is the reference). With REDQ's subsets
(`agent.target_subset`) the target's min runs over the critics each member's keys pick
(`agents/fast/parts.py` draws them), and the actor's gradient is the ensemble mean's.

`tests/test_manual_update.py` checks losses and every gradient against the autograd reference
(`critic_loss`, `actor_loss`, `alpha_loss`) on the same batch and noise.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from agents.distributions import HALF_LOG_2PI, tanh_log_abs_det_jacobian
from agents.fast.layers import ActorLayers, Layers
from agents.fast.parts import UpdateNoise, UpdateParts, update_noise
from agents.fast.quantile_loss import quantile_huber
from agents.networks import LAYER_NORM_EPS, Actor
from agents.optim import adam_step
from agents.replay_buffer import Batch

Metrics = dict[str, torch.Tensor]


# d ReLU: zero the gradient where the (post-ReLU) activation is 0. One kernel instead of a
# comparison and a multiply; it is the op autograd itself uses for ReLU's backward.
_relu_backward = torch.ops.aten.threshold_backward

# A hidden layer's pre-activation, its mean and 1/std over the units: what LayerNorm's
# backward needs (`agent.critic_layer_norm`).
Normalized = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def _layer_norm_backward(grad: torch.Tensor, normalized: Normalized) -> torch.Tensor:
    """d loss / d pre-activation from d loss / d LayerNorm output: the kernel autograd uses."""
    pre_activation, mean, rstd = normalized
    return torch.ops.aten.native_layer_norm_backward(
        grad, pre_activation, pre_activation.shape[-1:], mean, rstd, None, None,
        [True, False, False],
    )[0]  # fmt: skip


def _affine(bias: torch.Tensor, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """x W^T + b for an `nn.Linear`-oriented weight: one agent's (N, in) rows, or K members'
    (K, N, in) with (K, out, in) weights."""
    if x.dim() == 2:
        return torch.addmm(bias, x, weight.t())
    return torch.baddbmm(bias, x, weight.transpose(1, 2))


def _actor_forward(
    actor: ActorLayers, obs: torch.Tensor
) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor, torch.Tensor]:
    """Trunk activations (input first), mean, tanh of the log-std head, and log σ."""
    activations = [obs]
    x = obs
    for weight, bias in zip(actor.trunk.weights, actor.trunk.biases):
        x = _affine(bias, x, weight).relu_()
        activations.append(x)
    (mu_weight, log_std_weight), (mu_bias, log_std_bias) = actor.heads.weights, actor.heads.biases
    mean = _affine(mu_bias, x, mu_weight)
    unit = torch.tanh(_affine(log_std_bias, x, log_std_weight))
    half_range = 0.5 * (actor.log_std_max - actor.log_std_min)
    log_std = (unit + 1.0).mul_(half_range).add_(actor.log_std_min)  # as Actor.forward
    return activations, mean, unit, log_std


@torch.no_grad()
def actor_action(actor: Actor, obs: torch.Tensor, eps: torch.Tensor | None) -> torch.Tensor:
    """tanh(mean) when eps is None, else tanh(mean + σ eps): `Actor(obs)`'s action in plain ops.

    Why: acting runs once per env step; skipping seven `Module.__call__`s and the distribution
    object took ~25 % off its cost (64x64 networks, one observation).
    """
    linears = actor.trunk_linears
    # One agent's 2-D parameters as they are (not `linear_layers`' member-batched views): the
    # observations are 2-D rows, which `_affine` multiplies with one addmm per layer.
    layers = ActorLayers(
        Layers([m.weight for m in linears], [m.bias for m in linears], []),
        Layers([actor.mu.weight, actor.log_std.weight], [actor.mu.bias, actor.log_std.bias], []),
        actor.log_std_min,
        actor.log_std_max,
    )
    _, mean, _, log_std = _actor_forward(layers, obs)
    if eps is None:
        return mean.tanh_()
    return torch.addcmul(mean, log_std.exp_(), eps).tanh_()


def _critic_forward(
    layers: Layers, x: torch.Tensor, layer_norm: bool
) -> tuple[list[torch.Tensor], list[Normalized]]:
    """Activations of every layer of the ensembles, input (K*n, B, D) first (each member's
    (B, D) batch seen by its n critics), output (K*n, B, 1) last; with `layer_norm`, also what
    each hidden layer's LayerNorm backward needs (else an empty list)."""
    weights, biases = layers.weights, layers.biases
    members, rows, width = x.shape
    # Views for one member (n critics read the same rows); K members' rows are copied once.
    first = x.unsqueeze(1).expand(members, weights[0].shape[0] // members, rows, width)
    activations = [first.reshape(weights[0].shape[0], rows, width)]
    normalized: list[Normalized] = []
    last = len(weights) - 1
    for index in range(last):
        hidden = torch.baddbmm(biases[index], activations[-1], weights[index])
        if layer_norm:
            units = hidden.shape[-1:]
            out, mean, rstd = torch.native_layer_norm(hidden, units, None, None, LAYER_NORM_EPS)
            normalized.append((hidden, mean, rstd))
            hidden = out
        activations.append(hidden.relu_())
    activations.append(torch.baddbmm(biases[last], activations[-1], weights[last]))
    return activations, normalized


def _hidden_backward(
    grad: torch.Tensor, activation: torch.Tensor, normalized: list[Normalized], index: int
) -> torch.Tensor:
    """From d loss / d (hidden layer `index`'s output) to d loss / d its pre-activation."""
    grad = _relu_backward(grad, activation, 0)
    return _layer_norm_backward(grad, normalized[index]) if normalized else grad


def _critic_backward_weights(
    layers: Layers,
    activations: list[torch.Tensor],
    normalized: list[Normalized],
    grad_q: torch.Tensor,
) -> None:
    """Assign d loss / d (weights, biases) of every ensemble layer; grad_q (K*n, B), or
    (K*n, B, Q) for quantile critics."""
    grad = grad_q.unsqueeze(-1) if grad_q.dim() == 2 else grad_q  # (K*n, B, outputs)
    count = len(layers.weights)
    weight_grads: list[torch.Tensor] = [grad] * count
    bias_grads: list[torch.Tensor] = [grad] * count
    for index in range(count - 1, -1, -1):
        weight, inputs = layers.weights[index], activations[index]
        # (K*n, in, out); one member's first-layer input is its (B, D) batch expanded over the
        # critics, which matmul handles without copying it n times
        mm = torch.bmm if index > 0 else torch.matmul
        weight_grads[index] = mm(inputs.transpose(1, 2), grad)
        bias_grads[index] = grad.sum(dim=1, keepdim=True)  # (K*n, 1, out)
        if index > 0:
            grad = torch.bmm(grad, weight.transpose(1, 2))
            grad = _hidden_backward(grad, inputs, normalized, index - 1)
    layers.set_grads(weight_grads, bias_grads)


def _critic_backward_action(
    layers: Layers,
    activations: list[torch.Tensor],
    normalized: list[Normalized],
    grad_q: torch.Tensor,
    obs_dim: int,
) -> torch.Tensor:
    """d loss / d action (K, B, A) through the ensembles; no weight gradients are formed.
    grad_q is (K, n, B), or (K, n, B, Q) for quantile critics."""
    members, critics, rows = grad_q.shape[:3]
    grad = grad_q.reshape(members * critics, rows, -1)
    weights = layers.weights
    for index in range(len(weights) - 1, 0, -1):
        grad = torch.bmm(grad, weights[index].transpose(1, 2))
        grad = _hidden_backward(grad, activations[index], normalized, index - 1)
    action_weight = weights[0][:, obs_dim:, :]  # (K*n, A, H): only the action columns
    grad_action = torch.bmm(grad, action_weight.transpose(1, 2))  # (K*n, B, A)
    return grad_action.view(members, critics, rows, -1).sum(dim=1)


def _actor_backward(
    actor: ActorLayers,
    activations: list[torch.Tensor],
    unit: torch.Tensor,
    grad_mean: torch.Tensor,
    grad_log_std: torch.Tensor,
) -> None:
    """Assign the actor's parameter gradients from d loss / d (mean, log σ), each (K, B, A)."""
    half_range = 0.5 * (actor.log_std_max - actor.log_std_min)
    grad_head = grad_log_std.mul_(half_range) * (1.0 - unit.square())  # through tanh
    features = activations[-1]
    mu_weight, log_std_weight = actor.heads.weights
    actor.heads.set_grads(
        [
            torch.bmm(grad_mean.transpose(1, 2), features),
            torch.bmm(grad_head.transpose(1, 2), features),
        ],
        [grad_mean.sum(dim=1), grad_head.sum(dim=1)],
    )
    grad = torch.baddbmm(torch.bmm(grad_mean, mu_weight), grad_head, log_std_weight)
    trunk = actor.trunk
    count = len(trunk.weights)
    weight_grads: list[torch.Tensor] = [grad] * count
    bias_grads: list[torch.Tensor] = [grad] * count
    for index in range(count - 1, -1, -1):
        grad = _relu_backward(grad, activations[index + 1], 0)
        weight_grads[index] = torch.bmm(grad.transpose(1, 2), activations[index])
        bias_grads[index] = grad.sum(dim=1)
        if index > 0:
            grad = torch.bmm(grad, trunk.weights[index])
    trunk.set_grads(weight_grads, bias_grads)


def manual_update(
    parts: UpdateParts,
    batch: Batch,
    update_actor: bool,
    step: Callable[..., Metrics] | None = None,
) -> Metrics:
    """The SAC update without autograd: critic step, actor step (if `update_actor`), alpha step,
    Polyak update, for K members on their (K, B, ...) batches; metrics (K,). Draws the policy
    noise and REDQ's keys; the math is `update_step`'s, or `step`'s, a compiled `update_step`.
    With the same generator state the result equals the autograd path's."""
    noise = update_noise(parts, batch.action.shape[1], update_actor)
    return (step or update_step)(parts, batch, noise, update_actor)


@torch.no_grad()
def update_step(
    parts: UpdateParts, batch: Batch, draws: UpdateNoise, update_actor: bool
) -> Metrics:
    """One update's math on K members' batches and `update_noise`'s draws. Touches no Python
    counters and makes no host syncs, so it can be recorded as a CUDA graph or compiled as one
    graph. Shapes: K members, B rows, n critics, A action dims."""
    members, batch_size = batch.action.shape[:2]
    alpha = parts.log_alpha.detach().exp()  # (K,)
    alpha_rows = alpha.unsqueeze(1)  # (K, 1)
    noise = draws.policy
    # Actor forward on [obs; next_obs] when the actor steps, else on next_obs only.
    actor_input = torch.cat([batch.obs, batch.next_obs], dim=1) if update_actor else batch.next_obs
    activations, mean, unit, log_std = _actor_forward(parts.actor, actor_input)
    std = log_std.exp()
    pre_tanh = torch.addcmul(mean, std, noise)
    action = torch.tanh(pre_tanh)
    log_prob = (
        (-0.5 * noise.square() - log_std - HALF_LOG_2PI) - tanh_log_abs_det_jacobian(pre_tanh)
    ).sum(-1)  # (K, rows)
    rows = slice(batch_size, None) if update_actor else slice(None)

    # Critic step: soft Bellman target with clipped double-Q (critic_loss), or TQC's truncated
    # pooled quantiles (truncated_quantile_loss).
    next_obs_action = torch.cat([batch.next_obs, action[:, rows]], dim=-1)
    layer_norm = parts.critic_layer_norm
    next_q = _critic_forward(parts.critic_target, next_obs_action, layer_norm)[0][-1]
    next_q = next_q.view(members, -1, batch_size, next_q.shape[-1])  # (K, n, B, Q or 1)
    not_done = parts.discount * (1.0 - batch.terminated)  # (K, B)
    critic_input = torch.cat([batch.obs, batch.action], dim=-1)
    critic_acts, critic_normalized = _critic_forward(parts.critic, critic_input, layer_norm)
    q = critic_acts[-1].view(next_q.shape)  # (K, n, B, Q or 1)
    if parts.kept_atoms:
        pooled = next_q.transpose(1, 2).flatten(2)  # (K, B, n * Q)
        atoms = pooled.sort(dim=2).values[..., : parts.kept_atoms]  # (K, B, kept)
        next_value = atoms - (alpha_rows * log_prob[:, rows]).unsqueeze(-1)
        target = batch.reward.unsqueeze(-1) + not_done.unsqueeze(-1) * next_value
        critic_loss, grad_q = quantile_huber(q, target)  # (K,), (K, n, B, Q)
        q_mean = q.mean(dim=(1, 2, 3))
    else:
        q_mean = q.squeeze(-1).mean(dim=(1, 2))
        next_qs = next_q.squeeze(-1)  # (K, n, B)
        if parts.target_subset:  # REDQ: each member's critics with its M smallest keys
            chosen = draws.critic_keys.topk(parts.target_subset, dim=1, largest=False).indices
            next_qs = next_qs.gather(1, chosen.unsqueeze(-1).expand(-1, -1, batch_size))
        next_value = next_qs.amin(dim=1) - alpha_rows * log_prob[:, rows]  # (K, B)
        target = batch.reward + not_done * next_value  # (K, B)
        residual = q.squeeze(-1) - target.unsqueeze(1)  # (K, n, B)
        critic_loss = 0.5 * residual.square().mean(dim=2).sum(dim=1)  # (K,)
        grad_q = residual.div_(batch_size)
    grad_q = grad_q.flatten(0, 1)  # (K*n, B) or (K*n, B, Q)
    _critic_backward_weights(parts.critic, critic_acts, critic_normalized, grad_q)
    adam_step(parts.critic_optimizer)
    metrics = {"critic_loss": critic_loss, "q_mean": q_mean}

    if update_actor:
        # Actor step: E[alpha * log pi(a|s) - min_i Q_i(s, a)] through the updated critics.
        own = slice(0, batch_size)
        own_action, own_log_prob = action[:, own], log_prob[:, own]
        policy_input = torch.cat([batch.obs, own_action], dim=-1)
        acts, normalized = _critic_forward(parts.critic, policy_input, layer_norm)
        if parts.kept_atoms or parts.target_subset:  # TQC, REDQ: the mean of every output
            q_pi = acts[-1].view(q.shape)  # (K, n, B, Q or 1)
            q_value = q_pi.mean(dim=(1, 3))  # (K, B)
            outputs = q_pi.shape[1] * q_pi.shape[3]
            grad_q = torch.full_like(q_pi, -1.0 / (batch_size * outputs))
        else:
            q_pi = acts[-1].view(members, -1, batch_size)  # (K, n, B)
            q_value, argmin = q_pi.min(dim=1)  # (K, B)
            critics = torch.arange(q_pi.shape[1], device=q_pi.device).view(1, -1, 1)
            grad_q = (argmin.unsqueeze(1) == critics).to(q_pi.dtype).mul_(-1.0 / batch_size)
        actor_loss = (alpha_rows * own_log_prob - q_value).mean(dim=1)  # (K,)
        obs_dim = batch.obs.shape[-1]
        grad_action = _critic_backward_action(parts.critic, acts, normalized, grad_q, obs_dim)
        # a = tanh(u), u = mean + σ ε; d log π / du = 2 tanh(u) from the log-det term, and
        # d log π / d log σ = -1 from the Gaussian term (ε is held fixed).
        grad_log_prob = (alpha / batch_size).view(-1, 1, 1)  # (K, 1, 1)
        grad_pre_tanh = grad_action.mul_(1.0 - own_action.square())
        grad_pre_tanh.add_(own_action * (2.0 * grad_log_prob))
        grad_log_std = (grad_pre_tanh * noise[:, own]).mul_(std[:, own]).sub_(grad_log_prob)
        own_acts = [a[:, own] for a in activations]
        _actor_backward(parts.actor, own_acts, unit[:, own], grad_pre_tanh, grad_log_std)
        adam_step(parts.actor_optimizer)
        entropy = -own_log_prob.mean(dim=1)  # (K,)
        metrics |= {"actor_loss": actor_loss, "entropy": entropy}
        if parts.learn_alpha:
            # alpha_loss = -log_alpha * (mean log π + H): its gradient is -(mean log π + H).
            gap = parts.target_entropy - entropy
            parts.log_alpha_leaf.grad = (-gap).view(parts.log_alpha_leaf.shape)
            metrics["alpha_loss"] = -parts.log_alpha * gap
            adam_step(parts.alpha_optimizer)
    torch._foreach_lerp_(parts.critic_target.leaves, parts.critic.leaves, parts.tau)
    metrics["alpha"] = alpha
    return metrics
