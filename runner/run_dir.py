"""Run directories: which files make a dir another run's, and the config files a run keeps.

A dir that holds another run's files is never trained into (unless resumed in place), and a
refused run leaves that run's files as they were.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from agents.checkpoint import FILENAME, CheckpointError, resolve_checkpoint_path
from runner.errors import ConfigError

# What a run writes into its dir; any of them marks the dir as another run's.
RUN_FILES = (FILENAME, "model.pt", "best.pt", "summary.json", "metrics.jsonl")
# What a population of several members writes beside its members' dirs (member-<i>/).
POPULATION_SUMMARY = "population.json"


def member_dir(run_dir: Path, index: int, population: int) -> Path:
    """Where member `index` writes: the run dir itself for a single run, else member-<index>/."""
    return run_dir if population == 1 else run_dir / f"member-{index}"


def member_config(config_dict: dict[str, Any], seed: int, population: int) -> dict[str, Any]:
    """A member's resolved config: the run's, with the member's own seed (a single run's is the
    run's, as it came)."""
    return config_dict if population == 1 else {**config_dict, "seed": seed}


def refuse_used_run_dir(run_dir: Path, resume: str | None) -> None:
    """A run dir that holds another run's files is not trained into (its models, summary and
    metrics would be overwritten or mixed), unless this run resumes that dir's checkpoint. Any
    of the files counts: a dir whose large checkpoint.pt was deleted still holds a run."""
    # An empty file is no run's: metrics.jsonl is created before W&B starts, which a Ctrl-C or
    # a failed start can interrupt.
    found = [name for name in RUN_FILES if nonempty(run_dir / name)]
    if not found:
        return
    existing = run_dir / FILENAME
    if resume:
        try:  # this dir's checkpoint.pt, or an older one it keeps (checkpoint.1.pt)
            if resolve_checkpoint_path(resume).resolve().parent == run_dir.resolve():
                return
        except CheckpointError:
            pass  # reported by load_checkpoint, with its own message
    hint = (
        f"or add resume={run_dir} to continue that run there"
        if existing.exists()
        else f"or move its files away (it has no {FILENAME} to resume)"
    )
    in_sweep = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
    dir_key = "hydra.sweep.dir" if in_sweep else "hydra.run.dir"  # a sweep's job dirs follow it
    raise ConfigError(
        f"{run_dir} already holds a run ({', '.join(found)}); choose another {dir_key} {hint}"
    )


def finished_at(run_dir: Path, name: str = "summary.json") -> int | None:
    """The step of the summary.json a finished run wrote in run_dir (or `name`, e.g. a
    population's population.json), else None."""
    try:
        return int(json.loads((run_dir / name).read_text())["total_steps"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def saved_config(run_dir: Path) -> dict | None:
    """The config a run in run_dir started with (its `.hydra/config.yaml`), else None."""
    path = run_dir / ".hydra" / "config.yaml"
    if not path.is_file():
        return None
    try:
        config = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    except Exception:  # noqa: BLE001 - an unreadable file is no evidence either way
        return None
    return config if isinstance(config, dict) else None


def nonempty(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0


def save_hydra_files(run_dir: Path, dict_cfg: DictConfig) -> None:
    """`.hydra/config.yaml`, `hydra.yaml` and `overrides.yaml`, as Hydra writes them (its own
    writing is off: `hydra.output_subdir: null` in configs/config.yaml)."""
    hydra_cfg = HydraConfig.get()
    folder = run_dir / ".hydra"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(OmegaConf.to_yaml(dict_cfg))
    (folder / "hydra.yaml").write_text(OmegaConf.to_yaml({"hydra": hydra_cfg}))
    (folder / "overrides.yaml").write_text(OmegaConf.to_yaml(hydra_cfg.overrides.task))


def remove_if_unused(run_dir: Path) -> None:
    """Remove the run dir Hydra made for a refused job if nothing was written into it (but
    Hydra's still-empty train.log)."""
    contents = list(run_dir.iterdir()) if run_dir.is_dir() else None
    if contents is not None and all(p.name == "train.log" and p.stat().st_size == 0
                                    for p in contents):  # fmt: skip
        for path in contents:
            path.unlink()
        run_dir.rmdir()
