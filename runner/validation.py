"""Checks of a composed training config that its types cannot express (total_steps=0, an eval
seed out of range, device=cuda without a GPU), each a ConfigError naming the key."""

from __future__ import annotations

import math

import torch

from configs.schema import TrainConfig
from runner.errors import ConfigError


def validate(cfg: TrainConfig) -> None:
    if cfg.resume is not None and not cfg.resume.strip():  # e.g. resume=$RUN with RUN unset
        raise ConfigError("resume= is empty: give a run dir or checkpoint file, or leave it out")
    for name in ("total_steps", "num_envs", "log_every"):
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
    for key in ("max_episode_steps", "render_mode"):  # set by train.py itself
        if key in cfg.env.kwargs:
            where = "env.max_episode_steps" if key == "max_episode_steps" else "eval.video=true"
            raise ConfigError(f"env.kwargs.{key} is not an env kwarg here; use {where}")
    beta = cfg.exploration.noise_beta
    if not math.isfinite(beta):
        raise ConfigError(f"exploration.noise_beta must be finite, got {beta}")
    # torch.manual_seed takes a 64-bit integer and gymnasium a non-negative one; env seeds are
    # the seed (a resume's a hash below 2**32), eval seeds the seed plus eval.seed_offset.
    eval_seed = cfg.seed + cfg.eval.seed_offset
    for name, value in (("seed", cfg.seed), ("seed + eval.seed_offset", eval_seed)):
        if not 0 <= value < 2**62:
            raise ConfigError(f"{name} must be in [0, 2**62), got {value}")
    if cfg.eval.episodes < 1 or cfg.eval.num_envs < 1:
        raise ConfigError("eval.episodes and eval.num_envs must be >= 1")
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
