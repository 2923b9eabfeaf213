"""The SAC algorithm: torch and numpy only (no gymnasium, wandb or Hydra)."""

from agents.sac import SACAgent, SACConfig

__all__ = ["SACAgent", "SACConfig"]
