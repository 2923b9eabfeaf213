"""Stable-Baselines3 SAC trained into this package's run-dir format, at the settings
`python train.py env=<env>` trains with and under its evaluation protocol, so that run dirs of
both libraries can be drawn side by side, seed for seed:

    python benchmarks/sb3_runs.py --env Pendulum-v1 --seeds 0 1 2 3 4 --out runs/sb3/pendulum
    python benchmarks/sb3_runs.py --env HalfCheetah-v5 --seeds 0 1 2 --out runs/sb3/cheetah \
        --total-steps 100000 --jobs 2 agent.hidden_sizes=[256,256]

The config is composed from configs/ as train.py composes it (`--env` names a file of
configs/env/, key=value arguments are overrides, `--total-steps N` is total_steps=N) and given
to `SAC("MlpPolicy", env, ...)`: hidden sizes and number of critics, the learning rate, batch and
buffer size, tau, gamma, learning_starts, gradient steps per env step (agent.utd), the initial
alpha (learned or fixed) and the target entropy, total_steps, one env. Settings SB3 cannot
express are refused with one `error:` line and exit status 2 rather than changed: actor, critic
and (when learned) alpha learning rates that differ (SB3 has one learning_rate), a fractional
agent.utd, agent.actor_update_every > 1, agent.normalize_obs, agent.critic_layer_norm,
num_envs > 1, coloured exploration noise or no uniform warm-up, eval.video, resume.
agent.n_step > 1 takes SB3's own n-step buffer. SB3 runs log to no W&B (config.yaml says so).

Evaluation is train.py's: every eval.every env steps and at the end, after that step's gradient
steps, eval.episodes deterministic episodes on envs seeded seed + eval.seed_offset, run by
`envs.evaluation.evaluate` with SB3's `model.predict(obs, deterministic=True)` as the policy.
Eval rows therefore line up with ours step for step.

Each seed writes <out>/<env id, path-safe>_seed<seed>/:
  metrics.jsonl  eval rows {"step", "eval/return_mean", "eval/return_std", "eval/length_mean"}
                 and episode rows {"step", "rollout/episode_return", "rollout/episode_length"}
  summary.json   train.py's fields where they apply, "library" and "sb3_version" added
  config.yaml    the composed config, with top-level `library` and `sb3_version`
  model.zip      the final model: `SAC.load`, or `python evaluate.py sb3_model=... env=...`
A dir holding a summary.json is refused, never written over; one with metrics but no summary
(an interrupted run) is started over.

Seeds run one after another; `--jobs N` runs N at once, each in its own process with
cores // N torch threads. On 2 cores, `--jobs 2` gives each run one thread, the fair split.

What still differs at equal settings:
- log σ: SB3 clamps it to [-20, 2]; ours bounds it smoothly to [agent.log_std_min,
  agent.log_std_max] ([-5, 2]), or clamps it with agent.clamp_log_std=true.
- random numbers: the same seed, drawn by different code, gives each library different runs.
- actions: SB3 maps its [-1, 1] onto the env's bounds itself; ours wraps the env in
  RescaleAction. The same affine map; both are evaluated on our envs.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import math
import multiprocessing
import os
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, TextIO

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: configs/, envs/ and runner/ from the repo
    sys.path.insert(0, str(REPO))

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import stable_baselines3  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.errors import HydraException  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException  # noqa: E402
from stable_baselines3 import SAC  # noqa: E402
from stable_baselines3.common.callbacks import BaseCallback  # noqa: E402

from configs.schema import TrainConfig  # noqa: E402
from envs import (  # noqa: E402
    EnvError,
    Policy,
    env_spaces,
    evaluate,
    flatten_state_dict,
    make_vector_env,
)
from runner.config_store import register_configs  # noqa: E402
from runner.errors import ConfigError  # noqa: E402
from runner.hydra_errors import one_line  # noqa: E402
from runner.process import plain_warnings  # noqa: E402
from runner.training import crossed  # noqa: E402
from runner.validation import validate  # noqa: E402

LIBRARY = {"library": "stable-baselines3", "sb3_version": stable_baselines3.__version__}
RUN_FILES = ("summary.json", "metrics.jsonl", "config.yaml", "model.zip")


def compose_config(env: str, overrides: list[str]) -> tuple[TrainConfig, dict[str, Any]]:
    """The typed config and its plain dict, as `python train.py env=<env> <overrides>` composes
    them; W&B off, since SB3 runs log only to their run dir. A bad input is a ConfigError."""
    register_configs()
    try:
        with initialize_config_dir(config_dir=str(REPO / "configs"), version_base=None):
            dict_cfg = compose(config_name="config", overrides=[f"env={env}", *overrides])
        cfg: TrainConfig = OmegaConf.to_object(dict_cfg)
        config_dict = OmegaConf.to_container(dict_cfg, resolve=True)
    except MissingMandatoryValue as error:  # e.g. --env custom without env.id=...
        raise ConfigError(f"{error.full_key} must be set, e.g. {error.full_key}=<value>") from None
    except (HydraException, OmegaConfBaseException) as error:
        raise ConfigError(one_line(error)) from None
    cfg.wandb.mode = config_dict["wandb"]["mode"] = "disabled"
    return cfg, config_dict


def refuse_what_sb3_cannot_express(cfg: TrainConfig) -> None:
    """A ConfigError for the first setting SB3's SAC has no equal of: comparing at it would
    compare other settings than the ones named."""
    agent = cfg.agent
    rates = {"actor_lr": agent.actor_lr, "critic_lr": agent.critic_lr}
    if agent.learn_alpha:  # a fixed alpha has no learning rate
        rates["alpha_lr"] = agent.alpha_lr
    refusals = [
        (len(set(rates.values())) > 1,
         f"agent.{', agent.'.join(f'{k}={v}' for k, v in rates.items())} differ: SB3's SAC takes "
         "one learning_rate for actor, critics and a learned alpha; set them equal"),
        (agent.utd != int(agent.utd),
         f"agent.utd={agent.utd}: SB3 takes a whole number of gradient steps per env step"),
        (agent.actor_update_every != 1,
         "agent.actor_update_every must be 1: SB3's SAC steps the actor at every critic step"),
        (agent.normalize_obs,
         "agent.normalize_obs=true: SB3's MlpPolicy has no running observation normalization"),
        (agent.critic_layer_norm,
         "agent.critic_layer_norm=true: SB3's critics have no LayerNorm"),
        (agent.critic_quantiles != 0,
         "agent.critic_quantiles: SB3's SAC has no quantile critics (TQC is in sb3-contrib)"),
        (agent.target_subset is not None,
         "agent.target_subset: SB3's SAC takes the min over all its critics (no REDQ subsets)"),
        (agent.n_step > 1 and "n_steps" not in inspect.signature(SAC).parameters,
         f"agent.n_step={agent.n_step}: SB3 {stable_baselines3.__version__} has no n-step "
         "replay buffer (SAC's n_steps); upgrade stable-baselines3"),
        (cfg.num_envs != 1, f"num_envs={cfg.num_envs}: SB3 runs train on one env"),
        (cfg.exploration.noise_beta != 0 or not cfg.exploration.uniform_warmup,
         "exploration.noise_beta and exploration.uniform_warmup must keep their defaults: SB3 "
         "explores with white noise after uniform random actions"),
        (cfg.eval.video, "eval.video=true: SB3 runs record no videos"),
        (cfg.resume is not None, "resume: SB3 runs start from scratch"),
    ]  # fmt: skip
    for refused, message in refusals:
        if refused:
            raise ConfigError(message)


def sb3_sac_kwargs(cfg: TrainConfig) -> dict[str, Any]:
    """Our config as the keyword arguments of `SAC("MlpPolicy", env, ...)`, every one given
    (as benchmarks/perf/settings.py does), so a change of SB3's defaults changes nothing here."""
    agent = cfg.agent
    return dict(
        learning_rate=agent.actor_lr,  # = critic_lr, and alpha_lr when learned (else refused)
        buffer_size=agent.buffer_size,
        learning_starts=cfg.learning_starts,
        batch_size=agent.batch_size,
        tau=agent.tau,
        gamma=agent.gamma,
        train_freq=1,  # an update step after every env step, as ours
        gradient_steps=int(agent.utd),
        # "auto_<x>": learned, starting at x (SB3's sac.py); a float: fixed at it.
        ent_coef=f"auto_{agent.init_alpha}" if agent.learn_alpha else agent.init_alpha,
        target_entropy="auto" if agent.target_entropy is None else agent.target_entropy,
        target_update_interval=1,
        policy_kwargs={"net_arch": list(agent.hidden_sizes), "n_critics": agent.num_critics},
        # SB3's NStepReplayBuffer (in recent SB3): the same n-step sums, with two differences.
        # It builds windows when it samples, so a window still open at the newest stored step
        # is cut there and bootstraps with gamma^m, m < n, where ours waits for it to complete;
        # and where a time limit cuts a window short it bootstraps with gamma^m too, where ours
        # drops it (envs/n_step.py). Passed only when used: older SB3 has no such argument.
        **({"n_steps": agent.n_step} if agent.n_step > 1 else {}),
    )


