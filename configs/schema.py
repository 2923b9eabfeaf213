"""Typed config schema: `TrainConfig` for train.py, `EvaluateConfig` for evaluate.py. Both are
registered with Hydra's ConfigStore, so a misspelled key or a wrongly typed value fails at
composition, before a run starts.

Plain dataclasses (no Hydra import) so the schema is readable and importable anywhere.
Keep them mutable: a frozen dataclass breaks Hydra composition.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from agents.config import SACConfig


@dataclass
class EnvConfig:
    id: str = "???"  # Gymnasium id, e.g. Pendulum-v1; set by configs/env/<id>.yaml or env.id=...
    vectorization: str = "sync"  # sync | async (gymnasium.vector)
    max_episode_steps: Optional[int] = None  # None: the env's registered time limit
    kwargs: Dict[str, Any] = field(default_factory=dict)  # passed to gymnasium.make


@dataclass
class EvalConfig:
    every: int = 5000  # env steps between deterministic evaluations; 0 = only at the end
    episodes: int = 10
    num_envs: int = 1
    seed_offset: int = 10_000  # eval env seed = seed + seed_offset, apart from training envs
    video: bool = False  # record each evaluation's first episode to mp4 (and W&B)
    # The last evaluations averaged into summary.json's eval_return_recent_mean, the objective
    # train.py returns to a search (less noisy than the final evaluation alone).
    objective_evals: int = 3


@dataclass
class ExplorationConfig:
    # Spectrum exponent of the eps that acting uses: 0 = white (i.i.d. N(0, 1), SAC's default),
    # 1 = pink, 2 = red (Brownian-like). Temporally correlated eps helps sparse-reward tasks.
    noise_beta: float = 0.0
    # Uniform random actions before learning_starts; false: the (untrained) policy with the
    # noise above, whose correlated eps explores further than per-step uniform actions.
    uniform_warmup: bool = True


@dataclass
class CheckpointConfig:
    every: int = 0  # env steps between checkpoints; 0 = only at the end
    save_buffer: bool = True  # include the replay buffer, needed for an exact resume
    keep: int = 2  # checkpoints kept (checkpoint.pt, checkpoint.1.pt, ...): a damaged newest one
    # leaves resume=auto the one before
    on_error: str = "stop"  # a checkpoint that cannot be written (disk full): stop the run (the
    # previous checkpoint stays intact), or warn and train on


@dataclass
class WandbConfig:
    mode: str = "auto"  # auto | online | offline | disabled
    project: str = "sac"
    entity: Optional[str] = None
    group: Optional[str] = None
    tags: List[str] = field(default_factory=list)
    init_timeout: float = 30.0  # seconds before an unreachable server falls back to offline


@dataclass
class TrainConfig:
    env: EnvConfig = field(default_factory=EnvConfig)
    agent: SACConfig = field(default_factory=SACConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    exploration: ExplorationConfig = field(default_factory=ExplorationConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    wandb: WandbConfig = field(default_factory=WandbConfig)
    seed: int = 0
    # Independent agents trained in one process, seeds seed, seed+1, ..., as one batched update;
    # each writes a run dir of its own (member-<i>/) when there are several.
    population: int = 1
    total_steps: int = 100_000  # env steps over all parallel envs
    num_envs: int = 1
    learning_starts: int = 5000  # no updates (and uniform random actions) before this step
    device: str = "auto"  # auto | cpu | cuda
    log_every: int = 1000  # env steps between scalar logs (each log is one host sync)
    # Run dir or checkpoint file to continue from; auto: this run dir's own checkpoint if it has
    # one (same settings), else a fresh start: a re-run or requeued sweep job picks up its work.
    resume: Optional[str] = None
    compile: bool = False  # torch.compile the update (pays off in long CPU runs; see benchmarks/)
    # None: torch's default (all cores), or in a parallel sweep the job's share of the cores.
    torch_threads: Optional[int] = None
    progress: bool = True  # tqdm bar (hidden anyway when stderr is not a terminal)


@dataclass
class EvalWandbConfig(WandbConfig):
    mode: str = "disabled"  # auto | online | offline | disabled: evaluation logs only on request


@dataclass
class EvaluateConfig:
    """`python evaluate.py key=value ...`; a misspelled key fails at once (typed schema)."""

    checkpoint: Optional[str] = None  # a train.py run dir or checkpoint file
    sb3_model: Optional[str] = None  # an SB3 SAC MlpPolicy zip (needs env=)
    env: Optional[str] = None  # Gymnasium id; with checkpoint= it overrides the saved env
    episodes: int = 10
    deterministic: bool = True  # action tanh(mu); false samples a ~ pi(.|s)
    seed: int = 0  # seeds torch and the envs' first reset
    num_envs: int = 1
    video: bool = False  # mp4s of the first `video_episodes` episodes, next to the report
    video_episodes: int = 1
    output: Optional[str] = None  # report path; default: next to the checkpoint / model
    export_sb3: Optional[str] = None  # save the agent as an SB3 SAC zip instead of evaluating
    # Write the policy as an ONNX graph (.onnx) instead of evaluating: tanh(mu), or with
    # deterministic=false the policy given eps as a second input.
    export_onnx: Optional[str] = None
    wandb: EvalWandbConfig = field(default_factory=EvalWandbConfig)
