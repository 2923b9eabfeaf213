"""Checkpoints of a training run and resuming from them: what is saved beside the agent and the
replay buffer (counters, RNG states, the best eval so far), and the seeds of resumed episodes.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents import SACAgent
from agents.checkpoint import (
    FILENAME,
    CheckpointError,
    kept_checkpoints,
    load_checkpoint,
    resolve_checkpoint_path,
    verify_checkpoint,
)
from agents.replay_buffer import ReplayBuffer
from configs import CONFIG_DIR
from runner.errors import ConfigError
from runner.run_dir import (
    POPULATION_SUMMARY,
    finished_at,
    member_config,
    member_dir,
    saved_config,
)

AUTO = "auto"  # resume=auto: the run dir's own checkpoint if it has one, else a fresh start

# Settings a continued run may change: how long it trains, where and how it reports. Any other
# difference means the dir holds another experiment's run.
FREE_TO_CHANGE = (
    "resume", "total_steps", "torch_threads", "progress", "device", "compile", "log_every",
    "eval.video", "checkpoint.every", "checkpoint.keep", "checkpoint.on_error",
    "wandb.",
)  # fmt: skip


@dataclass
class Progress:
    """A run's counters: what a checkpoint carries beside the agent, buffer and RNG states."""

    step: int = 0
    update_debt: float = 0.0  # fractional updates owed when utd * num_envs is not whole
    best_eval_return: float = -math.inf
    best_eval_step: int = -1
    recent_eval_returns: list[float] = field(default_factory=list)  # for a sweep's objective


def checkpoint_payload(
    config_dict: dict[str, Any],
    progress: Progress,
    agent_state: dict[str, Any],
    buffer: ReplayBuffer | None,
    np_rng: np.random.Generator,
    last_eval: dict[str, Any] | None,
    generator: torch.Generator | None = None,
) -> dict[str, Any]:
    """A checkpoint's contents: state_dicts and the resolved config, never pickled objects.
    `buffer=None` gives a small model file (best.pt, model.pt). `generator`: the agent's own
    (a member of a population of several), saved where torch's default one is otherwise."""
    own_cpu = None if _uses_default(generator, "cpu") else generator
    return {
        "config": config_dict,
        "step": progress.step,
        "update_debt": progress.update_debt,
        "agent": agent_state,
        "buffer": None if buffer is None else buffer.state_dict(),
        "rng": {
            "torch": torch.get_rng_state() if own_cpu is None else own_cpu.get_state(),
            "cuda": _cuda_states(generator),
            "numpy": np_rng.bit_generator.state,
        },
        "eval": last_eval,
        "best_eval_return": progress.best_eval_return,
        "best_eval_step": progress.best_eval_step,
        "recent_eval_returns": list(progress.recent_eval_returns),
    }


def _uses_default(generator: torch.Generator | None, device_type: str) -> bool:
    """True when torch's default generator holds the stream on `device_type`: `generator` is not
    an agent's own generator there."""
    return generator is None or generator.device.type != device_type


def _cuda_states(generator: torch.Generator | None) -> list[torch.Tensor] | None:
    """Each GPU's generator state; on an agent's own CUDA generator's GPU, that one's."""
    if not torch.cuda.is_available():
        return None
    states = torch.cuda.get_rng_state_all()
    if not _uses_default(generator, "cuda"):
        states[generator.device.index or 0] = generator.get_state()
    return states