def sb3_policy(model: SAC) -> Policy:
    """SB3's deterministic action in [-1, 1]: `predict` returns it in the env's units, and our
    envs take [-1, 1] (they rescale to the same units)."""

    def policy(obs: np.ndarray) -> np.ndarray:
        action, _ = model.predict(obs, deterministic=True)
        return model.policy.scale_action(action)

    return policy


class MetricsLog:
    """metrics.jsonl written as runner.tracking.RunLogger writes it: {"step": ..., **scalars}."""

    def __init__(self, path: Path) -> None:
        self.file: TextIO = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115

    def write(self, step: int, scalars: dict[str, float]) -> None:
        self.file.write(json.dumps({"step": step, **scalars}) + "\n")


class Evaluation(BaseCallback):
    """train.py's evaluation schedule and episode rows inside SB3's `learn()`. With train_freq=1,
    SB3 calls `on_rollout_start` before each env step, after the previous step's gradient steps,
    and `on_training_end` after the last: where train.py evaluates, after a step's updates."""

    def __init__(self, cfg: TrainConfig, eval_envs: gym.vector.VectorEnv, log: MetricsLog):
        super().__init__()
        self.cfg, self.eval_envs, self.log = cfg, eval_envs, log
        self.checked = 0  # the env step of the previous schedule check
        self.last_eval: dict[str, Any] | None = None
        self.last_eval_step, self.best = -1, -math.inf
        self.recent: list[float] = []  # the last eval.objective_evals return means
        self.start, self.wall_time = 0.0, 0.0

    def _on_training_start(self) -> None:
        self.start = time.perf_counter()  # after SB3's first env reset, as train.py's clock

    def _on_rollout_start(self) -> None:
        self._on_schedule()

    def _on_step(self) -> bool:
        for info in self.locals["infos"]:
            if "episode" in info:  # SB3's Monitor wrapper, at an episode's end
                episode = {"rollout/episode_return": float(info["episode"]["r"]),
                           "rollout/episode_length": int(info["episode"]["l"])}  # fmt: skip
                self.log.write(self.num_timesteps, episode)
        return True

    def _on_training_end(self) -> None:
        self._on_schedule()
        self.wall_time = time.perf_counter() - self.start  # the final evaluation not counted
        if self.last_eval_step != self.model.num_timesteps:
            self.evaluate()  # the summary always reports the final policy

    def _on_schedule(self) -> None:
        step = self.model.num_timesteps  # self.num_timesteps is updated by on_step only
        if crossed(step, self.checked, self.cfg.eval.every):
            self.evaluate()
        self.checked = step

    def evaluate(self) -> None:
        cfg, step = self.cfg, self.model.num_timesteps
        report = evaluate(
            sb3_policy(self.model),
            self.eval_envs,
            cfg.eval.episodes,
            seed=cfg.seed + cfg.eval.seed_offset,
        )
        self.log.write(step, {"eval/return_mean": report["return_mean"],
                              "eval/return_std": report["return_std"],
                              "eval/length_mean": report["length_mean"]})  # fmt: skip
        self.last_eval, self.last_eval_step = report, step
        self.best = max(self.best, report["return_mean"])
        self.recent = [*self.recent, report["return_mean"]][-cfg.eval.objective_evals :]
        print(f"seed {cfg.seed} step {step}: eval return {report['return_mean']:.1f} "
              f"± {report['return_std']:.1f}", file=sys.stderr)  # fmt: skip


