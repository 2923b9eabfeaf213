"""The training loop: build a population of members (one unless `population=K`; each a
runner.member.MemberRun with its own envs, agent and replay buffer) from a config, then act and
store for every member, update them all as one batched update (agents.population), and
evaluate, log and checkpoint each member on its schedule.

`run_training` is what `python train.py` runs after Hydra composed the config; benchmarks/
time this very loop through `Trainer.train(loggers, on_step=...)`.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf
from tqdm import tqdm

from agents.checkpoint import CheckpointError, load_checkpoint, resolve_checkpoint_path
from agents.population import Population
from configs.schema import TrainConfig
from envs import env_spaces
from runner.build import check_population_memory, choose_device
from runner.errors import memory_error
from runner.member import MemberRun, crossed
from runner.process import StopAtStepEnd, signals_ignored
from runner.reports import population_summary
from runner.resume import AUTO, carry_best_model, finished_summary, resume_sources
from runner.run_dir import POPULATION_SUMMARY, member_config, member_dir, refuse_used_run_dir
from runner.tracking import RunLogger, drop_rows_after, population_name
from runner.validation import validate, warn_about_wasted_settings


class Trainer:
    """Builds a population of members from the config, then steps their envs, updates them as
    one batched update, and evaluates, logs and checkpoints each on its schedule."""

    def __init__(self, cfg: TrainConfig, config_dict: dict[str, Any], run_dir: Path) -> None:
        validate(cfg)
        self.cfg, self.config_dict, self.run_dir = cfg, config_dict, run_dir
        size = cfg.population
        env_kwargs = dict(max_episode_steps=cfg.env.max_episode_steps, **cfg.env.kwargs)
        self.spaces = env_spaces(cfg.env.id, **env_kwargs)
        self.device = choose_device(cfg.device)
        check_population_memory(cfg, self.spaces, self.device)
        sources = resume_sources(cfg.resume, run_dir, config_dict, size)
        dirs = [member_dir(run_dir, k, size) for k in range(size)]
        if size > 1:  # a population's dir holds its members' dirs, not a single run's files
            refuse_used_run_dir(run_dir, None)
        for folder, source in zip(dirs, sources):
            refuse_used_run_dir(folder, source)
        warn_about_wasted_settings(cfg)
        resumed = [load_checkpoint(s) if s else None for s in sources]  # fail before any work
        if cfg.torch_threads is not None:
            # Measured (2-core CPU, 256x256, batch 256): 2 threads 5.4 ms/update, 1 thread 7.3 ms;
            # but parallel runs each using every core slow each other down many times over.
            torch.set_num_threads(cfg.torch_threads)
        self.members: list[MemberRun] = []
        try:
            for k in range(size):
                seed = cfg.seed + k
                member_cfg = replace(cfg, seed=seed, resume=sources[k])
                member = MemberRun(
                    member_cfg, member_config(config_dict, seed, size), dirs[k], self.spaces,
                    self.device, resumed[k], own_generator=size > 1,
                )  # fmt: skip
                member.label = "" if size == 1 else f" (member {k}, seed {seed})"
                self.members.append(member)
            steps = {m.progress.step for m in self.members}
            if len(steps) > 1:
                raise CheckpointError(
                    f"the members' checkpoints are at different steps {sorted(steps)}; resume "
                    "each member's run dir alone (population=1)"
                )
            self.population = Population([m.agent for m in self.members])
        except BaseException:
            self.close()
            raise
        if cfg.compile:
            self.population.compile()
        if self.population.stacked:
            for k, member in enumerate(self.members):
                member.agent_state = partial(self.population.member_state_dict, k)
        self.progress = self.members[0].progress  # the step and update debt every member shares

    def save(self) -> None:
        for member in self.members:
            member.save()

    # -- loop

    def train(
        self, loggers: Sequence[RunLogger], on_step: Callable[[int], bool] | None = None
    ) -> list[dict[str, Any]]:
        """Act, store, update until total_steps; eval, log and checkpoint on their schedules.
        Returns each member's summary.

        `on_step(step)` runs after each env step's updates and logs; True ends training there,
        as if total_steps were reached (benchmarks/ times windows and solve clocks this way, on
        this very loop rather than a copy of it).
        """
        cfg, progress = self.cfg, self.progress
        for member, logger in zip(self.members, loggers, strict=True):
            member.logger = logger
            if member.cfg.resume:
                carry_best_model(member.cfg.resume, member.run_dir, cfg.env.id, member.progress)
            member.begin_episodes()
        start_step, start_time = progress.step, time.perf_counter()
        for member in self.members:
            member.interval = (progress.step, start_time)
        bar = tqdm(
            total=cfg.total_steps,
            initial=progress.step,
            unit="step",
            dynamic_ncols=True,
            disable=None if cfg.progress else True,
        )
        try:
            with StopAtStepEnd() as stop:
                while progress.step < cfg.total_steps:
                    stop.check()  # Ctrl-C or SIGTERM stop here, between steps
                    self._step(bar)
                    every, step = cfg.checkpoint.every, progress.step
                    # At total_steps the final save follows at once; keep no copy of it.
                    if crossed(step, step - cfg.num_envs, every) and step < cfg.total_steps:
                        self.save()
                    if on_step is not None and on_step(progress.step):
                        break
                stop.check()
            bar.close()
            wall_time = time.perf_counter() - start_time
            # Inside the try: a failing final eval or video still leaves the checkpoint.
            for member in self.members:
                if member.last_eval_step != progress.step and member.diverged_at is None:
                    member.log_eval()  # the summary always reports the final policy
            checkpoints = [member.save(final=True) for member in self.members]
            for member in self.members:
                if member.last_eval is not None:
                    member.log_models()
        except BaseException as error:  # Ctrl-C or a crash: keep what was learned, then re-raise
            bar.close()
            with signals_ignored():  # the run is stopping: let nothing cut its saves short
                for member in self.members:
                    member.save_on_the_way_out(error)
            raise
        rate = (progress.step - start_step) / wall_time
        return [
            member.summary(wall_time, rate, checkpoint)
            for member, checkpoint in zip(self.members, checkpoints)
        ]

    def _step(self, bar: tqdm) -> None:
        """One env step of every member's sub-envs, their transitions stored, the updates owed,
        and the logs and evaluation due; a save from inside it (a crash) holds no env state."""
        cfg, progress = self.cfg, self.progress
        infos: list[dict[str, Any]] = []
        for k, member in enumerate(self.members):
            member.mid_step = True
            if member.diverged_at is not None:
                infos.append({})
                continue
            infos.append(member.collect())
            if member.diverged_at is not None:
                print(
                    f"warning: member {k} (seed {member.cfg.seed}) diverged at step "
                    f"{progress.step}: its actions are not finite; it stops acting, the other "
                    "members go on",
                    file=sys.stderr,
                )
        previous, step = progress.step, progress.step + cfg.num_envs
        for member in self.members:
            member.progress.step = step
        bar.update(cfg.num_envs)
        for member, info in zip(self.members, infos):
            member.log_episodes(info, bar)
        # Per key, the latest value: with actor_update_every > 1 the update of a logging step
        # may be a critic-only one, which has no actor or alpha metrics.
        metrics = self._update()
        for k, member in enumerate(self.members):
            member.rollout.metrics.update({key: value[k] for key, value in metrics.items()})
            member.mid_step = False  # the evaluation and logs below change no state of the run
        updates = self.members[0].agent.num_updates
        for member in self.members:
            if member.diverged_at is not None:
                continue
            if crossed(step, previous, cfg.log_every):
                member.log_train(updates)
            if crossed(step, previous, cfg.eval.every):
                member.log_eval()

    def _update(self) -> dict[str, torch.Tensor]:
        """Run the gradient updates owed: utd per env step, over all envs (carried fractions).
        Their metrics merged, (K,) per key, each key holding its latest value (empty if none)."""
        cfg, metrics, progress = self.cfg, {}, self.progress
        members = self.members
        if progress.step > cfg.learning_starts and len(members[0].buffer) > 0:
            progress.update_debt += cfg.agent.utd * cfg.num_envs
            while progress.update_debt >= 1.0 - 1e-9:  # 10 x 0.1 sums to 0.999...: still owed
                try:
                    batches = [
                        m.buffer.sample(cfg.agent.batch_size, m.agent.generator) for m in members
                    ]
                    metrics |= self.population.update(batches)
                except (RuntimeError, MemoryError) as error:
                    setting = (  # the step is in the crash line above the error
                        f"agent.batch_size={cfg.agent.batch_size} with "
                        f"agent.hidden_sizes={list(cfg.agent.hidden_sizes)}"
                    )
                    raise memory_error(error, setting, self.device)  # noqa: B904 - as above
                progress.update_debt -= 1.0
            for member in members[1:]:
                member.progress.update_debt = progress.update_debt
        return metrics

    def close(self) -> None:
        for member in self.members:
            member.close()


def run_training(
    cfg: TrainConfig,
    config_dict: dict[str, Any],
    run_dir: Path,
    on_ready: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Train per `cfg`, writing checkpoint, metrics.jsonl and summary.json into `run_dir` (into
    each member's member-<i>/ for a population of several, and population.json beside them).

    `on_ready` runs once every check has passed, before anything is trained or logged (main
    writes `.hydra/` there: a refused run must not write over the files of the run it found).
    resume=auto continues the run dir's own checkpoint, or returns the summary of a run that
    already finished there, or starts fresh. Returns the run's summary (a population's: the
    members' mean and spread).
    """
    if cfg.resume == AUTO:
        validate(cfg)  # before the run dir is read: bad input is refused as in any run
        summary = finished_summary(run_dir, config_dict, cfg.total_steps, cfg.population)
        if summary is not None:
            return summary
    trainer = Trainer(cfg, config_dict, run_dir)
    loggers: list[RunLogger] = []
    summaries: list[dict[str, Any]] = []
    try:
        if on_ready is not None:
            on_ready()
        group = cfg.wandb.group or (None if cfg.population == 1 else population_name(cfg))
        for member in trainer.members:
            prepare_member_dir(member, run_dir)
            member_cfg = replace(member.cfg, wandb=replace(cfg.wandb, group=group))
            loggers.append(RunLogger(member.run_dir, member_cfg, member.config_dict))
        summaries = trainer.train(loggers)
        for member, summary, logger in zip(trainer.members, summaries, loggers):
            summary["tracking_time_s"] = logger.seconds  # W&B init, every log call, the local log
            (member.run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        if cfg.population == 1:
            return summaries[0]
        summary = population_summary(cfg, [m.run_dir for m in trainer.members], summaries)
        (run_dir / POPULATION_SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
        return summary
    finally:
        for k, logger in enumerate(loggers):
            logger.close(summaries[k] if k < len(summaries) else {})
        trainer.close()


def prepare_member_dir(member: MemberRun, run_dir: Path) -> None:
    """A member's dir before it logs: its own config file (a population's members' dirs are
    runs of their own to aggregate.py and evaluate.py), and no rows past its checkpoint."""
    folder = member.run_dir
    if folder != run_dir:
        (folder / ".hydra").mkdir(parents=True, exist_ok=True)
        config = OmegaConf.to_yaml(OmegaConf.create(member.config_dict))
        (folder / ".hydra" / "config.yaml").write_text(config)
    source = member.cfg.resume
    if source and resolve_checkpoint_path(source).parent.resolve() == folder.resolve():
        dropped = drop_rows_after(folder / "metrics.jsonl", member.progress.step)
        if dropped:
            print(
                f"{folder / 'metrics.jsonl'}: dropped {dropped} rows logged after step "
                f"{member.progress.step}, which this run takes again",
                file=sys.stderr,
            )
