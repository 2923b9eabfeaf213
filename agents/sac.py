"""Soft Actor-Critic (Haarnoja et al., arXiv:1812.05905): losses, target update and the agent.

Read top to bottom: critic target and loss (Eq. 5-6), actor loss (Eq. 7/11), temperature loss
(Eq. 18), Polyak update. The loss functions are pure: (networks, batch) -> (loss, metrics).
Metrics stay detached tensors; converting them to floats (a host sync) is the caller's business.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

import numpy as np
import torch
from torch import nn

from agents.cuda_graph import GraphedUpdate
from agents.manual_update import actor_action, manual_update, update_step
from agents.networks import Actor, Critic
from agents.normalization import RunningObsNorm
from agents.replay_buffer import Batch
from agents.validation import checked_device, is_integer

Metrics = dict[str, torch.Tensor]


@dataclass
class SACConfig:
    """SAC hyperparameters; defaults follow the SAC paper / SB3 (256x256, lr 3e-4, batch 256)."""

    batch_size: int = 256
    buffer_size: int = 1_000_000
    gamma: float = 0.99
    tau: float = 0.005  # Polyak coefficient: target <- (1 - tau) * target + tau * online
    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    alpha_lr: float = 3e-4
    hidden_sizes: list[int] = field(default_factory=lambda: [256, 256])
    num_critics: int = 2  # ensemble size; the target takes the min over all of them
    utd: float = 1.0  # gradient updates per env step, counted over all parallel envs
    actor_update_every: int = 1  # actor and alpha step once per this many critic steps
    init_alpha: float = 1.0
    learn_alpha: bool = True  # False keeps alpha fixed at init_alpha
    target_entropy: Optional[float] = None  # None: -|A| (the paper's heuristic)
    log_std_min: float = -5.0
    log_std_max: float = 2.0
    normalize_obs: bool = False  # running mean/std of observations, from training data only
    # "manual": hand-written backward passes (agents/manual_update.py, the fast path);
    # "autograd": the loss functions below with loss.backward() (the readable reference).
    update_backend: str = "manual"
    cuda_graphs: bool = True  # on CUDA, replay the manual update as a CUDA graph

    def validate(self) -> None:
        """Raise ValueError naming the first bad value."""
        for name in ("batch_size", "buffer_size", "num_critics", "actor_update_every"):
            if not is_integer(getattr(self, name)):
                raise ValueError(f"agent.{name} must be an integer, got {getattr(self, name)!r}")
        if not all(is_integer(width) for width in self.hidden_sizes):
            raise ValueError(f"agent.hidden_sizes must be integers, got {self.hidden_sizes}")
        # NaN fails every comparison below without raising, and inf is never meant (utd=inf never
        # finishes its updates; lr=inf trains to NaN): every float must be finite.
        for name in (
            "gamma", "tau", "actor_lr", "critic_lr", "alpha_lr", "utd", "init_alpha",
            "target_entropy", "log_std_min", "log_std_max",
        ):  # fmt: skip
            value = getattr(self, name)
            if isinstance(value, bool):  # True would pass as 1.0
                raise ValueError(f"agent.{name} must be a number, got {value!r}")
            if value is not None and not math.isfinite(value):
                raise ValueError(f"agent.{name} must be a finite number, got {value}")
        positive = ("batch_size", "buffer_size", "num_critics", "actor_update_every", "utd")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"agent.{name} must be > 0, got {getattr(self, name)}")
        for name in ("actor_lr", "critic_lr", "alpha_lr", "init_alpha"):
            if not getattr(self, name) > 0:
                raise ValueError(f"agent.{name} must be > 0, got {getattr(self, name)}")
        if not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"agent.gamma must be in [0, 1], got {self.gamma}")
        if not 0.0 <= self.tau <= 1.0:
            raise ValueError(f"agent.tau must be in [0, 1], got {self.tau}")
        if not self.hidden_sizes or min(self.hidden_sizes) < 1:
            raise ValueError(f"agent.hidden_sizes must be positive widths, got {self.hidden_sizes}")
        if self.update_backend not in ("manual", "autograd"):
            raise ValueError(
                f"agent.update_backend must be manual or autograd, got {self.update_backend!r}"
            )
        if self.log_std_min >= self.log_std_max:
            raise ValueError("agent.log_std_min must be below agent.log_std_max")


def _actor_of_class(name: str, obs_dim: int, action_dim: int, config: SACConfig) -> Actor:
    """A fresh actor of a saved state's class: ours, or an imported SB3 model's."""
    hidden = list(config.hidden_sizes)
    if name == "Actor":
        return Actor(obs_dim, action_dim, hidden, config.log_std_min, config.log_std_max)
    if name == "SB3Actor":
        from agents.sb3 import SB3Actor  # agents.sb3 builds on this module

        return SB3Actor(obs_dim, action_dim, hidden, config.log_std_min, config.log_std_max)
    raise ValueError(f"agent state has an actor of unknown class {name!r}")


def _check_batch(batch: Batch, obs_dim: int, action_dim: int) -> None:
    """A hand-built batch with reward (B, 1) would broadcast the target to (B, B) and train on
    it without an error: every field's shape is checked against the batch size."""
    size = batch.action.shape[0]
    expected = {
        "obs": (size, obs_dim),
        "action": (size, action_dim),
        "reward": (size,),
        "next_obs": (size, obs_dim),
        "terminated": (size,),
    }
    for name, shape in expected.items():
        if tuple(getattr(batch, name).shape) != shape:
            raise ValueError(f"batch.{name} has shape {tuple(getattr(batch, name).shape)}, "
                             f"expected {shape}")  # fmt: skip


