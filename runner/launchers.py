"""What a job of a `--multirun` sweep takes from the launcher that runs it: its share of the CPU
cores (torch threads) and its W&B grouping.

Hydra's launcher plugins run the jobs: the basic launcher one after another, joblib several at
once on this machine, submitit on SLURM (or locally, the same code path), Ray on a Ray cluster.
A job learns which one from Hydra's config. Jobs that share a machine must share its cores: two
Pendulum runs that each took both cores of a 2-core machine trained at 7-28 env-steps/s each,
against 310-520 with one thread each (the OpenMP threads of one job spin while the other's run).
"""

from __future__ import annotations

import multiprocessing
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import OmegaConf

from configs.schema import TrainConfig, WandbConfig

# `_target_` of each launcher plugin's config, by the name users select it with.
JOBLIB = "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"
SUBMITIT_LOCAL = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher"
SUBMITIT_SLURM = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
RAY = "hydra_plugins.hydra_ray_launcher.ray_launcher.RayLauncher"

# Overrides that say nothing about what a job learns: not worth a W&B tag.
UNTAGGED_KEYS = ("seed", "resume", "torch_threads", "progress", "wandb.", "hydra.", "device")
WANDB_TAG_LIMIT = 64  # characters; W&B refuses longer tags


def usable_cores() -> int:
    """The cores this process may run on: a SLURM allocation or a container's CPU set limits
    them below the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity call
        return os.cpu_count() or 1


def thread_share(launcher: dict[str, Any], cores: int) -> int | None:
    """Torch threads for one job of a sweep run by `launcher` (its Hydra config) on a machine
    (or allocation) of `cores`, so that concurrent jobs x threads never exceed the cores.
    None where the job has the cores to itself (torch's default: all of them)."""
    target = launcher.get("_target_", "")
    if target == JOBLIB:
        n_jobs = int(launcher.get("n_jobs") or -1)
        # joblib's convention: -1 is every core, -2 all but one, ...
        concurrent = n_jobs if n_jobs > 0 else max(1, cores + 1 + n_jobs)
        return max(1, cores // min(concurrent, cores))
    if target == SUBMITIT_LOCAL:
        # submitit's local executor starts every job of the sweep at once.
        return int(launcher.get("cpus_per_task") or 1)
    if target == SUBMITIT_SLURM:
        # SLURM gives each job its own allocation: the affinity mask is its cores.
        return int(launcher.get("cpus_per_task") or cores)
    if target == RAY:
        # Ray schedules a task per `num_cpus` it asks for (1 unless the user says otherwise).
        remote = (launcher.get("ray") or {}).get("remote") or {}
        return int(remote.get("num_cpus") or 1)
    return None  # the basic launcher: one job at a time


def job_of_worker_pool() -> bool:
    """Whether this job runs in a worker of the sweep process's own pool (joblib's), which
    should end with that process (runner.process.EndWithParent); submitit's and Ray's jobs
    belong to their schedulers, and the basic launcher's run in the sweep process itself."""
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return False
    # joblib runs n_jobs=1 in the sweep process itself: no worker, nothing to end with
    in_worker = multiprocessing.parent_process() is not None
    return in_worker and OmegaConf.select(hydra_cfg.launcher, "_target_") == JOBLIB


def override_tags(overrides: list[str]) -> list[str]:
    """W&B tags from a job's command-line overrides (`env=Pendulum-v1`, `agent.tau=0.01`):
    what the sweep varies, so W&B can filter and group by it. Seeds are left out (the group
    shows them together) and so are settings that do not change what is learned."""
    tags = []
    for override in overrides:
        key = override.split("=", 1)[0].lstrip("+~")
        if key.startswith(UNTAGGED_KEYS):
            continue
        tags.append(override[:WANDB_TAG_LIMIT])
    return tags


def sweep_job_settings(cfg: TrainConfig) -> TrainConfig:
    """`cfg` for the job Hydra is running: in a --multirun sweep, the torch threads its launcher
    leaves it (unless torch_threads is set), and W&B's group (the sweep dir's name unless
    wandb.group is set) and tags (from the job's overrides). A single run is left as it is."""
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return cfg
    launcher = OmegaConf.to_container(hydra_cfg.launcher, resolve=True)
    threads = cfg.torch_threads
    if threads is None:
        threads = thread_share(launcher, usable_cores())
    overrides = list(hydra_cfg.overrides.task)
    wandb: WandbConfig = replace(
        cfg.wandb,
        group=cfg.wandb.group or Path(hydra_cfg.sweep.dir).name,
        tags=list(dict.fromkeys([*cfg.wandb.tags, *override_tags(overrides)])),
    )
    return replace(cfg, torch_threads=threads, wandb=wandb)
