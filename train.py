"""Train SAC on a Gymnasium env: `python train.py env=Pendulum-v1 [key=value ...]`.

The composition root: Hydra composes the typed config (configs/), then `main` checks it, writes
the run's config files and hands it to the training loop (runner.training), which builds envs,
agent, replay buffer and W&B tracking and returns the run's summary. Every bad input is one
`error: ...` line and exit status 2; Ctrl-C and SIGTERM save a checkpoint and exit 130 / 143.

Many runs: `python train.py -m seed=0,1,2,3,4 hydra/launcher=joblib` (or submitit_slurm, ray;
a search with hydra/sweeper=optuna). `main` returns the run's objective, the mean of its last
evaluations (summary.json's eval_return_recent_mean), which is what Optuna maximizes.
"""

from __future__ import annotations

from runner.process import headless_defaults

headless_defaults()  # before gymnasium and wandb are imported

import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import NoReturn  # noqa: E402

import hydra  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from hydra.types import RunMode  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException  # noqa: E402

from agents.checkpoint import CheckpointError, CheckpointWriteError  # noqa: E402
from configs.schema import TrainConfig  # noqa: E402
from envs import EnvError  # noqa: E402
from runner.config_store import register_configs  # noqa: E402
from runner.errors import ConfigError, RefusedJob  # noqa: E402
from runner.hydra_errors import job_started, one_line, run_cli  # noqa: E402
from runner.launchers import job_of_worker_pool, sweep_job_settings  # noqa: E402
from runner.process import (  # noqa: E402
    EndWithParent,
    exit_status,
    install_sigterm_handler,
    plain_warnings,
)
from runner.run_dir import remove_if_unused, save_hydra_files  # noqa: E402
from runner.training import run_training  # noqa: E402

register_configs()


def bad_input(message: str, run_dir: Path) -> NoReturn:
    """One `error:` line; a single run exits 2, a sweep's job fails (RefusedJob) and Hydra
    goes on with the other jobs of its batch. The run directory Hydra made for the job goes
    too if nothing was written into it."""
    print(f"error: {message}", file=sys.stderr)
    remove_if_unused(run_dir)
    if HydraConfig.get().mode != RunMode.MULTIRUN:
        sys.exit(2)
    raise RefusedJob(f"#{HydraConfig.get().job.num}")


@hydra.main(version_base=None, config_path="configs", config_name="config")
def main(dict_cfg: DictConfig) -> float:
    # Hydra composed the config: its own error report applies from here
    job_started(multirun=HydraConfig.get().mode == RunMode.MULTIRUN)
    if not job_of_worker_pool():
        return train(dict_cfg)
    with EndWithParent():  # a joblib job ends with its sweep's process
        return train(dict_cfg)


def train(dict_cfg: DictConfig) -> float:
    """One run (or a sweep's job) from its composed config; its final recent eval return."""
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    plain_warnings()
    install_sigterm_handler()
    print(f"run directory: {run_dir}", file=sys.stderr)
    try:
        cfg: TrainConfig = sweep_job_settings(OmegaConf.to_object(dict_cfg))
        config_dict = OmegaConf.to_container(dict_cfg, resolve=True)
    except MissingMandatoryValue as error:  # e.g. env=custom without env.id=...
        bad_input(f"{error.full_key} must be set, e.g. {error.full_key}=<value>", run_dir)
    except OmegaConfBaseException as error:  # e.g. a value interpolating an unknown resolver
        bad_input(one_line(error), run_dir)
    try:
        # .hydra/ is written once every check has passed: a refused run must not write over
        # the files of the run it found in its dir.
        summary = run_training(
            cfg, config_dict, run_dir, on_ready=lambda: save_hydra_files(run_dir, dict_cfg)
        )
    # A checkpoint the disk would not take ends the run as bad input does: one line, exit 2.
    except (ConfigError, EnvError, CheckpointError, CheckpointWriteError) as error:
        bad_input(str(error), run_dir)
    except KeyboardInterrupt as error:  # Ctrl-C or SIGTERM; the loop said where it saved
        sys.exit(exit_status(error))
    members = summary.get("members")  # a population's summary (population.json)
    spread = "" if members is None else f" (mean ± std over {len(members)} members)"
    print(
        f"eval return {summary['eval_return_mean']:.1f} ± {summary['eval_return_std']:.1f}"
        f"{spread}; {summary['steps_per_second']:.0f} {'member-' if members else ''}steps/s; "
        f"outputs in {run_dir}"
    )
    evaluated = run_dir if members is None else run_dir / members[0]["run_dir"]
    print(f"evaluate it: python evaluate.py checkpoint={evaluated} episodes=10 video=true")
    # Older summaries (a finished run that resume=auto reports) lack the recent mean.
    return float(summary.get("eval_return_recent_mean", summary["eval_return_mean"]))


if __name__ == "__main__":
    run_cli(main)
