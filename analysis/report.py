"""From run dirs to the four files aggregate.py writes: read, group, estimate, draw, tabulate.

Everything is computed and rendered in memory first; only then is --out created and written,
so a refused input or a failed figure leaves no half-written output behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from analysis import AggregateError
from analysis.figures import curves_png, final_png
from analysis.groups import group_runs, parse_by
from analysis.results import (
    ConfigResult,
    CrossEnvResult,
    alignment_notes,
    config_results,
    cross_env_results,
    reference_notes,
)
from analysis.runs import RunLog, load_runs
from analysis.statistics import CONFIDENCE
from analysis.tables import csv_text, markdown, markdown_table, records

# The files aggregate.py owns in --out: rewritten on every run, nothing else there is touched.
OUTPUTS = ("curves.png", "final.png", "results.md", "results.csv")


@dataclass(frozen=True)
class Report:
    runs: list[RunLog]
    results: list[ConfigResult]
    crossed: list[CrossEnvResult]
    notes: list[str]  # one line each: steps dropped, envs without a reference, runs left out
    table: str  # the Markdown table alone, for the terminal
    files: dict[str, bytes]  # each of OUTPUTS -> its contents


def build_report(
    dirs: list[Path],
    baseline_dirs: list[Path] = (),
    by: str = "env",
    reps: int = 2000,
    seed: int = 0,
) -> Report:
    """Every run under `dirs` (and the baselines'), grouped per env and `by` config, with
    rliable's 95% stratified bootstrap intervals from `reps` resamples seeded by `seed`."""
    if reps < 1:
        raise AggregateError(f"--reps must be at least 1, got {reps}")
    if not 0 <= seed < 2**32:  # what NumPy's global generator accepts
        raise AggregateError(f"--seed must be in [0, 2**32), got {seed}")
    runs = load_runs(list(dirs), list(baseline_dirs))
    configs = group_runs(runs, parse_by(by))
    results = config_results(configs, reps, seed)
    crossed, cross_notes = cross_env_results(results, reps, seed)
    notes = alignment_notes(configs) + reference_notes(configs) + cross_notes
    unfinished = sum(not run.finished for run in runs)
    read = (
        f"Read {len(runs)} runs ({unfinished} unfinished) from {', '.join(map(str, dirs))}"
        + (f"; baselines from {', '.join(map(str, baseline_dirs))}" if baseline_dirs else "")
        + f". {CONFIDENCE:.0%} confidence intervals: stratified bootstrap (rliable), "
        f"{reps} reps, seed {seed}."
    )
    files = {
        "curves.png": curves_png(results),
        "final.png": final_png(results, crossed),
        "results.md": markdown(results, crossed, read, notes).encode(),
        "results.csv": csv_text(records(results, crossed)).encode(),
    }
    return Report(runs, results, crossed, notes, markdown_table(results, crossed), files)


def default_out_dir(dirs: list[Path]) -> Path:
    """<the input dir>/aggregate beside its runs; ./aggregate when several dirs are read."""
    return dirs[0] / "aggregate" if len(dirs) == 1 else Path("aggregate")


def check_out_dir(out_dir: Path) -> None:
    """Refused before anything is read or computed: a file where the folder should go."""
    if out_dir.exists() and not out_dir.is_dir():
        raise AggregateError(f"--out {out_dir} exists and is not a directory")


def write_report(report: Report, out_dir: Path) -> list[Path]:
    """The files of OUTPUTS into out_dir (created), overwriting earlier ones; nothing else."""
    check_out_dir(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in OUTPUTS:
        path = out_dir / name
        path.write_bytes(report.files[name])
        written.append(path)
    return written
