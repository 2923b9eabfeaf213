"""The typed training config registered with Hydra, and the resolvers its files use."""

from __future__ import annotations

import re
from pathlib import Path

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from configs.schema import EvaluateConfig, TrainConfig


def register_configs() -> None:
    """`base_config` (configs/config.yaml's first default) is TrainConfig, and `evaluate` is
    evaluate.py's whole config, so a misspelled key or a wrongly typed value fails at
    composition. Idempotent."""
    store = ConfigStore.instance()
    store.store(name="base_config", node=TrainConfig)
    store.store(name="evaluate_schema", node=EvaluateConfig)
    # Evaluation writes only its report (and videos): no outputs/ run dir, no .hydra/, no log.
    store.store(
        name="evaluate",
        node={
            "defaults": [
                "evaluate_schema",
                "_self_",
                {"override hydra/job_logging": "disabled"},
                {"override hydra/hydra_logging": "disabled"},
            ],
            "hydra": {
                "run": {"dir": "."},
                "sweep": {"dir": ".", "subdir": "."},
                "output_subdir": None,
            },
        },
    )
    # Run dirs are named after the env id; ids like dm_control/cheetah-run-v0 hold a slash.
    OmegaConf.register_new_resolver(
        "path_safe", lambda text: re.sub(r"[^\w.-]", "-", str(text)), replace=True
    )
    OmegaConf.register_new_resolver("sqlite_url", sqlite_url, replace=True)


def sqlite_url(path: str) -> str:
    """`${sqlite_url:runs/search/x.db}`: the SQLAlchemy URL of a SQLite file, its folder made
    first (SQLite creates the file, not its folder): an Optuna study's storage in a fresh clone,
    where runs/ does not exist yet."""
    file = Path(path).expanduser()
    file.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{file}"
