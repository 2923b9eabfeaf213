"""The typed training config registered with Hydra, and the resolvers its files use."""

from __future__ import annotations

import re

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from configs.schema import TrainConfig


def register_configs() -> None:
    """`base_config` (configs/config.yaml's first default) is TrainConfig, so a misspelled key
    or a wrongly typed value fails at composition. Idempotent."""
    ConfigStore.instance().store(name="base_config", node=TrainConfig)
    # Run dirs are named after the env id; ids like dm_control/cheetah-run-v0 hold a slash.
    OmegaConf.register_new_resolver(
        "path_safe", lambda text: re.sub(r"[^\w.-]", "-", str(text)), replace=True
    )
