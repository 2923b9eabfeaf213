"""Soft Actor-Critic (Haarnoja et al., arXiv:1812.05905): losses, target update and the agent.

Read top to bottom: critic target and loss (Eq. 5-6), actor loss (Eq. 7/11), temperature loss
(Eq. 18), Polyak update. The loss functions are pure: (networks, batch) -> (loss, metrics).
Metrics stay detached tensors; converting them to floats (a host sync) is the caller's business.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import numpy as np
import torch
from torch import nn

from agents.config import SACConfig
from agents.fast import (
    GraphedUpdate,
    UpdateParts,
    actor_action,
    agent_layers,
    fast_update_path,
    update_step,
)
from agents.networks import Actor, Critic, quantile_levels
from agents.normalization import RunningObsNorm
from agents.optim import make_adam
from agents.replay_buffer import Batch
from agents.validation import (
    action_bounds,
    check_agent_state,
    check_batch,
    check_eps_shape,
    check_obs_shape,
    check_sizes,
    checked_device,
)

Metrics = dict[str, torch.Tensor]


def critic_loss(
    actor: Actor,
    critic: Critic,
    critic_target: Critic,
    batch: Batch,
    alpha: torch.Tensor,
    gamma: float,
    target_subset: int = 0,
) -> tuple[torch.Tensor, Metrics]:
    """Soft Bellman residual (Eq. 5) with clipped double-Q: min over the target ensemble, or
    with `target_subset` M (REDQ), over M of its critics drawn at random after the next actions.
    `gamma` discounts the bootstrapped value: gamma^n for n-step transitions (agent.n_step)."""
    with torch.no_grad():
        next_action, next_log_prob = actor(batch.next_obs).rsample()  # (B, A), (B,)
        next_qs = critic_target(batch.next_obs, next_action)  # (n, B)
        if target_subset:
            keys = torch.rand(next_qs.shape[0], device=next_qs.device)
            next_qs = next_qs[keys.topk(target_subset, largest=False).indices]  # (M, B)
        next_q = next_qs.min(dim=0).values  # (B,)
        next_value = next_q - alpha * next_log_prob  # (B,) soft state value V(s'), Eq. 3
        # Bootstrap unless the episode truly terminated; a time-limit truncation still
        # bootstraps, since the state it cut off has a future the agent cannot see.
        target = batch.reward + gamma * (1.0 - batch.terminated) * next_value  # (B,)
    q = critic(batch.obs, batch.action)  # (n, B)
    # 0.5 * MSE per critic, summed over the ensemble (as SB3), so each critic's gradient is
    # independent of the ensemble size.
    loss = 0.5 * (q - target).square().mean(dim=1).sum()
    return loss, {"critic_loss": loss.detach(), "q_mean": q.detach().mean()}


def truncated_quantile_loss(
    actor: Actor,
    critic: Critic,
    critic_target: Critic,
    batch: Batch,
    alpha: torch.Tensor,
    gamma: float,
    kept_atoms: int,
) -> tuple[torch.Tensor, Metrics]:
    """TQC's critic loss (Kuznetsov et al. 2020, Eq. 10-12): each critic's quantiles regress
    on the target atoms r + gamma * (z - alpha * log pi(a'|s')), where z are the `kept_atoms`
    smallest of all target critics' quantiles pooled, by the quantile Huber loss (kappa 1),
    averaged over the batch, quantiles and atoms per critic and summed over critics (as the
    MSE of `critic_loss`; TQC's own code averages over critics too, which Adam hardly feels)."""
    with torch.no_grad():
        next_action, next_log_prob = actor(batch.next_obs).rsample()  # (B, A), (B,)
        next_z = critic_target(batch.next_obs, next_action)  # (n, B, Q)
        pooled = next_z.transpose(0, 1).flatten(1)  # (B, n * Q)
        atoms = pooled.sort(dim=1).values[:, :kept_atoms]  # (B, kept)
        next_value = atoms - alpha * next_log_prob.unsqueeze(1)
        not_done = (1.0 - batch.terminated).unsqueeze(1)
        target = batch.reward.unsqueeze(1) + gamma * not_done * next_value  # (B, kept)
    z = critic(batch.obs, batch.action)  # (n, B, Q)
    delta = target[None, :, None, :] - z.unsqueeze(-1)  # (n, B, Q, kept)
    huber = torch.where(delta.abs() <= 1.0, 0.5 * delta.square(), delta.abs() - 0.5)
    tau = quantile_levels(z).view(1, 1, -1, 1)
    loss = ((tau - (delta < 0).float()).abs() * huber).mean(dim=(1, 2, 3)).sum()
    return loss, {"critic_loss": loss.detach(), "q_mean": z.detach().mean()}


def actor_loss(
    actor: Actor,
    critic: Critic,
    obs: torch.Tensor,
    alpha: torch.Tensor,
    ensemble_mean: bool = False,
) -> tuple[torch.Tensor, Metrics, torch.Tensor]:
    """E[alpha * log pi(a|s) - min_i Q_i(s, a)] with a = tanh(mu + sigma * eps) (Eq. 7/11);
    with `ensemble_mean` (REDQ) the critics' mean in place of the min, and with TQC critics the
    mean of every critic's quantiles.

    The caller freezes the critic's parameters, so gradient reaches mu and sigma through Q
    without computing critic weight gradients. Also returns the detached log-probs for Eq. 18.
    """
    action, log_prob = actor(obs).rsample()  # (B, A), (B,)
    out = critic(obs, action)  # (n, B), or TQC's (n, B, Q)
    if critic.quantiles:
        q = out.mean(dim=(0, 2))  # (B,)
    else:
        q = out.mean(dim=0) if ensemble_mean else out.min(dim=0).values  # (B,)
    loss = (alpha * log_prob - q).mean()
    log_prob = log_prob.detach()
    return loss, {"actor_loss": loss.detach(), "entropy": -log_prob.mean()}, log_prob


def alpha_loss(
    log_alpha: torch.Tensor, log_prob: torch.Tensor, target_entropy: float
) -> tuple[torch.Tensor, Metrics]:
    """Temperature loss (Eq. 18), in log alpha as SB3 and CleanRL: alpha rises when the
    policy's entropy -log pi falls below the target, and falls when it is above."""
    loss = -(log_alpha * (log_prob + target_entropy)).mean()
    return loss, {"alpha_loss": loss.detach()}


@torch.no_grad()
def soft_update(target: nn.Module, source: nn.Module, tau: float) -> None:
    """Polyak averaging in place: target <- target + tau * (source - target), one foreach call."""
    torch._foreach_lerp_(list(target.parameters()), list(source.parameters()), tau)


class SACAgent:
    """Actor, critic ensemble, target critics and temperature, with their optimizers.

    Acts in [-1, 1]^A (the envs rescale); `predict` maps to env units for SB3-style callers.
    """

    def __init__(
        self,
        obs_dim: int,
        action_dim: int,
        config: SACConfig,
        device: torch.device | str = "cpu",
        action_low: np.ndarray | None = None,
        action_high: np.ndarray | None = None,
    ) -> None:
        config.validate()
        check_sizes(obs_dim, action_dim)
        self.config = config
        self.obs_dim, self.action_dim = int(obs_dim), int(action_dim)
        self.device = checked_device(device)
        hidden = list(config.hidden_sizes)
        self.actor = Actor(
            obs_dim, action_dim, hidden, config.log_std_min, config.log_std_max,
            config.clamp_log_std, config.mean_clip,
        ).to(self.device)  # fmt: skip
        self.critic = Critic(
            obs_dim, action_dim, hidden, config.num_critics, config.critic_layer_norm,
            config.critic_quantiles,
        ).to(self.device)  # fmt: skip
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_alpha = torch.tensor(
            float(np.log(config.init_alpha)), device=self.device, requires_grad=config.learn_alpha
        )
        self.target_entropy = (
            float(-action_dim) if config.target_entropy is None else float(config.target_entropy)
        )
        self.actor_optimizer = make_adam(self.actor.parameters(), config.actor_lr, self.device)
        self.critic_optimizer = make_adam(self.critic.parameters(), config.critic_lr, self.device)
        self.alpha_optimizer = make_adam([self.log_alpha], config.alpha_lr, self.device)
        self.obs_norm = RunningObsNorm(obs_dim, self.device) if config.normalize_obs else None
        self.num_updates = 0  # counted here only: the update paths never touch it
        # An imported SB3 gSDE actor's log σ of its noise matrix (latent_dim, action_dim), kept for
        # the export back to SB3. Its noise matrix is drawn once per rollout, not per step:
        # acting cannot reproduce it, so stochastic actions are refused while it is set.
        self.sde_log_std: torch.Tensor | None = None
        self.action_low, self.action_high = action_bounds(action_low, action_high, action_dim)
        # Where acting and the manual update draw their noise (None: torch's default generator);
        # each member of a population of several has its own (agents/population.py). The
        # autograd backend, used only alone, draws from the default generator.
        self.generator: torch.Generator | None = None
        self._compiled_step: Callable[..., Metrics] | None = None  # set by compile()
        self._update_path = self._choose_update_path()

    def _choose_update_path(self) -> Callable[[Batch, bool], Metrics]:
        """The autograd losses above, or the hand-written update as a population of one."""
        self._graphed: GraphedUpdate | None = None
        if self.config.update_backend == "autograd":
            return self._autograd_update
        fast = fast_update_path(self.config.cuda_graphs, self.device, self._compiled_step)
        if isinstance(fast, GraphedUpdate):  # kept for inspection: its recorded graphs
            self._graphed = fast

        def one_member(batch: Batch, update_actor: bool) -> Metrics:
            members = Batch(*(field.unsqueeze(0) for field in batch))  # views: K = 1
            metrics = fast(self._parts(), members, update_actor)
            return {key: value.squeeze(0) for key, value in metrics.items()}

        return one_member

    def _parts(self) -> UpdateParts:
        """What the fast update reads and writes, with today's settings, as one member."""
        cfg = self.config
        actor, critic, critic_target = agent_layers(self.actor, self.critic, self.critic_target)
        return UpdateParts(
            actor, critic, critic_target, self.log_alpha.view(1), self.log_alpha,
            self.actor_optimizer, self.critic_optimizer, self.alpha_optimizer, cfg.target_discount,
            cfg.tau, cfg.learn_alpha, self.target_entropy, (self.generator,),
            cfg.critic_layer_norm, cfg.kept_atoms, cfg.target_subset_size,
        )  # fmt: skip

    def compile(self) -> None:
        """torch.compile the update (manual backend: all of it as one graph, in place of the
        CUDA graph on CUDA; autograd: the networks' forwards). Off by default: a 20k-step
        Pendulum run ends before the compile time is paid back (benchmarks/EXPERIMENTS.md)."""
        if self.config.update_backend == "manual":
            self._compiled_step = torch.compile(update_step)
            self._update_path = self._choose_update_path()
            return
        for net in (self.actor, self.critic, self.critic_target):
            net.forward = torch.compile(net.forward)

    @property
    def alpha(self) -> torch.Tensor:
        return self.log_alpha.detach().exp()

    def observe(self, obs: np.ndarray | torch.Tensor) -> None:
        """Update the observation statistics with collected training observations (N, obs_dim)."""
        if self.obs_norm is not None:
            obs_t = torch.as_tensor(obs)
            check_obs_shape(obs_t, self.obs_dim, finite=True)  # one NaN would poison them
            self.obs_norm.update(obs_t)

    def normalize(self, obs: torch.Tensor) -> torch.Tensor:
        """Observations as the networks see them (identity unless normalize_obs)."""
        return obs if self.obs_norm is None else self.obs_norm(obs)

    def update(self, batch: Batch) -> Metrics:
        """One SAC gradient step in the paper's order: critic, actor, alpha, target critics.
        The actor and alpha step on every `actor_update_every`-th update."""
        check_batch(batch, self.obs_dim, self.action_dim)  # ~10 µs; every backend
        if self.obs_norm is not None:  # the buffer keeps raw observations; today's statistics apply
            batch = batch._replace(
                obs=self.normalize(batch.obs), next_obs=self.normalize(batch.next_obs)
            )
        update_actor = self.num_updates % self.config.actor_update_every == 0
        metrics = self._update_path(batch, update_actor)
        self.num_updates += 1
        return metrics

    def _autograd_update(self, batch: Batch, update_actor: bool) -> Metrics:
        """The update through the loss functions above and loss.backward(): the reference."""
        cfg, alpha = self.config, self.alpha
        nets, gamma = (self.actor, self.critic, self.critic_target), cfg.target_discount
        if cfg.critic_quantiles:
            loss, metrics = truncated_quantile_loss(*nets, batch, alpha, gamma, cfg.kept_atoms)
        else:
            loss, metrics = critic_loss(*nets, batch, alpha, gamma, cfg.target_subset_size)
        self.critic_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.critic_optimizer.step()
        if update_actor:
            self.critic.requires_grad_(False)  # no critic weight gradients in the actor step
            redq = cfg.target_subset is not None  # the actor on the ensemble's mean
            loss, actor_metrics, log_prob = actor_loss(
                self.actor, self.critic, batch.obs, alpha, redq
            )
            self.actor_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.actor_optimizer.step()
            self.critic.requires_grad_(True)
            metrics |= actor_metrics
            if cfg.learn_alpha:
                loss, alpha_metrics = alpha_loss(self.log_alpha, log_prob, self.target_entropy)
                self.alpha_optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.alpha_optimizer.step()
                metrics |= alpha_metrics
        soft_update(self.critic_target, self.critic, cfg.tau)
        metrics["alpha"] = alpha
        return metrics

    @torch.no_grad()
    def act(
        self, obs: np.ndarray, deterministic: bool = False, eps: np.ndarray | None = None
    ) -> np.ndarray:
        """Batched actions in [-1, 1] for observations of shape (N, obs_dim); (action_dim,) for
        one (obs_dim,) observation.

        `eps` (N, action_dim) replaces the i.i.d. N(0, 1) draw, e.g. colored noise (agents.noise).
        """
        if not deterministic and self.sde_log_std is not None:
            raise ValueError(
                "stochastic actions are not supported for an SB3 gSDE model: its "
                "state-dependent noise is not reproduced; act with deterministic=True"
            )
        obs_t = torch.as_tensor(obs, dtype=torch.float32, device=self.device)
        check_obs_shape(obs_t, self.obs_dim)
        single = obs_t.dim() == 1  # one unbatched observation: one unbatched action
        obs_t = self.normalize(obs_t.unsqueeze(0) if single else obs_t)
        eps_t = None  # None: the deterministic action tanh(mean)
        if not deterministic and eps is None:
            shape = (obs_t.shape[0], self.action_dim)
            eps_t = torch.randn(shape, device=self.device, generator=self.generator)
        elif not deterministic:  # given noise, e.g. colored
            eps_t = torch.as_tensor(eps, dtype=torch.float32, device=self.device)
            eps_t = eps_t.unsqueeze(0) if single and eps_t.dim() == 1 else eps_t
            check_eps_shape(eps_t, (obs_t.shape[0], self.action_dim))
        if not self.actor.clamp_log_std and self.actor.mean_clip is None:
            action = actor_action(self.actor, obs_t, eps_t)  # Actor's action in plain ops, faster
        else:  # an imported SB3 actor: through its distribution
            dist = self.actor(obs_t)
            action = dist.mode if eps_t is None else dist.squash(eps_t)
        return (action[0] if single else action).cpu().numpy()

    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, None]:
        """SB3's `predict` signature: actions in the env's own units; a single obs gives one action.

        Works with `stable_baselines3.common.evaluation.evaluate_policy` on the raw env.
        """
        obs = np.asarray(observation, dtype=np.float32)
        single = obs.ndim == 1
        action = self.act(obs[None] if single else obs, deterministic)
        scaled = self.action_low + 0.5 * (action + 1.0) * (self.action_high - self.action_low)
        return (scaled[0] if single else scaled).astype(np.float32), None

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue training: networks, targets, optimizers, alpha, counter."""
        return {
            "obs_dim": self.obs_dim,
            "action_dim": self.action_dim,
            "config": asdict(self.config),
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict(),
            "critic_target": self.critic_target.state_dict(),
            "log_alpha": self.log_alpha.detach().clone(),
            "actor_optimizer": self.actor_optimizer.state_dict(),
            "critic_optimizer": self.critic_optimizer.state_dict(),
            "alpha_optimizer": self.alpha_optimizer.state_dict(),
            "num_updates": self.num_updates,
            "obs_norm": None if self.obs_norm is None else self.obs_norm.state_dict(),
            "sde_log_std": None if self.sde_log_std is None else self.sde_log_std.cpu().clone(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from `state_dict()`. Everything is checked before anything changes, so a
        mismatch raises one clear ValueError and leaves this agent as it was. Learning rates
        stay this agent's config's (the saved optimizers' are replaced), so a resumed run may
        change them."""
        optimizers = {
            "actor_optimizer": self.actor_optimizer,
            "critic_optimizer": self.critic_optimizer,
            "alpha_optimizer": self.alpha_optimizer,
        }
        networks = {"actor": self.actor, "critic": self.critic, "critic_target": self.critic_target}
        own_norm = None if self.obs_norm is None else self.obs_norm.state_dict()
        check_agent_state(
            state, (self.obs_dim, self.action_dim), networks, optimizers, self.log_alpha,
            own_norm, self.config.clamp_log_std, self.config.mean_clip,
        )  # fmt: skip
        # Recorded CUDA graphs hold the optimizer tensors about to be replaced: record anew.
        self._update_path = self._choose_update_path()
        for name, module in networks.items():
            module.load_state_dict(state[name])
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])
        # Optimizer.load_state_dict keeps tensors that already sit on the right device, so a
        # state taken from a live agent would share its Adam moments: copy first.
        learning_rates = (self.config.actor_lr, self.config.critic_lr, self.config.alpha_lr)
        for (key, optimizer), lr in zip(optimizers.items(), learning_rates):
            optimizer.load_state_dict(copy.deepcopy(state[key]))
            for group in optimizer.param_groups:
                group["capturable"] = self.device.type == "cuda"  # the saving device's flag
                group["lr"] = lr
        self.num_updates = int(state["num_updates"])
        if self.obs_norm is not None:
            self.obs_norm.load_state_dict(state["obs_norm"])
        sde_log_std = state.get("sde_log_std")  # absent from states saved before gSDE imports
        self.sde_log_std = None if sde_log_std is None else sde_log_std.to(self.device).clone()
