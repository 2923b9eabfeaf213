"""The SAC algorithm: torch and numpy only (no gymnasium, wandb or Hydra)."""

from agents.config import SACConfig
from agents.sac import SACAgent

__all__ = ["SACAgent", "SACConfig"]
