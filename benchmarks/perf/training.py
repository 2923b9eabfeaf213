"""Both training loops, each with a hook called after every env step: ours is the loop users run
(`runner.training.Trainer.train`, W&B disabled), SB3's is its own `learn()`."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from envs.evaluation import evaluate

from .settings import EVAL_SEED_OFFSET, SOLVE_THRESHOLD

Policy = Callable[[np.ndarray], np.ndarray]  # batched obs -> actions in [-1, 1]


class Hook:
    """Called after every env step (and its updates) with the env step count and a
    deterministic policy; returning True stops training."""

    def start(self) -> None:
        pass

    def __call__(self, step: int, policy: Policy) -> bool:
        return False


class WindowTimer(Hook):
    """Timestamps at env steps `first` and `last`: (last - first) steps, each with its update."""

    def __init__(self, first: int, last: int) -> None:
        self.first, self.last, self.times = first, last, {}

    def __call__(self, step: int, policy: Policy) -> bool:
        if step in (self.first, self.last):
            self.times[step] = time.perf_counter()
        return False

    @property
    def steps_per_s(self) -> float:
        return (self.last - self.first) / (self.times[self.last] - self.times[self.first])


class SolveClock(Hook):
    """Evaluates every `every` steps; stops at the first mean return >= threshold. Its clock
    counts training only: evaluation time is paused out."""

    def __init__(self, env_id: str, seed: int, every: int, episodes: int) -> None:
        from envs import make_vector_env

        self.eval_envs = make_vector_env(env_id, 1)
        self.seed, self.every, self.episodes = seed, every, episodes
        self.curve: list[dict[str, float]] = []
        self.solved: dict[str, float] | None = None
        self.t0, self.paused = 0.0, 0.0

    def start(self) -> None:
        self.t0 = time.perf_counter()

    def __call__(self, step: int, policy: Policy) -> bool:
        if step % self.every:
            return False
        t = time.perf_counter()
        train_s = t - self.t0 - self.paused
        report = evaluate(policy, self.eval_envs, self.episodes, seed=self.seed + EVAL_SEED_OFFSET)
        self.paused += time.perf_counter() - t
        point = {"step": step, "train_s": train_s, "return_mean": report["return_mean"]}
        self.curve.append(point)
        if report["return_mean"] >= SOLVE_THRESHOLD:
            self.solved = point
            return True
        return False


def ours_train_config(
    env_id: str,
    agent: Any,
    learning_starts: int,
    total_steps: int,
    seed: int,
    device: str,
    compile: bool = False,
    population: int = 1,
) -> Any:
    """train.py's TrainConfig for a benchmark run: W&B off, no progress bar, no evaluation or
    checkpoint inside the run (both are timed separately, or paused out), logs every 1,000
    steps as train.py's default; only the final evaluation and model files at the end."""
    from configs.schema import (
        CheckpointConfig,
        EnvConfig,
        EvalConfig,
        TrainConfig,
        WandbConfig,
    )

    return TrainConfig(
        env=EnvConfig(id=env_id),
        agent=agent,
        eval=EvalConfig(every=0, episodes=1),
        checkpoint=CheckpointConfig(every=0, save_buffer=False),
        wandb=WandbConfig(mode="disabled"),
        seed=seed,
        total_steps=total_steps,
        learning_starts=learning_starts,
        device=device,
        progress=False,
        compile=compile,
        population=population,
    )


def train_ours(
    env_id: str,
    config: Any,
    learning_starts: int,
    total_steps: int,
    seed: int,
    hook: Hook,
    device: str = "cpu",
    compile: bool = False,
    population: int = 1,
) -> tuple[Any, Policy]:
    """The training loop train.py runs, `runner.training.Trainer.train` (one env, W&B disabled;
    `ours_train_config`), with `hook` called after every env step: what is timed is the loop
    users run, not a copy. `population`: members trained together (the policy is member 0's)."""
    from runner.tracking import RunLogger
    from runner.training import Trainer

    cfg = ours_train_config(
        env_id, config, learning_starts, total_steps, seed, device, compile, population
    )
    run_dir = Path(tempfile.mkdtemp(prefix="sac-bench-run-"))
    trainer = Trainer(cfg, {}, run_dir)

    def policy(obs: np.ndarray) -> np.ndarray:
        return trainer.members[0].agent.act(obs, deterministic=True)

    loggers = []
    try:
        for member in trainer.members:
            member.run_dir.mkdir(parents=True, exist_ok=True)
            loggers.append(RunLogger(member.run_dir, member.cfg, {}))
        hook.start()
        trainer.train(loggers, on_step=lambda step: hook(step, policy))
    finally:
        for logger in loggers:
            logger.close({})
        trainer.close()
        shutil.rmtree(run_dir, ignore_errors=True)
    return trainer.members[0].agent, policy


def train_sb3(
    env_id: str,
    kwargs: dict[str, Any],
    total_steps: int,
    seed: int,
    hook: Hook,
    device: str = "cpu",
) -> tuple[Any, Policy]:
    """SB3's own `learn()`; a callback hands the hook each env step. SB3 calls callbacks after
    the env step and before that step's `train()`, so a window [a, b] holds b - a steps and
    b - a updates, as ours does."""
    import gymnasium as gym
    import torch
    from stable_baselines3 import SAC
    from stable_baselines3.common.callbacks import BaseCallback

    model = SAC("MlpPolicy", gym.make(env_id), seed=seed, device=device, verbose=0, **kwargs)

    def policy(obs: np.ndarray) -> np.ndarray:  # SB3's squashed deterministic action, in [-1, 1]
        with torch.no_grad():
            obs_t = torch.as_tensor(obs, dtype=torch.float32, device=model.device)
            return model.actor(obs_t, deterministic=True).cpu().numpy()

    class Callback(BaseCallback):
        def _on_step(self) -> bool:
            return not hook(self.num_timesteps, policy)

    hook.start()
    model.learn(total_timesteps=total_steps, callback=Callback(), progress_bar=False)
    return model, policy