def train_seed(cfg: TrainConfig, config_dict: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """One SB3 run into `run_dir`: config.yaml first, metrics.jsonl as it trains, then
    model.zip, and summary.json last (its presence marks the run finished)."""
    import torch

    if cfg.torch_threads is not None:
        torch.set_num_threads(cfg.torch_threads)
    env_kwargs = dict(max_episode_steps=cfg.env.max_episode_steps, **cfg.env.kwargs)
    # First: make_env registers dm_control ids and quiets MuJoCo, which gym.make below needs.
    eval_envs = make_vector_env(cfg.env.id, cfg.eval.num_envs, "sync", **env_kwargs)
    # The env as Gymnasium makes it (SB3 rescales actions itself), dict observations flattened
    # as ours: what runner.models.export_sb3 builds its SB3 model on.
    env = flatten_state_dict(gym.make(cfg.env.id, **env_kwargs))
    try:
        model = SAC("MlpPolicy", env, seed=cfg.seed, device=cfg.device, **sb3_sac_kwargs(cfg))
        (run_dir / "config.yaml").write_text(OmegaConf.to_yaml({**LIBRARY, **config_dict}))
        log = MetricsLog(run_dir / "metrics.jsonl")
        try:
            callback = Evaluation(cfg, eval_envs, log)
            model.learn(total_timesteps=cfg.total_steps, callback=callback)
        finally:
            log.file.close()
        model.save(run_dir / "model.zip")
    finally:
        env.close()
        eval_envs.close()
    last, steps = callback.last_eval, model.num_timesteps
    assert last is not None
    summary = {
        "env_id": cfg.env.id,
        "seed": cfg.seed,
        "total_steps": steps,
        "eval_return_mean": last["return_mean"],
        "eval_return_std": last["return_std"],
        "eval_episodes": last["episodes"],
        "eval_returns": last["episode_returns"],
        "best_eval_return_mean": callback.best,
        "eval_return_recent_mean": float(np.mean(callback.recent)),
        "eval_recent_count": len(callback.recent),
        "wall_time_s": callback.wall_time,
        "steps_per_second": steps / callback.wall_time,
        "updates": model._n_updates,  # gradient steps; SB3 logs it as train/n_updates
        "model": str(run_dir / "model.zip"),
        "torch_threads": torch.get_num_threads(),
        **LIBRARY,
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def prepare_run_dirs(out: Path, env_id: str, seeds: list[int]) -> dict[int, Path]:
    """Each seed's run dir, named as train.py names its own (configs/config.yaml's path_safe);
    a finished run (summary.json) is refused, an interrupted one's files are removed."""
    safe = re.sub(r"[^\w.-]", "-", env_id)
    dirs = {seed: out / f"{safe}_seed{seed}" for seed in seeds}
    finished = [str(d) for d in dirs.values() if (d / "summary.json").exists()]
    if finished:
        raise ConfigError(
            f"{', '.join(finished)} already hold{'s' if len(finished) == 1 else ''} a finished "
            "run (summary.json); choose another --out or move it away"
        )
    try:
        for run_dir in dirs.values():
            run_dir.mkdir(parents=True, exist_ok=True)
            for name in RUN_FILES:
                (run_dir / name).unlink(missing_ok=True)
    except OSError as error:
        raise ConfigError(f"cannot write {error.filename or out}: {error.strerror}") from None
    return dirs


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, as every other bad input
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = Parser(description=__doc__.splitlines()[0])
    p.add_argument("--env", required=True, help="a config of configs/env/, e.g. Pendulum-v1")
    p.add_argument("--seeds", type=int, nargs="+", required=True)
    p.add_argument("--out", type=Path, required=True, help="folder of the run dirs")
    p.add_argument("--total-steps", type=int, help="total_steps (default: the env config's)")
    p.add_argument("--jobs", type=int, default=1, help="seeds trained at once (processes)")
    p.add_argument("overrides", nargs="*", help="key=value overrides of our config")
    args = p.parse_intermixed_args(argv)
    if args.jobs < 1:
        p.error(f"--jobs must be >= 1, got {args.jobs}")
    if len(set(args.seeds)) < len(args.seeds):
        p.error(f"--seeds repeats a seed: {args.seeds}")
    if any(o.split("=")[0].lstrip("+~") == "seed" for o in args.overrides):
        p.error("give seeds with --seeds, not seed=")
    if args.total_steps is not None:
        args.overrides.append(f"total_steps={args.total_steps}")
    return args


def configs_per_seed(args: argparse.Namespace) -> list[tuple[TrainConfig, dict[str, Any], Path]]:
    """Every seed's config and run dir, each checked before any run starts (ConfigError or
    EnvError otherwise)."""
    cfg, config_dict = compose_config(args.env, args.overrides)
    validate(cfg)  # first: the refusals below take the values as valid (utd=nan is not)
    refuse_what_sb3_cannot_express(cfg)
    jobs = min(args.jobs, len(args.seeds))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    # Parallel runs that each use every core slow each other down (runner/training.py).
    threads = cfg.torch_threads or max(1, (cores or 1) // jobs)
    seeded = [dataclasses.replace(cfg, seed=seed, torch_threads=threads) for seed in args.seeds]
    for seed_cfg in seeded:
        validate(seed_cfg)
    env_spaces(cfg.env.id, max_episode_steps=cfg.env.max_episode_steps, **cfg.env.kwargs)
    dirs = prepare_run_dirs(args.out, cfg.env.id, args.seeds)
    return [
        (c, {**config_dict, "seed": c.seed, "torch_threads": threads}, dirs[c.seed]) for c in seeded
    ]


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        runs = configs_per_seed(args)
    except (ConfigError, EnvError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    jobs = min(args.jobs, len(runs))
    if jobs == 1:
        summaries = [train_seed(*run) for run in runs]
    else:  # spawn: a fresh interpreter per run, no forked torch thread pools
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(jobs, context, initializer=plain_warnings) as pool:
            summaries = list(pool.map(train_seed, *zip(*runs)))
    for (_, _, run_dir), summary in zip(runs, summaries):
        print(
            f"{run_dir}: eval return {summary['eval_return_mean']:.1f} ± "
            f"{summary['eval_return_std']:.1f}; {summary['steps_per_second']:.0f} steps/s"
        )


if __name__ == "__main__":
    plain_warnings()  # a warning is one `warning: ...` line, as train.py's
    main()
