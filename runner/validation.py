"""Checks of a composed config that its types cannot express, each naming the key: for
train.py (total_steps=0, an eval seed out of range, device=cuda without a GPU: a ConfigError)
and for evaluate.py (two model sources, num_envs above episodes: an EvalError)."""

from __future__ import annotations

import math
import sys

import torch

from configs.schema import EvaluateConfig, TrainConfig
from runner.errors import ConfigError, EvalError


def validate(cfg: TrainConfig) -> None:
    if cfg.resume is not None and not cfg.resume.strip():  # e.g. resume=$RUN with RUN unset
        raise ConfigError("resume= is empty: give a run dir or checkpoint file, or leave it out")
    for name in ("total_steps", "num_envs", "log_every", "population"):
        if getattr(cfg, name) < 1:
            raise ConfigError(f"{name} must be >= 1, got {getattr(cfg, name)}")
    for name, value in (
        ("learning_starts", cfg.learning_starts),
        ("eval.every", cfg.eval.every),
        ("checkpoint.every", cfg.checkpoint.every),
        ("exploration.noise_beta", cfg.exploration.noise_beta),
    ):
        if value < 0:
            raise ConfigError(f"{name} must be >= 0, got {value}")
    if cfg.checkpoint.keep < 1:
        raise ConfigError(f"checkpoint.keep must be >= 1, got {cfg.checkpoint.keep}")
    if cfg.checkpoint.on_error not in ("stop", "warn"):
        raise ConfigError(
            f"checkpoint.on_error must be stop or warn, got {cfg.checkpoint.on_error!r}"
        )
    for key in ("max_episode_steps", "render_mode"):  # set by the training loop itself
        if key in cfg.env.kwargs:
            where = "env.max_episode_steps" if key == "max_episode_steps" else "eval.video=true"
            raise ConfigError(f"env.kwargs.{key} is not an env kwarg here; use {where}")
    beta = cfg.exploration.noise_beta
    if not math.isfinite(beta):
        raise ConfigError(f"exploration.noise_beta must be finite, got {beta}")
    # torch.manual_seed takes a 64-bit integer and gymnasium a non-negative one; env seeds are
    # the seed (a resume's a hash below 2**32), eval seeds the seed plus eval.seed_offset.
    last_seed = cfg.seed + max(cfg.population, 1) - 1  # members' seeds: seed, seed+1, ...
    for name, value in (
        ("seed", cfg.seed),
        ("seed + population - 1", last_seed),
        ("seed + eval.seed_offset", cfg.seed + cfg.eval.seed_offset),
        ("seed + population - 1 + eval.seed_offset", last_seed + cfg.eval.seed_offset),
    ):
        if not 0 <= value < 2**62:
            raise ConfigError(f"{name} must be in [0, 2**62), got {value}")
    if cfg.eval.episodes < 1 or cfg.eval.num_envs < 1:
        raise ConfigError("eval.episodes and eval.num_envs must be >= 1")
    if cfg.eval.objective_evals < 1:
        raise ConfigError(f"eval.objective_evals must be >= 1, got {cfg.eval.objective_evals}")
    if cfg.eval.num_envs > cfg.eval.episodes:
        raise ConfigError(
            f"eval.num_envs={cfg.eval.num_envs} must be <= eval.episodes={cfg.eval.episodes}: "
            "an env beyond the episodes would run uncounted"
        )
    if cfg.torch_threads is not None and cfg.torch_threads < 1:
        raise ConfigError(f"torch_threads must be >= 1, got {cfg.torch_threads}")
    if cfg.device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"device must be auto, cpu or cuda, got {cfg.device!r}")
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device=cuda but no CUDA GPU is available; use device=auto or cpu")
    if cfg.wandb.mode not in ("auto", "online", "offline", "disabled"):
        raise ConfigError(
            f"wandb.mode must be auto, online, offline or disabled, got {cfg.wandb.mode!r}"
        )
    if cfg.wandb.mode != "disabled":
        check_wandb_importable(cfg.wandb.mode)
    try:
        cfg.agent.validate()
    except ValueError as error:
        raise ConfigError(str(error)) from error
    if cfg.population > 1 and cfg.agent.update_backend != "manual":
        raise ConfigError(
            f"population={cfg.population} needs agent.update_backend=manual (the autograd "
            "backend, the reference, updates one agent at a time)"
        )


