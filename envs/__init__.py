"""Gymnasium environments for SAC: gymnasium and numpy only (no torch, wandb or Hydra)."""

from envs.evaluation import Policy, evaluate
from envs.factory import (
    EnvError,
    EnvSpaces,
    env_spaces,
    flatten_state_dict,
    make_env,
    make_vector_env,
)
from envs.transitions import Transitions, TransitionTracker
from envs.video import record_video

__all__ = [
    "EnvError",
    "EnvSpaces",
    "Transitions",
    "TransitionTracker",
    "Policy",
    "env_spaces",
    "evaluate",
    "flatten_state_dict",
    "make_env",
    "make_vector_env",
    "record_video",
]
