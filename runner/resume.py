"""Checkpoints of a training run and resuming from them: what is saved beside the agent and the
replay buffer (counters, RNG states, the best eval so far), and the seeds of resumed episodes.
"""

from __future__ import annotations

import math
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents import SACAgent
from agents.checkpoint import CheckpointError, load_checkpoint, resolve_checkpoint_path
from agents.replay_buffer import ReplayBuffer
from configs import CONFIG_DIR
from runner.errors import ConfigError
from runner.run_dir import finished_at


@dataclass
class Progress:
    """A run's counters: what a checkpoint carries beside the agent, buffer and RNG states."""

    step: int = 0
    update_debt: float = 0.0  # fractional updates owed when utd * num_envs is not whole
    best_eval_return: float = -math.inf
    best_eval_step: int = -1


def checkpoint_payload(
    config_dict: dict[str, Any],
    progress: Progress,
    agent: SACAgent,
    buffer: ReplayBuffer | None,
    np_rng: np.random.Generator,
    last_eval: dict[str, Any] | None,
) -> dict[str, Any]:
    """A checkpoint's contents: state_dicts and the resolved config, never pickled objects.
    `buffer=None` gives a small model file (best.pt, model.pt)."""
    return {
        "config": config_dict,
        "step": progress.step,
        "update_debt": progress.update_debt,
        "agent": agent.state_dict(),
        "buffer": None if buffer is None else buffer.state_dict(),
        "rng": {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "numpy": np_rng.bit_generator.state,
        },
        "eval": last_eval,
        "best_eval_return": progress.best_eval_return,
        "best_eval_step": progress.best_eval_step,
    }


def restore(
    payload: dict[str, Any],
    source: str,
    env_id: str,
    agent: SACAgent,
    buffer: ReplayBuffer,
    np_rng: np.random.Generator,
) -> Progress:
    """Continue a run: agent, optimizers, alpha, replay buffer and RNG states, in place; returns
    the counters. A CheckpointError (one line) for a checkpoint of another env or without its
    buffer, or one that does not fit."""
    try:
        saved_env = payload["config"]["env"]["id"]
        if saved_env != env_id:
            select = f"env={saved_env}"  # its config file, else the generic one
            if not (CONFIG_DIR / "env" / f"{saved_env}.yaml").is_file():
                select = f"env=custom env.id={saved_env}"
            raise CheckpointError(
                f"checkpoint is for env {saved_env}, config says {env_id}; add "
                f"{select} (and the saved run's other settings, e.g. network sizes)"
            )
        if payload.get("buffer") is None:  # best.pt / model.pt, or save_buffer=false
            raise CheckpointError(
                f"{source} holds no replay buffer, so training cannot continue from it; "
                f"resume from a run's checkpoint.pt (saved with checkpoint.save_buffer=true)"
            )
        agent.load_state_dict(payload["agent"])
        buffer.load_state_dict(payload["buffer"])
        rng = payload["rng"]
        torch.set_rng_state(rng["torch"])
        if rng.get("cuda") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        np_rng.bit_generator.state = rng["numpy"]
        progress = Progress(
            int(payload["step"]),
            float(payload["update_debt"]),
            float(payload.get("best_eval_return", -math.inf)),
            int(payload.get("best_eval_step", -1)),
        )
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise CheckpointError(f"cannot resume from {source}: {error}") from error
    print(f"resumed from {source} at step {progress.step}", file=sys.stderr)
    return progress


def carry_best_model(resume: str, run_dir: Path, env_id: str, progress: Progress) -> None:
    """A run resumed into a new directory starts with the best model so far (the resumed
    checkpoint's best.pt): best.pt is then the best of the whole run, and W&B's `best`
    artifact exists even when no later eval beats it."""
    source = resolve_checkpoint_path(resume).parent / "best.pt"
    target = run_dir / "best.pt"
    if not source.is_file():
        return
    try:
        saved = load_checkpoint(source)
        best_return = float(saved.get("best_eval_return", -math.inf))
        best_step = int(saved.get("best_eval_step", -1))
        same_env = saved["config"]["env"]["id"] == env_id
    except (CheckpointError, KeyError, TypeError, ValueError):  # unreadable: not the best
        return
    if not same_env:  # another run's best.pt beside a checkpoint file given as resume=
        return
    if best_return > progress.best_eval_return:
        # A hard kill (SIGKILL, out of memory) saves no checkpoint, so best.pt can be newer
        # than checkpoint.pt: a later, worse eval would have replaced the best model.
        progress.best_eval_return, progress.best_eval_step = best_return, best_step
    if not target.exists():
        shutil.copy2(source, target)


def reset_seed(seed: int, step: int, eval_seed: int, spread: int) -> int:
    """The training envs' first reset (sub-env i gets the seed + i): `seed` for a new run.

    A resumed run cannot restore the envs' internal state, so it starts fresh episodes, seeded
    by a hash of (seed, step) apart from the original run's first reset (seed + i) and from
    eval's (eval_seed + i), i < spread; seed + step, as before, replayed the eval episodes after
    a resume at step 10,000. Below 2**32: shimmy's DeepMind Control envs seed a RandomState.
    """
    if step == 0:
        return seed
    attempt = 0
    while True:
        word = np.random.SeedSequence([seed, step, attempt]).generate_state(1)[0]
        candidate = int(word) % (2**32 - spread)  # candidate + i stays below 2**32
        if all(abs(candidate - start) >= spread for start in (seed, eval_seed)):
            return candidate
        attempt += 1


def refuse_finished(step: int, total_steps: int, run_dir: Path) -> None:
    """A resumed checkpoint must leave something to do. At step == total_steps a run stopped in
    its final evaluation, and resuming finishes it (final eval, model files, summary) without
    training further, unless its summary says it finished."""
    if step > total_steps:
        raise ConfigError(
            f"the checkpoint is at step {step}, beyond total_steps={total_steps}; set "
            f"total_steps to {step} or more"
        )
    if step == total_steps and finished_at(run_dir) == step:
        # Nothing to finish: rerunning would only overwrite the summary's timings.
        raise ConfigError(
            f"{run_dir} already finished at step {step} (summary.json); set total_steps above "
            f"{step} to train on"
        )
