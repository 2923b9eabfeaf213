"""The training loop: build envs, agent and replay buffer from a config, then act, store and
update, with evaluation, logging and checkpoints on their schedules.

`run_training` is what `python train.py` runs after Hydra composed the config; benchmarks/
time this very loop through `Trainer.train(logger, on_step=...)`.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from agents.checkpoint import (
    FILENAME,
    CheckpointWriteError,
    load_checkpoint,
    resolve_checkpoint_path,
    save_checkpoint,
)
from configs.schema import TrainConfig
from envs import EnvError, env_spaces, make_vector_env, record_video
from envs.evaluation import evaluate
from runner.build import build_agent, build_buffer, build_noise, choose_device
from runner.errors import memory_error
from runner.process import StopAtStepEnd
from runner.reports import run_summary
from runner.resume import (
    AUTO,
    Progress,
    auto_resume_source,
    carry_best_model,
    checkpoint_payload,
    finished_summary,
    refuse_finished,
    reset_seed,
    restore,
)
from runner.rollout import Rollout
from runner.run_dir import refuse_used_run_dir
from runner.tracking import RunLogger, drop_rows_after
from runner.validation import validate, warn_about_wasted_settings


def crossed(step: int, previous: int, every: int) -> bool:
    """True when a multiple of `every` lies in (previous, step]; never for every=0."""
    return every > 0 and step // every > previous // every


class Trainer:
    """Builds everything from the config, then runs act-store-update with periodic eval."""

    def __init__(self, cfg: TrainConfig, config_dict: dict[str, Any], run_dir: Path) -> None:
        validate(cfg)
        self.cfg, self.config_dict, self.run_dir = cfg, config_dict, run_dir
        refuse_used_run_dir(run_dir, cfg.resume)
        warn_about_wasted_settings(cfg)
        resumed = load_checkpoint(cfg.resume) if cfg.resume else None  # fail before any work
        if cfg.torch_threads is not None:
            # Measured (2-core CPU, 256x256, batch 256): 2 threads 5.4 ms/update, 1 thread 7.3 ms;
            # but parallel runs each using every core slow each other down many times over.
            torch.set_num_threads(cfg.torch_threads)
        torch.manual_seed(cfg.seed)  # the one place the seed is applied
        self.np_rng = np.random.default_rng(cfg.seed)
        self.device = choose_device(cfg.device)
        env_kwargs = dict(max_episode_steps=cfg.env.max_episode_steps, **cfg.env.kwargs)
        self.spaces = env_spaces(cfg.env.id, **env_kwargs)
        self.agent = build_agent(cfg, self.spaces, self.device)
        self.buffer = build_buffer(cfg, self.spaces, self.device)
        self.progress = Progress()
        self.last_eval: dict[str, Any] | None = None
        self.last_eval_step = -1
        self._interval = (0, time.perf_counter())  # (step, time) of the last train log
        self._mid_step = False  # True while a step changes the state (a save then is inexact)
        self.resume_kind: str | None = None  # exact or new_episodes, for a resumed run
        self._saved_rollout = None if resumed is None else resumed.get("rollout")
        self._why_no_rollout = None if resumed is None else resumed.get("rollout_missing")
        if resumed is not None:
            assert cfg.resume is not None
            self.progress = restore(
                resumed, cfg.resume, cfg.env.id, self.agent, self.buffer, self.np_rng
            )
            refuse_finished(self.progress.step, cfg.total_steps, run_dir)
        self.noise = build_noise(cfg, self.spaces, self.progress.step)
        # Built last, so that a failure above leaves no env processes behind.
        self.envs = make_vector_env(cfg.env.id, cfg.num_envs, cfg.env.vectorization, **env_kwargs)
        try:
            self.eval_envs = make_vector_env(cfg.env.id, cfg.eval.num_envs, "sync", **env_kwargs)
        except BaseException:
            self.envs.close()
            raise
        self.rollout = Rollout(self.envs, self.noise)

    # -- checkpoints and evaluation

    def save(
        self, filename: str = FILENAME, with_buffer: bool | None = None, final: bool = False
    ) -> Path | None:
        """Write a checkpoint; `with_buffer=False` gives a small model file (best.pt, model.pt).

        A write that fails (disk full, I/O error) leaves the previous file intact; then, unless
        `final`, checkpoint.on_error=warn says so and returns None, and stop raises.
        """
        cfg = self.cfg
        if with_buffer is None:
            with_buffer = cfg.checkpoint.save_buffer
        buffer = self.buffer if with_buffer else None
        payload = checkpoint_payload(
            self.config_dict, self.progress, self.agent, buffer, self.np_rng, self.last_eval
        )
        if with_buffer:  # only a checkpoint to resume from needs the envs' state
            payload |= self.rollout.checkpoint_entries(self._mid_step)
        keep = cfg.checkpoint.keep if filename == FILENAME else 1
        try:
            return save_checkpoint(self.run_dir / filename, payload, keep)
        except CheckpointWriteError as error:
            step = self.progress.step
            if final or cfg.checkpoint.on_error == "stop":
                raise CheckpointWriteError(
                    f"{error}; the run stopped at step {step} and kept its previous checkpoint "
                    "(resume=auto continues from it)"
                ) from error
            print(
                f"warning: {error}; at step {step} the previous file is kept and training goes "
                "on (checkpoint.on_error=warn)",
                file=sys.stderr,
            )
            return None

    def _begin_episodes(self) -> None:
        """Where the loop starts acting: a resumed run continues the saved episodes, exactly,
        when its checkpoint holds them and they fit these envs; otherwise new episodes begin."""
        cfg = self.cfg
        why = self.rollout.continue_from(self._saved_rollout, self._why_no_rollout)
        if why is None:
            self.resume_kind = "exact"
            return
        eval_seed, spread = cfg.seed + cfg.eval.seed_offset, max(cfg.num_envs, cfg.eval.num_envs)
        self.rollout.start(reset_seed(cfg.seed, self.progress.step, eval_seed, spread))
        self._observe(self.rollout.obs)  # (a continued episode's observation was, when it came)
        if cfg.resume:
            self.resume_kind = "new_episodes"
            print(
                f"resumed with new episodes ({why}); from here on the run differs from an "
                "uninterrupted one",
                file=sys.stderr,
            )

    # -- loop

    def run_eval(self) -> dict[str, Any]:
        cfg = self.cfg
        report = evaluate(
            lambda obs: self.agent.act(obs, deterministic=True),
            self.eval_envs,
            cfg.eval.episodes,
            seed=cfg.seed + cfg.eval.seed_offset,
        )
        self.last_eval, self.last_eval_step = report, self.progress.step
        return report

    def _observe(self, obs: np.ndarray) -> None:
        """The agent's observation statistics; a NaN there is the env's fault: an EnvError (one
        `error:` line), as the transition check gives for stored values."""
        try:
            self.agent.observe(obs)
        except ValueError as error:
            raise EnvError(f"the env's observation: {error}") from error

    def train(
        self, logger: RunLogger, on_step: Callable[[int], bool] | None = None
    ) -> dict[str, Any]:
        """Act, store, update until total_steps; eval, log and checkpoint on their schedules.

        `on_step(step)` runs after each env step's updates and logs; True ends training there,
        as if total_steps were reached (benchmarks/ times windows and solve clocks this way, on
        this very loop rather than a copy of it).
        """
        cfg, progress = self.cfg, self.progress
        if cfg.resume:
            carry_best_model(cfg.resume, self.run_dir, cfg.env.id, progress)
        self._begin_episodes()
        start_step, start_time = progress.step, time.perf_counter()
        self._interval = (progress.step, start_time)
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
                    self._step(bar, logger)
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
            if self.last_eval_step != progress.step:
                self._log_eval(logger)  # the summary always reports the final policy
            checkpoint = self.save(final=True)
            assert checkpoint is not None  # a final save raises rather than returns None
            self._log_models(logger)
        except BaseException as error:  # Ctrl-C or a crash: keep what was learned, then re-raise
            bar.close()
            self._save_on_the_way_out(error)
            raise
        return self._summary(wall_time, (progress.step - start_step) / wall_time, checkpoint)

    def _step(self, bar: tqdm, logger: RunLogger) -> None:
        """One env step of every sub-env, its transitions stored, the updates owed, and the logs
        and evaluation due; a save from inside it (a crash) holds no env state."""
        cfg, progress, rollout = self.cfg, self.progress, self.rollout
        self._mid_step = True
        action = self._act(rollout.obs)
        next_obs, reward, terminated, truncated, info = self.envs.step(action)
        ended_before = rollout.tracker.resetting  # the sub-envs that only reset in this step
        transitions = rollout.tracker.step(
            rollout.obs, action, reward, next_obs, terminated, truncated
        )
        self._observe(next_obs)  # observation statistics learn from training data only
        self.buffer.add(*transitions)
        if self.noise is not None:
            # Next-step autoreset: the step after an episode's end only resets (its action is
            # ignored); the new episode's first action takes a new sequence's first eps.
            self.noise.reset(ended_before)
        rollout.obs = next_obs
        previous, progress.step = progress.step, progress.step + cfg.num_envs
        bar.update(cfg.num_envs)
        self._log_episodes(info, logger, bar)
        # Per key, the latest value: with actor_update_every > 1 the update of a logging step
        # may be a critic-only one, which has no actor or alpha metrics.
        rollout.metrics.update(self._update())
        self._mid_step = False  # the evaluation and logs below change no state of the run
        if crossed(progress.step, previous, cfg.log_every):
            self._log_train(rollout.metrics, logger)
        if crossed(progress.step, previous, cfg.eval.every):
            self._log_eval(logger)

    def _save_on_the_way_out(self, error: BaseException) -> None:
        """The checkpoint of a run stopped by Ctrl-C, SIGTERM or a crash, and where it went."""
        if isinstance(error, CheckpointWriteError):  # the previous checkpoint is the last word
            return
        if isinstance(error, KeyboardInterrupt):
            what = "interrupted"
        elif isinstance(error, SystemExit):  # submitit's requeue on a time-out or preemption
            what = "stopped to be requeued"
        else:
            what = "stopped by an error"
        step = self.progress.step
        try:
            print(f"{what} at step {step}; checkpoint: {self.save(final=True)}", file=sys.stderr)
        except Exception as save_error:  # noqa: BLE001 - report the original error
            print(f"{what} at step {step}; checkpoint failed: {save_error}", file=sys.stderr)

    def _summary(self, wall_time: float, steps_per_second: float, checkpoint: Path) -> dict:
        assert self.last_eval is not None
        return run_summary(
            self.cfg, self.progress, self.last_eval, wall_time, steps_per_second,
            self.agent.num_updates, self.resume_kind, checkpoint,
        )  # fmt: skip

    def _act(self, obs: np.ndarray) -> np.ndarray:
        """Uniform random actions before learning_starts (exploration), then the policy."""
        if self.progress.step < self.cfg.learning_starts and self.cfg.exploration.uniform_warmup:
            shape = (self.cfg.num_envs, self.spaces.action_dim)
            return self.np_rng.uniform(-1.0, 1.0, shape).astype(np.float32)
        return self.agent.act(obs, eps=self.noise() if self.noise is not None else None)

    def _update(self) -> dict[str, torch.Tensor]:
        """Run the gradient updates owed: utd per env step, over all envs (carried fractions).
        Their metrics merged, each key holding its latest value (empty if none ran)."""
        cfg, metrics = self.cfg, {}
        if self.progress.step > cfg.learning_starts and len(self.buffer) > 0:
            self.progress.update_debt += cfg.agent.utd * cfg.num_envs
            while self.progress.update_debt >= 1.0 - 1e-9:  # 10 x 0.1 sums to 0.999...: still owed
                try:
                    metrics |= self.agent.update(self.buffer.sample(cfg.agent.batch_size))
                except (RuntimeError, MemoryError) as error:
                    setting = (  # the step is in the crash line above the error
                        f"agent.batch_size={cfg.agent.batch_size} with "
                        f"agent.hidden_sizes={list(cfg.agent.hidden_sizes)}"
                    )
                    raise memory_error(error, setting, self.device)  # noqa: B904 - as above
                self.progress.update_debt -= 1.0
        return metrics

    def _log_episodes(self, info: dict[str, Any], logger: RunLogger, bar: tqdm) -> None:
        if "episode" not in info:
            return
        for i in np.flatnonzero(info["_episode"]):
            episode_return = float(info["episode"]["r"][i])
            logger.write(
                self.progress.step,
                {
                    "rollout/episode_return": episode_return,
                    "rollout/episode_length": int(info["episode"]["l"][i]),
                },
            )
            bar.set_postfix(ep_return=f"{episode_return:.1f}", refresh=False)

    def _log_train(self, metrics: dict[str, torch.Tensor], logger: RunLogger) -> None:
        now, step = time.perf_counter(), self.progress.step
        interval_step, interval_time = self._interval
        scalars = {f"train/{k}": float(v) for k, v in metrics.items()}  # the only host sync
        scalars["time/steps_per_second"] = (step - interval_step) / (now - interval_time)
        scalars["time/updates"] = self.agent.num_updates
        logger.write(step, scalars)
        self._interval = (step, now)

    def _log_eval(self, logger: RunLogger) -> None:
        cfg, progress = self.cfg, self.progress
        report, step = self.run_eval(), progress.step
        logger.write(
            step,
            {
                "eval/return_mean": report["return_mean"],
                "eval/return_std": report["return_std"],
                "eval/length_mean": report["length_mean"],
            },
        )
        recent = [*progress.recent_eval_returns, report["return_mean"]]
        progress.recent_eval_returns = recent[-cfg.eval.objective_evals :]
        if report["return_mean"] > progress.best_eval_return:
            progress.best_eval_return, progress.best_eval_step = report["return_mean"], step
            self.save("best.pt", with_buffer=False)
        if cfg.eval.video:
            # Same seed as the first eval episode and a deterministic policy: the same episode.
            (video,) = record_video(
                lambda obs: self.agent.act(obs, deterministic=True),
                cfg.env.id,
                self.run_dir / "videos",
                name_prefix=f"eval-step{step}",
                seed=cfg.seed + cfg.eval.seed_offset,
                max_episode_steps=cfg.env.max_episode_steps,
                **cfg.env.kwargs,
            )
            logger.video(step, "eval/video", video)
        tqdm.write(
            f"step {step}: eval return {report['return_mean']:.1f} "
            f"± {report['return_std']:.1f} over {report['episodes']} "
            f"episode{'s' if report['episodes'] != 1 else ''}",
            file=sys.stderr,
        )

    def _log_models(self, logger: RunLogger) -> None:
        """The final and the best-by-eval model (no replay buffer) as W&B artifacts."""
        assert self.last_eval is not None
        name = f"sac-{self.cfg.env.id.replace('/', '-')}-seed{self.cfg.seed}"
        best = self.run_dir / "best.pt"
        if best.is_file():  # absent only for a resumed checkpoint that came without its best.pt
            logger.model(
                best,
                name,
                ["best"],
                {
                    "env_id": self.cfg.env.id,
                    "step": self.progress.best_eval_step,
                    "eval_return_mean": self.progress.best_eval_return,
                },
            )
        final = self.save("model.pt", with_buffer=False)  # logged last: W&B moves `latest` here
        logger.model(
            final,
            name,
            ["latest", "final"],
            {
                "env_id": self.cfg.env.id,
                "step": self.progress.step,
                "eval_return_mean": self.last_eval["return_mean"],
            },
        )

    def close(self) -> None:
        self.envs.close()
        self.eval_envs.close()


def run_training(
    cfg: TrainConfig,
    config_dict: dict[str, Any],
    run_dir: Path,
    on_ready: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Train per `cfg`, writing checkpoint, metrics.jsonl and summary.json into `run_dir`.

    `on_ready` runs once every check has passed, before anything is trained or logged (main
    writes `.hydra/` there: a refused run must not write over the files of the run it found).
    resume=auto continues the run dir's own checkpoint, or returns the summary of a run that
    already finished there, or starts fresh.
    """
    if cfg.resume == AUTO:
        validate(cfg)  # before the run dir is read: bad input is refused as in any run
        summary = finished_summary(run_dir, config_dict, cfg.total_steps)
        if summary is not None:
            return summary
        cfg = replace(cfg, resume=auto_resume_source(run_dir, config_dict))
    trainer = Trainer(cfg, config_dict, run_dir)
    try:
        if on_ready is not None:
            on_ready()
        if cfg.resume and resolve_checkpoint_path(cfg.resume).parent.resolve() == run_dir.resolve():
            dropped = drop_rows_after(run_dir / "metrics.jsonl", trainer.progress.step)
            if dropped:
                print(
                    f"metrics.jsonl: dropped {dropped} rows logged after step "
                    f"{trainer.progress.step}, which this run takes again",
                    file=sys.stderr,
                )
    except BaseException:
        trainer.close()
        raise
    try:
        logger = RunLogger(run_dir, cfg, config_dict)
    except BaseException:
        trainer.close()
        raise
    summary: dict[str, Any] = {}
    try:
        summary = trainer.train(logger)
        summary["tracking_time_s"] = logger.seconds  # W&B init + every log call + the local log
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    finally:
        logger.close(summary)
        trainer.close()
    return summary
