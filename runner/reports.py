"""evaluate.py's report: where it goes, what it may replace, how it is written and printed."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runner.errors import EvalError


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
