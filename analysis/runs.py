"""Find run dirs and read one run: its eval returns, config, env, seed and whether it finished.

A run dir is any dir holding a non-empty metrics.jsonl (train.py creates the file before W&B
starts, so an empty one is a start that never ran: runner/run_dir.py treats it the same way).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from analysis import AggregateError

EVAL_KEY = "eval/return_mean"
OUR_LIBRARY = "ours"
# W&B's offline files, submitit's logs and eval videos never hold a run of their own, and
# wandb/ can be large: not descended into.
SKIPPED_DIRS = {"wandb", ".submitit", "videos"}
# Ours first (train.py writes .hydra/ itself); a baseline library's script writes config.yaml.
CONFIG_FILES = (Path(".hydra") / "config.yaml", Path("config.yaml"))


@dataclass(frozen=True)
class RunLog:
    """One run as its files tell it: eval returns by env step, and what it was run with."""

    path: Path
    env_id: str
    seed: int | None
    library: str  # "ours", or the `library:` key a baseline's config.yaml names
    baseline: bool  # given with --baseline: drawn as a reference line
    finished: bool  # summary.json exists
    steps: np.ndarray  # (E,) eval env steps, ascending, each once
    returns: np.ndarray  # (E,) eval/return_mean at those steps
    config: dict[str, Any] = field(default_factory=dict)


def find_run_dirs(top: Path) -> list[Path]:
    """Every run dir under `top` (searched recursively; `top` may be a run dir itself), sorted.
    A path that does not exist or holds no run is refused: it is most likely a typo."""
    if not top.exists():
        raise AggregateError(f"{top} does not exist")
    if not top.is_dir():
        raise AggregateError(f"{top} is not a directory (give a run dir or a sweep dir)")
    found = []
    for folder, subdirs, files in os.walk(top):
        subdirs[:] = sorted(d for d in subdirs if d not in SKIPPED_DIRS)
        if "metrics.jsonl" in files and (Path(folder) / "metrics.jsonl").stat().st_size > 0:
            found.append(Path(folder))
    if not found:
        raise AggregateError(f"no runs found under {top} (no dir there holds a metrics.jsonl)")
    return sorted(found)


def read_evals(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Eval steps and returns from a metrics.jsonl. A resumed run appends from its checkpoint's
    step, so a step can be logged twice: the last row wins, as it is the run that went on."""
    by_step: dict[int, float] = {}
    # Undecodable bytes (a line cut off mid-character) surface as that line's JSON error.
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise AggregateError(f"{path} line {number} is not JSON ({error.msg})") from None
            if not isinstance(row, dict):
                raise AggregateError(f"{path} line {number} is not a JSON object")
            if EVAL_KEY not in row:
                continue  # train/, rollout/ and time/ rows
            step, value = row.get("step"), row[EVAL_KEY]
            if not isinstance(step, int) or isinstance(step, bool):
                raise AggregateError(f"{path} line {number} has no integer step")
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise AggregateError(f"{path} line {number}: {EVAL_KEY} is {value!r}")
            by_step[step] = float(value)
    steps = np.array(sorted(by_step), dtype=np.int64)
    return steps, np.array([by_step[s] for s in steps.tolist()], dtype=np.float64)


def read_config(run_dir: Path) -> dict[str, Any]:
    """The run's full config (ours: .hydra/config.yaml; a baseline's: config.yaml), or {}."""
    for name in CONFIG_FILES:
        path = run_dir / name
        if path.is_file():
            try:
                config = yaml.safe_load(path.read_text(encoding="utf-8"))
            except (yaml.YAMLError, UnicodeDecodeError) as error:
                reason = str(error).splitlines()[0]
                raise AggregateError(f"{path} is not readable YAML ({reason})") from None
            if not isinstance(config, dict):
                raise AggregateError(f"{path} holds no mapping of config keys")
            return config
    return {}


def read_summary(run_dir: Path) -> dict[str, Any] | None:
    """summary.json, written when the run finished; None for a run still going or stopped."""
    try:
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) else None


def load_run(run_dir: Path, baseline: bool = False) -> RunLog:
    """One run dir as a RunLog; env and seed from its config, else from summary.json."""
    config, summary = read_config(run_dir), read_summary(run_dir)
    env = config.get("env")
    env_id = env.get("id") if isinstance(env, dict) else env  # a flat `env: <id>` reads too
    env_id = env_id or (summary or {}).get("env_id")
    if not env_id:
        raise AggregateError(
            f"{run_dir} names no env: it has no .hydra/config.yaml or config.yaml with env.id, "
            "and no summary.json"
        )
    seed = config.get("seed", (summary or {}).get("seed"))
    steps, returns = read_evals(run_dir / "metrics.jsonl")
    return RunLog(
        path=run_dir,
        env_id=str(env_id),
        seed=seed if isinstance(seed, int) else None,
        library=str(config.get("library", OUR_LIBRARY)),
        baseline=baseline,
        finished=summary is not None,
        steps=steps,
        returns=returns,
        config=config,
    )


def load_runs(dirs: list[Path], baseline_dirs: list[Path] = ()) -> list[RunLog]:
    """Every run under `dirs` and `baseline_dirs`, each once; a run found under both is a
    baseline (the user named it as one). Refuses runs without a single eval."""
    baselines = sorted({d for top in baseline_dirs for d in find_run_dirs(top)})
    ours = sorted({d for top in dirs for d in find_run_dirs(top)} - set(baselines))
    runs = [load_run(d) for d in ours] + [load_run(d, baseline=True) for d in baselines]
    empty = [run.path for run in runs if run.steps.size == 0]
    if empty:
        raise AggregateError(
            f"{len(empty)} of {len(runs)} runs have no evals ({EVAL_KEY} in metrics.jsonl), "
            f"first {empty[0]}: let them reach an eval, or leave their dirs out"
        )
    return runs
