"""SACConfig: the agent's hyperparameters, and their validation.

A plain dataclass (no Hydra import): configs/schema.py nests it as the `agent` group, so every
field here is a config key (`agent.batch_size=512`). Keep it mutable: a frozen dataclass breaks
Hydra composition.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

from agents.validation import is_integer


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
    # Normalize each hidden layer of the critics (LayerNorm before the ReLU), as DroQ and RLPD
    # do to keep Q-estimates bounded at high update-to-data ratios; theirs learns a gain and
    # bias, this one does not (agents/networks.py Critic says what that gives up).
    critic_layer_norm: bool = False
    # Truncated quantile critics (TQC, Kuznetsov et al. 2020): each critic outputs this many
    # quantiles of the return instead of one Q-value, trained with the quantile Huber loss; the
    # target pools every critic's quantiles and drops each critic's `quantiles_dropped` largest
    # (as atoms of the sorted pool), which controls overestimation finer than the min over
    # critics; the actor maximizes the mean of all quantiles. 0: plain Q critics (the paper).
    critic_quantiles: int = 0
    quantiles_dropped: int = 2  # per critic; TQC's MuJoCo settings range 0 to 5 (of 25)
    # Randomized ensembled double Q (REDQ, Chen et al. 2021): the target takes its min over this
    # many critics drawn at random from the ensemble at each update, and the actor maximizes the
    # ensemble's mean instead of its min; REDQ's MuJoCo setting is 2 of num_critics=10 at utd=20.
    # None: the min over every critic, for the target and the actor alike (the paper's SAC).
    target_subset: Optional[int] = None
    utd: float = 1.0  # gradient updates per env step, counted over all parallel envs
    # Rewards summed over n env steps per stored transition, the target bootstrapping from the
    # state n steps on with gamma^n (envs/n_step.py); 1: the paper's one-step target.
    n_step: int = 1
    actor_update_every: int = 1  # actor and alpha step once per this many critic steps
    init_alpha: float = 1.0
    learn_alpha: bool = True  # False keeps alpha fixed at init_alpha
    target_entropy: Optional[float] = None  # None: -|A| (the paper's heuristic)
    log_std_min: float = -5.0
    log_std_max: float = 2.0
    # How log σ is bounded to [log_std_min, log_std_max]: false squashes it with tanh (smooth,
    # as pytorch_sac and CleanRL); true clamps it hard, as SB3 does (models imported from SB3).
    clamp_log_std: bool = False
    # Clip the Gaussian's mean μ to [-mean_clip, mean_clip] before tanh, as SB3's gSDE actor
    # does (its clip_mean, 2 by default: models imported from SB3 with use_sde=True). None: no clip.
    mean_clip: Optional[float] = None
    normalize_obs: bool = False  # running mean/std of observations, from training data only
    # "manual": hand-written backward passes (agents/fast/, the fast path);
    # "autograd": the loss functions of agents/sac.py with loss.backward() (the reference).
    update_backend: str = "manual"
    cuda_graphs: bool = True  # on CUDA, replay the manual update as a CUDA graph

    @property
    def kept_atoms(self) -> int:
        """TQC: how many of the pooled target quantiles (num_critics * critic_quantiles) the
        target keeps, the smallest ones; 0 for plain Q critics."""
        if not self.critic_quantiles:
            return 0
        return self.num_critics * (self.critic_quantiles - self.quantiles_dropped)

    @property
    def target_subset_size(self) -> int:
        """REDQ: how many critics the target's min runs over; 0 for the min over all."""
        return self.target_subset or 0

    @property
    def target_discount(self) -> float:
        """The discount of the bootstrapped value in the critic's target: gamma^n_step."""
        return self.gamma**self.n_step

    def validate(self) -> None:
        """Raise ValueError naming the first bad value."""
        integers = ("batch_size", "buffer_size", "num_critics", "actor_update_every", "n_step",
                    "critic_quantiles", "quantiles_dropped")  # fmt: skip
        for name in integers:
            if not is_integer(getattr(self, name)):
                raise ValueError(f"agent.{name} must be an integer, got {getattr(self, name)!r}")
        if self.target_subset is not None and not is_integer(self.target_subset):
            raise ValueError(
                f"agent.target_subset must be an integer or null, got {self.target_subset!r}"
            )
        if not all(is_integer(width) for width in self.hidden_sizes):
            raise ValueError(f"agent.hidden_sizes must be integers, got {self.hidden_sizes}")
        # NaN fails every comparison below without raising, and inf is never meant (utd=inf never
        # finishes its updates; lr=inf trains to NaN): every float must be finite.
        for name in (
            "gamma", "tau", "actor_lr", "critic_lr", "alpha_lr", "utd", "init_alpha",
            "target_entropy", "log_std_min", "log_std_max", "mean_clip",
        ):  # fmt: skip
            value = getattr(self, name)
            if isinstance(value, bool):  # True would pass as 1.0
                raise ValueError(f"agent.{name} must be a number, got {value!r}")
            if value is not None and not math.isfinite(value):
                raise ValueError(f"agent.{name} must be a finite number, got {value}")
        positive = (
            "batch_size",
            "buffer_size",
            "num_critics",
            "actor_update_every",
            "utd",
            "n_step",
        )
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"agent.{name} must be > 0, got {getattr(self, name)}")
        for name in ("actor_lr", "critic_lr", "alpha_lr", "init_alpha"):
            if not getattr(self, name) > 0:
                raise ValueError(f"agent.{name} must be > 0, got {getattr(self, name)}")
        if self.critic_quantiles < 0:
            raise ValueError(
                f"agent.critic_quantiles must be >= 0 (0: plain Q critics), got "
                f"{self.critic_quantiles}"
            )
        if self.critic_quantiles and not 0 <= self.quantiles_dropped < self.critic_quantiles:
            raise ValueError(
                f"agent.quantiles_dropped must be in [0, agent.critic_quantiles), got "
                f"{self.quantiles_dropped} of {self.critic_quantiles}"
            )
        self._validate_target_subset()
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
        if self.mean_clip is not None and not self.mean_clip > 0:
            raise ValueError(f"agent.mean_clip must be > 0 or null, got {self.mean_clip}")
        if self.mean_clip is not None and self.update_backend == "manual":
            # The hand-written backward has no clip; autograd's zeroes the clipped gradients.
            raise ValueError(
                "agent.mean_clip needs agent.update_backend=autograd (the manual backward "
                "is written for an unclipped mean)"
            )
        if self.clamp_log_std and self.update_backend == "manual":
            # The hand-written backward is the tanh squash's; a clamp's gradient differs.
            raise ValueError(
                "agent.clamp_log_std=true needs agent.update_backend=autograd (the manual "
                "backward is written for the tanh-squashed log σ)"
            )

    def _validate_target_subset(self) -> None:
        if self.target_subset is None:
            return
        if not 1 <= self.target_subset <= self.num_critics:
            raise ValueError(
                f"agent.target_subset must be in [1, agent.num_critics] or null, got "
                f"{self.target_subset} of {self.num_critics}"
            )
        if self.critic_quantiles:
            # TQC's target pools every critic's quantiles: a subset would be a third algorithm.
            raise ValueError(
                "agent.target_subset (REDQ) and agent.critic_quantiles (TQC) exclude "
                "each other: set one of them"
            )
