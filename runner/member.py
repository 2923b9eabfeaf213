"""One member of a training run: what a single run owns apart from the update.

A run trains a population of K members (K = 1 unless `population=K`); each member has its own
seed (the run's seed + its index), run dir, agent, replay buffer, envs, exploration noise,
counters, logs and checkpoints: exactly the files and results of a single run with that seed.
runner/training.py steps all members together and updates them as one population.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from agents import SACAgent
from agents.checkpoint import FILENAME, CheckpointWriteError, save_checkpoint
from agents.population import fork_generator
from configs.schema import TrainConfig
from envs import EnvError, EnvSpaces, make_vector_env, record_video
from envs.evaluation import evaluate
from runner.build import build_agent, build_buffer, build_noise
from runner.reports import run_summary
from runner.resume import Progress, checkpoint_payload, refuse_finished, reset_seed, restore
from runner.rollout import Rollout
from runner.tracking import RunLogger


def crossed(step: int, previous: int, every: int) -> bool:
    """True when a multiple of `every` lies in (previous, step]; never for every=0."""
    return every > 0 and step // every > previous // every


class MemberRun:
    """A member's agent, buffer, envs and counters, and its saves, evaluations and logs.

    `own_generator`: the member draws its torch noise (acting, sampling, the update) from a
    generator of its own, forked right after its agent was built under its seed; a population of
    one keeps torch's default generator, as a lone run always did.
    """

    def __init__(
        self,
        cfg: TrainConfig,
        config_dict: dict[str, Any],
        run_dir: Path,
        spaces: EnvSpaces,
        device: torch.device,
        resumed: dict[str, Any] | None,
        own_generator: bool,
    ) -> None:
        self.cfg, self.config_dict, self.run_dir, self.spaces = cfg, config_dict, run_dir, spaces
        torch.manual_seed(cfg.seed)  # each member's seed is applied here, and only here
        self.np_rng = np.random.default_rng(cfg.seed)
        self.agent: SACAgent = build_agent(cfg, spaces, device)
        if own_generator:
            self.agent.generator = fork_generator(device)
        self.buffer = build_buffer(cfg, spaces, device)
        self.progress = Progress()
        self.logger: RunLogger | None = None  # set before training (runner/training.py)
        self.agent_state: Callable[[], dict[str, Any]] = self.agent.state_dict
        self.last_eval: dict[str, Any] | None = None
        self.last_eval_step = -1
        self.interval = (0, time.perf_counter())  # (step, time) of the last train log
        self.mid_step = False  # True while a step changes the state (a save then is inexact)
        self.resume_kind: str | None = None  # exact or new_episodes, for a resumed run
        self.diverged_at: int | None = None  # the step its policy's actions went non-finite
        self.label = ""  # how its lines name it: nothing for a lone run, its member and seed else
        self._saved_rollout = None if resumed is None else resumed.get("rollout")
        self._why_no_rollout = None if resumed is None else resumed.get("rollout_missing")
        if resumed is not None:
            assert cfg.resume is not None
            self.progress = restore(
                resumed, cfg.resume, cfg.env.id, self.agent, self.buffer, self.np_rng,
                self.agent.generator,
            )  # fmt: skip
            refuse_finished(self.progress.step, cfg.total_steps, run_dir)
        self.noise = build_noise(cfg, spaces, self.progress.step)
        # Built last, so that a failure above leaves no env processes behind.
        env_kwargs = dict(max_episode_steps=cfg.env.max_episode_steps, **cfg.env.kwargs)
        self.envs = make_vector_env(cfg.env.id, cfg.num_envs, cfg.env.vectorization, **env_kwargs)
        try:
            self.eval_envs = make_vector_env(cfg.env.id, cfg.eval.num_envs, "sync", **env_kwargs)
        except BaseException:
            self.envs.close()
            raise
        self.rollout = Rollout(
            self.envs, self.noise, n_step=cfg.agent.n_step, gamma=cfg.agent.gamma
        )

    # -- checkpoints

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
            self.config_dict, self.progress, self.agent_state(), buffer, self.np_rng,
            self.last_eval, self.agent.generator,
        )  # fmt: skip
        if with_buffer:  # only a checkpoint to resume from needs the envs' state
            payload |= self.rollout.checkpoint_entries(self.mid_step)
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

    def save_on_the_way_out(self, error: BaseException) -> None:
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

    # -- acting

    def begin_episodes(self) -> None:
        """Where the loop starts acting: a resumed run continues the saved episodes, exactly,
        when its checkpoint holds them and they fit these envs; otherwise new episodes begin."""
        cfg = self.cfg
        why = self.rollout.continue_from(self._saved_rollout, self._why_no_rollout)
        if why is None:
            self.resume_kind = "exact"
            return
        eval_seed, spread = cfg.seed + cfg.eval.seed_offset, max(cfg.num_envs, cfg.eval.num_envs)
        self.rollout.start(reset_seed(cfg.seed, self.progress.step, eval_seed, spread))
        self.observe(self.rollout.obs)  # (a continued episode's observation was, when it came)
        if cfg.resume:
            self.resume_kind = "new_episodes"
            print(
                f"resumed with new episodes ({why}); from here on the run differs from an "
                "uninterrupted one",
                file=sys.stderr,
            )

    def observe(self, obs: np.ndarray) -> None:
        """The agent's observation statistics; a NaN there is the env's fault: an EnvError (one
        `error:` line), as the transition check gives for stored values."""
        try:
            self.agent.observe(obs)
        except ValueError as error:
            raise EnvError(f"the env's observation: {error}") from error

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Uniform random actions before learning_starts (exploration), then the policy."""
        if self.progress.step < self.cfg.learning_starts and self.cfg.exploration.uniform_warmup:
            shape = (self.cfg.num_envs, self.spaces.action_dim)
            return self.np_rng.uniform(-1.0, 1.0, shape).astype(np.float32)
        return self.agent.act(obs, eps=self.noise() if self.noise is not None else None)

    def collect(self) -> dict[str, Any]:
        """One env step of every sub-env and its transitions stored; returns the step's info.
        A policy whose actions are not finite has diverged: the member stops stepping its envs
        (`diverged_at`), and its info is empty."""
        rollout = self.rollout
        action = self.act(rollout.obs)
        if not np.isfinite(action).all():
            self.diverged_at = self.progress.step
            return {}
        next_obs, reward, terminated, truncated, info = self.envs.step(action)
        ended_before = rollout.tracker.resetting  # the sub-envs that only reset in this step
        transitions = rollout.transitions(action, reward, next_obs, terminated, truncated)
        self.observe(next_obs)  # observation statistics learn from training data only
        self.buffer.add(*transitions)
        if self.noise is not None:
            # Next-step autoreset: the step after an episode's end only resets (its action is
            # ignored); the new episode's first action takes a new sequence's first eps.
            self.noise.reset(ended_before)
        rollout.obs = next_obs
        return info

    # -- evaluation and logs

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

    def log_episodes(self, info: dict[str, Any], bar: tqdm) -> None:
        if "episode" not in info:
            return
        assert self.logger is not None
        for i in np.flatnonzero(info["_episode"]):
            episode_return = float(info["episode"]["r"][i])
            self.logger.write(
                self.progress.step,
                {
                    "rollout/episode_return": episode_return,
                    "rollout/episode_length": int(info["episode"]["l"][i]),
                },
            )
            bar.set_postfix(ep_return=f"{episode_return:.1f}", refresh=False)

    def log_train(self, num_updates: int) -> None:
        assert self.logger is not None
        now, step = time.perf_counter(), self.progress.step
        interval_step, interval_time = self.interval
        metrics = self.rollout.metrics
        scalars = {f"train/{k}": float(v) for k, v in metrics.items()}  # the only host sync
        scalars["time/steps_per_second"] = (step - interval_step) / (now - interval_time)
        scalars["time/updates"] = num_updates
        self.logger.write(step, scalars)
        self.interval = (step, now)

    def log_eval(self) -> None:
        assert self.logger is not None
        cfg, progress = self.cfg, self.progress
        report, step = self.run_eval(), progress.step
        self.logger.write(
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
            self.logger.video(step, "eval/video", video)
        tqdm.write(
            f"step {step}: eval return {report['return_mean']:.1f} "
            f"± {report['return_std']:.1f} over {report['episodes']} "
            f"episode{'s' if report['episodes'] != 1 else ''}{self.label}",
            file=sys.stderr,
        )

    def log_models(self) -> None:
        """The final and the best-by-eval model (no replay buffer) as W&B artifacts."""
        assert self.last_eval is not None and self.logger is not None
        name = f"sac-{self.cfg.env.id.replace('/', '-')}-seed{self.cfg.seed}"
        best = self.run_dir / "best.pt"
        if best.is_file():  # absent only for a resumed checkpoint that came without its best.pt
            self.logger.model(
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
        self.logger.model(
            final,
            name,
            ["latest", "final"],
            {
                "env_id": self.cfg.env.id,
                "step": self.progress.step,
                "eval_return_mean": self.last_eval["return_mean"],
            },
        )

    def summary(self, wall_time: float, steps_per_second: float, checkpoint: Path) -> dict:
        # Only a member that diverged before its first evaluation has none: no return to report.
        nan = float("nan")
        no_eval = {"return_mean": nan, "return_std": nan, "episodes": 0, "episode_returns": []}
        summary = run_summary(
            self.cfg, self.progress, self.last_eval or no_eval, wall_time, steps_per_second,
            self.agent.num_updates, self.resume_kind, checkpoint,
        )  # fmt: skip
        if self.diverged_at is not None:
            summary["diverged_at_step"] = self.diverged_at
        return summary

    def close(self) -> None:
        self.envs.close()
        self.eval_envs.close()
