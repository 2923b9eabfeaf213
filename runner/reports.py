"""The reports the CLIs write: evaluate.py's (where it goes, what it may replace, how it is
written and printed) and the fields of train.py's summary.json."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from configs.schema import TrainConfig
from runner.errors import EvalError
from runner.resume import Progress


def check_writable(path: Path, key: str) -> None:
    """Refuse, before any rollout, a path whose folder cannot be made: the nearest existing
    ancestor must be a folder we may write into (a file there fails only at the very end)."""
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise EvalError(f"{key}={path} cannot be written: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK):
        raise EvalError(f"{key}={path} cannot be written: no write permission in {ancestor}")


def refuse_overwriting_other_files(out: Path) -> None:
    """An existing output= file may be replaced only by a newer report: output=<run>/summary.json
    would otherwise silently destroy the training run's summary."""
    if not out.exists():
        return
    try:
        old = json.loads(out.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        old = None
    if not (isinstance(old, dict) and {"episode_returns", "deterministic"} <= old.keys()):
        raise EvalError(
            f"{out} exists and is not an eval report: give output=<another .json path> "
            "(only an earlier report is replaced)"
        )


def report_path(output: str | None, source: Path, is_sb3_zip: bool) -> Path:
    """output= if given (a dir means <dir>/eval_report.json); else beside the checkpoint as
    eval_report.json, or beside an SB3 zip as <name>_eval_report.json (zips share folders)."""
    if output is not None:
        out = Path(output).expanduser()
        return out / "eval_report.json" if out.is_dir() else out
    if is_sb3_zip:
        return source.with_name(f"{source.stem}_eval_report.json")
    return source.parent / "eval_report.json"


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Readers see the old file or the complete new one, never half a report."""
    save_atomically(
        path, lambda tmp: tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    )


def save_atomically(path: Path, save: Callable[[Path], object], tmp_suffix: str = ".tmp") -> Path:
    """`save(tmp)` writes a file beside `path`, which then replaces `path` in one rename: readers
    see the old file or the complete new one (an SB3 zip, an ONNX graph, a report), and after
    Ctrl-C or a full disk mid-write no stray temp file is left. `tmp_suffix` keeps a writer that
    appends its own extension (SB3's .zip) from writing elsewhere."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + tmp_suffix)
    try:
        save(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def format_table(report: dict[str, Any], max_rows: int = 20) -> str:
    mode = "deterministic" if report["deterministic"] else "stochastic"
    lines = [
        f"{report['env_id']}: {report['episodes']} episodes, seed {report['seed']}, {mode}",
        f"{'episode':>8} {'return':>12} {'length':>8}",
    ]
    rows = list(enumerate(zip(report["episode_returns"], report["episode_lengths"])))
    lines += [f"{i:>8} {r:>12.2f} {n:>8}" for i, (r, n) in rows[:max_rows]]
    if len(rows) > max_rows:
        lines.append(f"{'...':>8} ({len(rows) - max_rows} more in the report)")
    lines.append(
        f"return mean {report['return_mean']:.2f} ± {report['return_std']:.2f} (std), "
        f"min {report['return_min']:.2f}, max {report['return_max']:.2f}, "
        f"median {report['return_median']:.2f}"
    )
    if "success_rate" in report:
        lines.append(f"success rate {report['success_rate']:.1%}")
    return "\n".join(lines)


def run_summary(
    cfg: TrainConfig,
    progress: Progress,
    last_eval: dict[str, Any],
    wall_time: float,
    steps_per_second: float,
    updates: int,
    resume_kind: str | None,
    checkpoint: Path,
) -> dict[str, Any]:
    """summary.json's fields: the final evaluation, the best one, timings and counters."""
    return {
        "env_id": cfg.env.id,
        "seed": cfg.seed,
        "total_steps": progress.step,
        "eval_return_mean": last_eval["return_mean"],
        "eval_return_std": last_eval["return_std"],
        "eval_episodes": last_eval["episodes"],
        "eval_returns": last_eval["episode_returns"],
        "best_eval_return_mean": progress.best_eval_return,
        "eval_return_recent_mean": float(np.mean(progress.recent_eval_returns or [np.nan])),
        "eval_recent_count": len(progress.recent_eval_returns),
        "wall_time_s": wall_time,
        "steps_per_second": steps_per_second,
        "updates": updates,
        "torch_threads": torch.get_num_threads(),
        "resumed_from": cfg.resume,
        "resume_kind": resume_kind,
        "checkpoint": str(checkpoint),
    }


def population_summary(
    cfg: TrainConfig, member_dirs: list[Path], summaries: list[dict[str, Any]]
) -> dict[str, Any]:
    """population.json's fields: each member's final return and dir, their mean and spread, and
    the population's throughput (member env steps per second, summed over the members)."""
    finals = np.array([s["eval_return_mean"] for s in summaries], dtype=float)
    recent = np.array([s["eval_return_recent_mean"] for s in summaries], dtype=float)
    return {
        "env_id": cfg.env.id,
        "population": cfg.population,
        "seeds": [s["seed"] for s in summaries],
        "total_steps": summaries[0]["total_steps"],
        "eval_return_mean": float(np.nanmean(finals)),
        "eval_return_std": float(np.nanstd(finals)),
        "eval_return_recent_mean": float(np.nanmean(recent)),
        "wall_time_s": summaries[0]["wall_time_s"],
        "steps_per_second": sum(s["steps_per_second"] for s in summaries),
        "diverged_members": [k for k, s in enumerate(summaries) if "diverged_at_step" in s],
        "members": [
            {"run_dir": folder.name, "seed": s["seed"], "eval_return_mean": s["eval_return_mean"]}
            for folder, s in zip(member_dirs, summaries)
        ],
    }