def _action_bounds(
    low: np.ndarray | None, high: np.ndarray | None, action_dim: int
) -> tuple[np.ndarray, np.ndarray]:
    """`predict`'s env bounds, checked: both or neither (then [-1, 1]), finite, scalars or of
    shape (action_dim,), low <= high. Why strict: numpy would broadcast any other shape into
    wrong actions silently."""
    if (low is None) != (high is None):
        raise ValueError("give both action_low and action_high, or neither (then [-1, 1])")
    if low is None or high is None:
        return -np.ones(action_dim), np.ones(action_dim)
    low, high = np.asarray(low, np.float64), np.asarray(high, np.float64)
    # A scalar bound means the same bound for every action dimension, as in gymnasium's Box.
    low = np.full(action_dim, float(low)) if low.ndim == 0 else low
    high = np.full(action_dim, float(high)) if high.ndim == 0 else high
    for name, bound in (("action_low", low), ("action_high", high)):
        if bound.shape != (action_dim,):
            raise ValueError(f"{name} has shape {bound.shape}, expected ({action_dim},)")
        if not np.all(np.isfinite(bound)):
            raise ValueError(f"{name} must be finite, got {bound}")
    if np.any(low > high):
        raise ValueError(f"action_low must be <= action_high, got {low} and {high}")
    return low, high


def critic_loss(
    actor: Actor,
    critic: Critic,
    critic_target: Critic,
    batch: Batch,
    alpha: torch.Tensor,
    gamma: float,
) -> tuple[torch.Tensor, Metrics]:
    """Soft Bellman residual (Eq. 5) with clipped double-Q: min over the target ensemble."""
    with torch.no_grad():
        next_action, next_log_prob = actor(batch.next_obs).rsample()  # (B, A), (B,)
        next_q = critic_target(batch.next_obs, next_action).min(dim=0).values  # (B,)
        next_value = next_q - alpha * next_log_prob  # (B,) soft state value V(s'), Eq. 3
        # Bootstrap unless the episode truly terminated; a time-limit truncation still
        # bootstraps, since the state it cut off has a future the agent cannot see.
        target = batch.reward + gamma * (1.0 - batch.terminated) * next_value  # (B,)
    q = critic(batch.obs, batch.action)  # (n, B)
    # 0.5 * MSE per critic, summed over the ensemble (as SB3), so each critic's gradient is
    # independent of the ensemble size.
    loss = 0.5 * (q - target).square().mean(dim=1).sum()
    return loss, {"critic_loss": loss.detach(), "q_mean": q.detach().mean()}