def restore(
    payload: dict[str, Any],
    source: str,
    env_id: str,
    agent: SACAgent,
    buffer: ReplayBuffer,
    np_rng: np.random.Generator,
    generator: torch.Generator | None = None,
) -> Progress:
    """Continue a run: agent, optimizers, alpha, replay buffer and RNG states, in place; returns
    the counters. A CheckpointError (one line) for a checkpoint of another env or without its
    buffer, or one that does not fit. `generator`: the agent's own, which takes the saved
    stream (see `checkpoint_payload`)."""
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
        if _uses_default(generator, "cpu"):
            torch.set_rng_state(rng["torch"])
        else:
            generator.set_state(rng["torch"])
        if rng.get("cuda") is not None and torch.cuda.is_available():
            if _uses_default(generator, "cuda"):
                torch.cuda.set_rng_state_all(rng["cuda"])
            else:
                generator.set_state(rng["cuda"][generator.device.index or 0])
        np_rng.bit_generator.state = rng["numpy"]
        progress = Progress(
            int(payload["step"]),
            float(payload["update_debt"]),
            float(payload.get("best_eval_return", -math.inf)),
            int(payload.get("best_eval_step", -1)),
            [float(r) for r in payload.get("recent_eval_returns", [])],
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


def flat_config(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config as dotted keys (`agent.batch_size`); an empty mapping is one value."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            flat |= flat_config(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def refuse_other_settings(run_dir: Path, config_dict: dict[str, Any]) -> None:
    """resume=auto continues only the run its dir was started for: a ConfigError naming the
    settings that differ from the run dir's `.hydra/config.yaml` (e.g. a sweep dir reused for
    another sweep), beyond those a continued run may change (FREE_TO_CHANGE)."""
    saved = saved_config(run_dir)
    if saved is None:
        return
    before, now = flat_config(saved), flat_config(config_dict)
    differ = [
        f"{key}: {before.get(key)!r} there, {now.get(key)!r} here"
        for key in sorted(before.keys() | now.keys())
        if not key.startswith(FREE_TO_CHANGE) and before.get(key) != now.get(key)
    ]
    if differ:
        more = f" (and {len(differ) - 3} more)" if len(differ) > 3 else ""
        raise ConfigError(
            f"resume=auto: {run_dir} holds a run with other settings ({'; '.join(differ[:3])}"
            f"{more}); choose another run or sweep dir, or resume={run_dir} to continue it "
            f"with these settings"
        )


def auto_resume_source(run_dir: Path, config_dict: dict[str, Any]) -> str | None:
    """resume=auto: the run dir's newest intact checkpoint, when it has one and the same
    settings; None starts fresh (a dir that holds a run but no checkpoint is then refused as
    usual). A damaged checkpoint (truncated, bit-flipped) is named and the one before taken."""
    kept = kept_checkpoints(run_dir)
    if not kept:
        return None
    refuse_other_settings(run_dir, config_dict)
    for path in kept:
        try:
            verify_checkpoint(path)
        except CheckpointError as error:
            print(f"resume=auto: {error}; trying the checkpoint before it", file=sys.stderr)
            continue
        return str(run_dir) if path.name == FILENAME else str(path)
    raise CheckpointError(
        f"resume=auto: no intact checkpoint in {run_dir} ({', '.join(p.name for p in kept)} are "
        "damaged); move the run dir's files away to train it again from the start"
    )


def resume_sources(
    resume: str | None, run_dir: Path, config_dict: dict[str, Any], population: int
) -> list[str | None]:
    """Each member's checkpoint to continue from. A population of several resumes from its run
    dir, member i from member-<i>/; resume=auto takes each member dir's own newest intact
    checkpoint, and all members or none must have one."""
    if resume is None:
        return [None] * population
    if resume == AUTO:
        seed = int(config_dict.get("seed", 0))
        sources = [
            auto_resume_source(
                member_dir(run_dir, k, population),
                member_config(config_dict, seed + k, population),
            )
            for k in range(population)
        ]
        if any(sources) and not all(sources):
            missing = [f"member-{k}" for k, source in enumerate(sources) if source is None]
            raise CheckpointError(
                f"resume=auto: {run_dir} has no checkpoint for {', '.join(missing)}; move the "
                "run dir's files away to train the population again from the start"
            )
        return sources
    if population == 1:
        return [resume]
    folder = Path(resume).expanduser()
    if not (folder / "member-0").is_dir():
        raise ConfigError(
            f"resume={resume}: population={population} resumes from a population's run dir "
            "(the one that holds member-0/, member-1/, ...)"
        )
    return [str(member_dir(folder, k, population)) for k in range(population)]


def finished_summary(
    run_dir: Path, config_dict: dict[str, Any], total_steps: int, population: int = 1
) -> dict[str, Any] | None:
    """resume=auto on a run that already finished at total_steps: its summary.json (a
    population's population.json), for a re-run (a requeued or repeated sweep job) to report
    instead of training again."""
    name = "summary.json" if population == 1 else POPULATION_SUMMARY
    if finished_at(run_dir, name) != total_steps:
        return None
    refuse_other_settings(run_dir, config_dict)
    summary = json.loads((run_dir / name).read_text())
    print(
        f"{run_dir} already finished at step {total_steps} (summary.json); nothing to do",
        file=sys.stderr,
    )
    return summary
