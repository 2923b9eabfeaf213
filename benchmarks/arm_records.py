"""Finished arms of the results page, kept in the repository so that the page can be drawn again
on any clone. An arm dir under runs/ is mostly checkpoints and weights (tens of MB a run), which
no clone holds; the page needs only each run's config, summary and eval rows. A finished arm is
recorded with exactly those, in the arm dir's own layout, under

    benchmarks/results/<date>-<machine>/returns/<env>/steps<budget>/<arm>/

(the date it was recorded, the machine that finished it) with its provenance.json, and
analysis/runs.py reads a record as it reads the arm dir itself. Where an arm was recorded more
than once (trained again after a change), the newest record is the arm.
"""

from __future__ import annotations

import datetime
import json
import shutil
from pathlib import Path

from analysis.runs import CONFIG_FILES, EVAL_KEY, find_run_dirs

RECORDS = Path(__file__).resolve().parent / "results"
RETURNS = "returns"  # the folder of a results dir that holds its recorded arms
PROVENANCE = "provenance.json"
SUMMARY = "summary.json"
PARTIAL = ".partial"  # a record being written: renamed into place whole

ArmKey = tuple[str, str, str]  # (env dir, steps<budget>, arm dir name), as under runs/results


def arm_key(directory: Path) -> ArmKey:
    env, steps, arm = directory.parts[-3:]
    return env, steps, arm


def read_provenance(directory: Path) -> dict:
    path = directory / PROVENANCE
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def recorded_arms(records: Path = RECORDS) -> dict[ArmKey, Path]:
    """The newest record of each arm. Results dirs are named <date>-<machine>, so sorting them
    puts the later dates last, and a later record replaces an earlier one."""
    newest: dict[ArmKey, Path] = {}
    for directory in sorted(records.glob(f"*/{RETURNS}/*/steps*/*")):
        if directory.is_dir() and not directory.name.endswith(PARTIAL):
            newest[arm_key(directory)] = directory
    return newest


def is_finished(directory: Path) -> bool:
    """Every seed its provenance names has a summary (ours: one per population member; SB3:
    one per run dir). An arm without provenance was not started by returns.py: never finished."""
    seeds = read_provenance(directory).get("seeds")
    return bool(seeds) and len(list(directory.rglob(SUMMARY))) >= seeds


def record_arm(directory: Path, records: Path = RECORDS, date: str | None = None) -> Path | None:
    """Record the finished arm at `directory`; returns the record, or None when the newest
    record of this arm already holds this training (the same provenance: the same start, commits
    and seeds). Recording again on one day replaces that day's record."""
    provenance = read_provenance(directory)
    earlier = recorded_arms(records).get(arm_key(directory))
    if earlier is not None and read_provenance(earlier) == provenance:
        return None
    machine = provenance["machine"].split(" + ")[-1]  # an arm continued elsewhere: the last one
    date = date or datetime.date.today().isoformat()
    record = records / f"{date}-{machine}" / RETURNS / Path(*arm_key(directory))
    staging = record.with_name(record.name + PARTIAL)  # a record is whole or absent
    shutil.rmtree(staging, ignore_errors=True)
    for run_dir in find_run_dirs(directory):
        target = staging / run_dir.relative_to(directory)
        target.mkdir(parents=True)
        for name in (SUMMARY, *map(str, CONFIG_FILES)):
            if (run_dir / name).is_file():
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(run_dir / name, target / name)
        (target / "metrics.jsonl").write_text(_eval_rows(run_dir / "metrics.jsonl"))
    (staging / PROVENANCE).write_text(json.dumps(provenance, indent=2) + "\n")
    shutil.rmtree(record, ignore_errors=True)
    staging.rename(record)
    return record


def record_finished(root: Path, records: Path = RECORDS) -> list[Path]:
    """Record every finished arm under root not recorded yet (trained before `train` recorded
    arms, or by a `train` that was stopped after the last seed)."""
    finished = [d for d in sorted(root.glob("*/steps*/*")) if d.is_dir() and is_finished(d)]
    return [record for d in finished if (record := record_arm(d, records)) is not None]


def _eval_rows(metrics: Path) -> str:
    """The metrics.jsonl lines that hold an eval (the page draws nothing else): ~10 lines of a
    run's thousands of episode and update rows."""
    with metrics.open(encoding="utf-8", errors="replace") as lines:
        return "".join(line for line in lines if f'"{EVAL_KEY}"' in line)