def warn_about_wasted_settings(cfg: TrainConfig) -> None:
    """Legal settings that are rarely meant, each named in one `warning:` line."""
    warnings = []
    if cfg.learning_starts >= cfg.total_steps:  # legal (data collection), rarely meant
        acting = (
            "uniform random actions" if cfg.exploration.uniform_warmup else "the untrained policy"
        )
        warnings.append(
            f"learning_starts={cfg.learning_starts} >= total_steps={cfg.total_steps}: no "
            f"gradient update will run, the whole run acts with {acting}"
        )
    if cfg.agent.buffer_size < cfg.agent.batch_size:
        warnings.append(
            f"agent.buffer_size={cfg.agent.buffer_size} < agent.batch_size="
            f"{cfg.agent.batch_size}: every batch repeats transitions (sampled with replacement)"
        )
    for line in warnings:
        print(f"warning: {line}", file=sys.stderr)


def check_wandb_importable(mode: str) -> None:
    """Before the run dir is touched: a missing or broken wandb (any import error, e.g. a
    protobuf mismatch) is one clear line, not a traceback from inside a started run."""
    try:
        import wandb  # noqa: F401 - imported here once; RunLogger uses it
    except Exception as error:  # noqa: BLE001 - every import failure gets the same advice
        raise ConfigError(
            f"wandb.mode={mode} needs wandb, which cannot be imported ({error}): "
            "pip install wandb, or run with wandb.mode=disabled"
        ) from error


def validate_evaluate(cfg: EvaluateConfig) -> None:
    """evaluate.py's options: one source, and values that make sense together; an EvalError."""
    if (cfg.checkpoint is None) == (cfg.sb3_model is None):
        raise EvalError("give exactly one of checkpoint=<run dir or file> or sb3_model=<zip>")
    for name in ("checkpoint", "sb3_model", "env", "output", "export_sb3", "export_onnx"):
        if getattr(cfg, name) is not None and not str(getattr(cfg, name)).strip():
            # checkpoint= would read ./checkpoint.pt, output= write ./eval_report.json
            what = "an env id" if name == "env" else "a path"
            raise EvalError(f"{name}= is empty: give {what}, or leave it out")
    if cfg.sb3_model is not None and cfg.env is None:
        raise EvalError("sb3_model= needs env=<Gymnasium id>: an SB3 zip does not name its env")
    for name in ("episodes", "num_envs", "video_episodes"):
        if getattr(cfg, name) < 1:
            raise EvalError(f"{name} must be >= 1, got {getattr(cfg, name)}")
    if cfg.num_envs > cfg.episodes:  # num_envs=10**8 spent minutes building envs never used
        raise EvalError(
            f"num_envs={cfg.num_envs} must be <= episodes={cfg.episodes}: an env beyond the "
            "episodes would run uncounted"
        )
    if cfg.wandb.mode not in ("auto", "online", "offline", "disabled"):
        raise EvalError(f"wandb.mode must be auto|online|offline|disabled, got {cfg.wandb.mode!r}")
    if cfg.video and cfg.video_episodes > cfg.episodes:  # videos are of the evaluated episodes
        raise EvalError(f"video_episodes={cfg.video_episodes} must be <= episodes={cfg.episodes}")
    if cfg.export_sb3 is not None and cfg.export_onnx is not None:
        raise EvalError("give one of export_sb3= or export_onnx=, and export again for the other")
    for name in ("export_sb3", "export_onnx"):
        if getattr(cfg, name) is not None and (cfg.video or cfg.output is not None):
            raise EvalError(
                f"{name}= only exports (no rollouts, report or video); evaluate in a second command"
            )
    if not 0 <= cfg.seed < 2**62:  # torch takes 64-bit seeds, gymnasium non-negative ones
        raise EvalError(f"seed must be in [0, 2**62), got {cfg.seed}")