def actor_loss(
    actor: Actor, critic: Critic, obs: torch.Tensor, alpha: torch.Tensor
) -> tuple[torch.Tensor, Metrics, torch.Tensor]:
    """E[alpha * log pi(a|s) - min_i Q_i(s, a)] with a = tanh(mu + sigma * eps) (Eq. 7/11).

    The caller freezes the critic's parameters, so gradient reaches mu and sigma through Q
    without computing critic weight gradients. Also returns the detached log-probs for Eq. 18.
    """
    action, log_prob = actor(obs).rsample()  # (B, A), (B,)
    q = critic(obs, action).min(dim=0).values  # (B,)
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


def _adam(params: Any, lr: float, device: torch.device) -> torch.optim.Adam:
    # Fused Adam updates every tensor in one kernel; it exists on CPU and CUDA in torch >= 2.4.
    # Capturable on CUDA, so its step can be recorded in a CUDA graph (agents/cuda_graph.py).
    return torch.optim.Adam(params, lr=lr, fused=True, capturable=device.type == "cuda")


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
        for name, size in (("obs_dim", obs_dim), ("action_dim", action_dim)):
            if not is_integer(size) or size < 1:
                raise ValueError(f"{name} must be a positive integer, got {size!r}")
        self.config = config
        self.obs_dim, self.action_dim = int(obs_dim), int(action_dim)
        self.device = checked_device(device)
        hidden = list(config.hidden_sizes)
        self.actor = Actor(obs_dim, action_dim, hidden, config.log_std_min, config.log_std_max)
        self.critic = Critic(obs_dim, action_dim, hidden, config.num_critics)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        for net in (self.actor, self.critic, self.critic_target):
            net.to(self.device)
        self.log_alpha = torch.tensor(
            float(np.log(config.init_alpha)), device=self.device, requires_grad=config.learn_alpha
        )
        self.target_entropy = (
            float(-action_dim) if config.target_entropy is None else float(config.target_entropy)
        )
        self.actor_optimizer = _adam(self.actor.parameters(), config.actor_lr, self.device)
        self.critic_optimizer = _adam(self.critic.parameters(), config.critic_lr, self.device)
        self.alpha_optimizer = _adam([self.log_alpha], config.alpha_lr, self.device)
        self.obs_norm = RunningObsNorm(obs_dim, self.device) if config.normalize_obs else None
        self.num_updates = 0
        self._graphed: GraphedUpdate | None = None
        self._update_step: Callable[..., Metrics] | None = None  # set by compile()
        self._compiled_forwards = False  # compile() with the autograd backend
        self.action_low, self.action_high = _action_bounds(action_low, action_high, action_dim)

    def compile(self) -> None:
        """torch.compile the update; state_dict keys stay unchanged.

        Manual backend: the whole update (`update_step`, forward, backward, Adam and Polyak) as
        one compiled graph, ~20 % faster per update on a 2-core CPU after ~20-30 s of compiling
        (benchmarks/EXPERIMENTS.md); on CUDA it replaces the CUDA-graph replay. Autograd
        backend: the networks' forwards (slower there: 7.1 vs 4.7 ms per update). Off by
        default: a 20k-step Pendulum run ends before the compile time is paid back.
        """
        if self.config.update_backend == "manual":
            self._update_step = torch.compile(update_step)
            return
        self._compiled_forwards = True  # load_state_dict compiles a swapped-in actor too
        for net in (self.actor, self.critic, self.critic_target):
            net.forward = torch.compile(net.forward)

    @property
    def alpha(self) -> torch.Tensor:
        return self.log_alpha.detach().exp()

    def observe(self, obs: np.ndarray | torch.Tensor) -> None:
        """Update the observation statistics with collected training observations (N, obs_dim)."""
        if self.obs_norm is not None:
            obs_t = torch.as_tensor(obs)
            self._check_obs_shape(obs_t)
            if not bool(torch.isfinite(obs_t).all()):  # one NaN would poison the statistics
                raise ValueError("observations hold NaN or inf; the statistics would stay NaN")
            self.obs_norm.update(obs_t)

    def _check_obs_shape(self, obs: torch.Tensor) -> None:
        """One (obs_dim,) observation or a batch (N, obs_dim); torch would regroup other shapes
        of the same size silently (reshape) or fail deep inside a matmul."""
        if obs.dim() not in (1, 2) or obs.shape[-1] != self.obs_dim:
            raise ValueError(
                f"observations have shape {tuple(obs.shape)}, expected (N, {self.obs_dim}) or "
                f"({self.obs_dim},)"
            )

    def normalize(self, obs: torch.Tensor) -> torch.Tensor:
        """Observations as the networks see them (identity unless normalize_obs)."""
        return obs if self.obs_norm is None else self.obs_norm(obs)

    def update(self, batch: Batch) -> Metrics:
        """One SAC gradient step in the paper's order: critic, actor, alpha, target critics."""
        cfg = self.config
        _check_batch(batch, self.obs_dim, self.action_dim)  # ~10 µs; every backend
        if self.obs_norm is not None:  # the buffer keeps raw observations; today's statistics apply
            batch = batch._replace(
                obs=self.normalize(batch.obs), next_obs=self.normalize(batch.next_obs)
            )
        if cfg.update_backend == "manual":
            if type(self.actor) is not Actor:  # its backward is written for Actor's layout
                raise ValueError(
                    f"update_backend='manual' needs agents.networks.Actor, not "
                    f"{type(self.actor).__name__}; use update_backend='autograd'"
                )
            if cfg.cuda_graphs and self.device.type == "cuda" and self._update_step is None:
                self._graphed = self._graphed or GraphedUpdate(self)
                return self._graphed(batch)
            return manual_update(self, batch, step=self._update_step)
        alpha = self.alpha
        loss, metrics = critic_loss(
            self.actor, self.critic, self.critic_target, batch, alpha, cfg.gamma
        )
        self.critic_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.critic_optimizer.step()

        if self.num_updates % cfg.actor_update_every == 0:
            self.critic.requires_grad_(False)  # no critic weight gradients in the actor step
            loss, actor_metrics, log_prob = actor_loss(self.actor, self.critic, batch.obs, alpha)
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
        self.num_updates += 1
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
        obs_t = torch.as_tensor(obs, dtype=torch.float32, device=self.device)
        self._check_obs_shape(obs_t)
        single = obs_t.dim() == 1  # one unbatched observation: one unbatched action
        obs_t = self.normalize(obs_t.unsqueeze(0) if single else obs_t)
        eps_t = None  # None: the deterministic action tanh(mean)
        if not deterministic and eps is None:
            eps_t = torch.randn(obs_t.shape[0], self.action_dim, device=self.device)
        elif not deterministic:  # given noise, e.g. colored
            eps_t = torch.as_tensor(eps, dtype=torch.float32, device=self.device)
            eps_t = eps_t.unsqueeze(0) if single and eps_t.dim() == 1 else eps_t
            expected = (obs_t.shape[0], self.action_dim)
            if eps_t.shape != expected:  # no silent broadcasting of one eps to all envs
                raise ValueError(f"eps has shape {tuple(eps_t.shape)}, expected {expected}")
        if type(self.actor) is Actor:  # the same action in plain ops, per env step (see there)
            action = actor_action(self.actor, obs_t, eps_t)
        else:  # e.g. an imported SB3 actor: through its distribution
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
            # An imported SB3 model's actor bounds log σ its own way (agents.sb3.SB3Actor).
            "actor_class": type(self.actor).__name__,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from `state_dict()`. Everything is checked before anything changes, so a
        mismatch raises one clear ValueError and leaves this agent as it was. Learning rates
        stay this agent's config's (the saved optimizers' are replaced), so a resumed run may
        change them."""
        actor = self._check_state(state)
        self._graphed = None  # recorded CUDA graphs point at the tensors about to be replaced
        if actor is not self.actor:  # a saved actor of another class, e.g. an imported SB3 model
            self.actor = actor.to(self.device)
            if self._compiled_forwards:
                self.actor.forward = torch.compile(self.actor.forward)
            self.actor_optimizer = _adam(self.actor.parameters(), self.config.actor_lr, self.device)
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self.critic_target.load_state_dict(state["critic_target"])
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])
        # Optimizer.load_state_dict keeps tensors that already sit on the right device, so a
        # state taken from a live agent would share its Adam moments: copy first.
        cfg = self.config
        for optimizer, key, lr in (
            (self.actor_optimizer, "actor_optimizer", cfg.actor_lr),
            (self.critic_optimizer, "critic_optimizer", cfg.critic_lr),
            (self.alpha_optimizer, "alpha_optimizer", cfg.alpha_lr),
        ):
            optimizer.load_state_dict(copy.deepcopy(state[key]))
            for group in optimizer.param_groups:
                group["capturable"] = self.device.type == "cuda"  # the saving device's flag
                group["lr"] = lr
        self.num_updates = int(state["num_updates"])
        if self.obs_norm is not None:
            self.obs_norm.load_state_dict(state["obs_norm"])

    def _check_state(self, state: dict[str, Any]) -> Actor:
        """ValueError for a state `load_state_dict` could only partly apply; else the actor to
        load it into (this agent's, or a fresh one of the saved actor's class)."""
        required = ("obs_dim", "action_dim", "actor", "critic", "critic_target", "log_alpha")
        optimizers = ("actor_optimizer", "critic_optimizer", "alpha_optimizer")
        missing = [key for key in (*required, *optimizers, "num_updates") if key not in state]
        if missing:
            raise ValueError(f"agent state lacks {missing}")
        dims = (state["obs_dim"], state["action_dim"])
        if dims != (self.obs_dim, self.action_dim):
            raise ValueError(
                f"checkpoint is for obs_dim={dims[0]}, action_dim={dims[1]}; this agent has "
                f"obs_dim={self.obs_dim}, action_dim={self.action_dim}"
            )
        if (state.get("obs_norm") is None) != (self.obs_norm is None):
            raise ValueError("checkpoint and config disagree on agent.normalize_obs")
        if self.obs_norm is not None:
            own_norm, saved_norm = self.obs_norm.state_dict(), state["obs_norm"]
            for key, value in own_norm.items():
                saved_value = saved_norm.get(key) if isinstance(saved_norm, dict) else None
                if saved_value is None or np.shape(saved_value) != np.shape(value):
                    raise ValueError(f"checkpoint observation statistics: bad {key!r}")
        log_alpha_shape = tuple(torch.as_tensor(state["log_alpha"]).shape)
        if log_alpha_shape != tuple(self.log_alpha.shape):
            raise ValueError(f"checkpoint log_alpha has shape {log_alpha_shape}")
        if not is_integer(state["num_updates"]) or state["num_updates"] < 0:
            raise ValueError(f"checkpoint num_updates is {state['num_updates']!r}")
        actor_class = state.get("actor_class", "Actor")
        actor = (
            self.actor
            if actor_class == type(self.actor).__name__
            else _actor_of_class(actor_class, self.obs_dim, self.action_dim, self.config)
        )
        for name, module in (
            ("actor", actor),
            ("critic", self.critic),
            ("critic_target", self.critic_target),
        ):
            own = module.state_dict()
            saved = state[name]
            if set(saved) != set(own):
                difference = sorted(set(saved) ^ set(own))
                raise ValueError(
                    f"checkpoint networks do not match the config: {name} parameters differ "
                    f"({', '.join(difference[:3])})"
                )
            for key, tensor in own.items():
                if tuple(saved[key].shape) != tuple(tensor.shape):
                    raise ValueError(
                        f"checkpoint networks do not match the config: {name}.{key} has shape "
                        f"{tuple(saved[key].shape)}, this agent {tuple(tensor.shape)}"
                    )
        own_sizes = {
            "actor_optimizer": [sum(1 for _ in actor.parameters())],
            "critic_optimizer": [
                len(group["params"]) for group in self.critic_optimizer.param_groups
            ],
            "alpha_optimizer": [
                len(group["params"]) for group in self.alpha_optimizer.param_groups
            ],
        }
        for key, sizes in own_sizes.items():  # what Optimizer.load_state_dict would refuse late
            saved = state[key]
            groups = saved.get("param_groups") if isinstance(saved, dict) else None
            if not isinstance(groups, list) or [len(g.get("params", ())) for g in groups] != sizes:
                raise ValueError(f"checkpoint {key} does not fit this agent's parameters")
        return actor
