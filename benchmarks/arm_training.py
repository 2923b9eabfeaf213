"""Training one arm of the results page (benchmarks/returns.py `train`) or every arm of its plan
(`plan`): what is refused before anything starts, the command that trains it (ours as a
population per process, SB3 through benchmarks/sb3_runs.py), resuming an interrupted arm, the
provenance file that names the commit, machine and command behind it, and recording the arm
in the repository once it has finished (benchmarks/arm_records.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from analysis import AggregateError
from analysis.runs import RunLog, load_runs
from benchmarks.arm_records import PROVENANCE, RECORDS, arm_key, record_arm, recorded_arms
from benchmarks.arms import (
    REPO,
    ArmSpec,
    ResultsError,
    arm_dir,
    arm_overrides,
    check_levers,
    compose,
    expected_settings,
    run_settings,
    setting_differences,
)
from benchmarks.perf.machine import code_commit, machine_info, machine_slug
from benchmarks.plan import read_plan


def _run(command: list[str]) -> None:
    print("+ " + " ".join(command), flush=True)
    if subprocess.run(command, cwd=REPO).returncode != 0:
        raise ResultsError(f"the command above failed: {command[1]} {command[-1]}")


def train(spec: ArmSpec, root: Path | None = None, records: Path = RECORDS) -> Path:
    """Train the arm's seeds, resuming an interrupted one, into its arm dir, and record it."""
    directory, overrides = check_arm(spec, root)
    if finished_seeds(directory, spec) == spec.seeds:
        record_arm(directory, records)  # a no-op where it is recorded already
        return directory
    if recorded_seeds(spec, directory, records) == spec.seeds and not directory.exists():
        return directory  # finished on another clone: its record is the arm
    directory.mkdir(parents=True, exist_ok=True)
    if spec.library == "ours":
        command = ours_command(spec, overrides, directory)
    else:
        missing = [s for s in range(spec.seeds) if not _sb3_finished(directory, spec.env, s)]
        command = [
            sys.executable, "benchmarks/sb3_runs.py", "--env", spec.env,
            "--total-steps", str(spec.steps), "--jobs", str(spec.jobs), "--out", str(directory),
            *overrides, "--seeds", *(str(s) for s in missing),
        ]  # fmt: skip
    _record_provenance(directory, command, spec.seeds, spec.jobs)
    _run(command)
    if finished_seeds(directory, spec) == spec.seeds:
        record_arm(directory, records)
    return directory


def check_arm(spec: ArmSpec, root: Path | None = None) -> tuple[Path, list[str]]:
    """What `train` refuses before anything starts: a bad split, env, arm or lever, and an arm
    dir whose runs have other settings. Returns the arm dir (not created) and its overrides."""
    if spec.seeds < 1 or spec.jobs < 1 or spec.seeds % spec.jobs:
        raise ResultsError(
            f"--seeds {spec.seeds} must be a positive multiple of --jobs {spec.jobs}"
        )
    overrides = [*arm_overrides(spec.env, spec.arm), *check_levers(spec.levers)]
    compose(spec.env, [f"total_steps={spec.steps}", *overrides])  # a typo stops here
    directory = arm_dir(spec.env, spec.steps, spec.arm, root, spec.levers)
    if directory.exists():
        _refuse_other_settings(spec, directory)
        if spec.library == "ours":
            _refuse_other_split(directory, spec.seeds, spec.jobs)
    return directory, overrides


def finished_seeds(directory: Path, spec: ArmSpec) -> int:
    """How many of the arm's seeds have their summary (ours: one per population member)."""
    if spec.library == "ours":
        return min(len(list(directory.rglob("summary.json"))), spec.seeds)
    return sum(_sb3_finished(directory, spec.env, seed) for seed in range(spec.seeds))


def recorded_seeds(spec: ArmSpec, directory: Path, records: Path = RECORDS) -> int:
    """How many of the arm's seeds its newest record holds finished at the arm's settings of
    today (a record of settings since changed does not count: the arm trains again)."""
    record = recorded_arms(records).get(arm_key(directory))
    if record is None:
        return 0
    expected = expected_settings(spec.env, spec.steps, spec.arm, spec.levers)
    runs = _arm_runs(record, spec)
    matching = [run for run in runs if run.finished and run_settings(run.config) == expected]
    return min(len(matching), spec.seeds)


def plan(path: Path, root: Path | None, list_only: bool, records: Path = RECORDS) -> None:
    """Check every arm of the plan file, then train the unfinished ones in its order (or, with
    `list_only`, say where each stands)."""
    specs = []
    for line, spec in read_plan(path):
        where = f"{path.name}:{line}"
        try:
            directory, _ = check_arm(spec, root)
        except ResultsError as error:
            raise ResultsError(f"{where}: {error}") from None
        finished = finished_seeds(directory, spec)
        done = finished == spec.seeds
        state = "done" if done else f"{finished} of {spec.seeds} seeds finished"
        if not done and not directory.exists():
            done = recorded_seeds(spec, directory, records) == spec.seeds
            state = "done (recorded)" if done else state
        if 0 < (reached := _evaluated_to(directory, spec)) < spec.steps:
            state += f", evaluated to {reached:,} of {spec.steps:,} steps"
        print(f"{where}: {directory.relative_to(directory.parents[2])}: {state}", flush=True)
        specs.append(spec)
    if not list_only:
        for spec in specs:
            train(spec, root, records)


def _evaluated_to(directory: Path, spec: ArmSpec) -> int:
    """The env step every run of an unfinished arm has been evaluated at (0: none yet)."""
    try:
        runs = _arm_runs(directory, spec)
    except AggregateError:  # no run dir yet, or one without an eval
        return 0
    return min(int(run.steps[-1]) for run in runs) if runs else 0


def _arm_runs(directory: Path, spec: ArmSpec) -> list[RunLog]:
    return load_runs([directory]) if spec.library == "ours" else load_runs([], [directory])


def ours_command(spec: ArmSpec, overrides: Sequence[str], directory: Path) -> list[str]:
    """train.py as `jobs` processes of one population each, seeds 0..seeds-1 between them."""
    env, seeds, steps, jobs = spec.env, spec.seeds, spec.steps, spec.jobs
    per_job = seeds // jobs
    # Quoted: a lever's arm dir has '=' in its name, which Hydra reads as syntax otherwise.
    quoted_dir = str(directory).replace("'", "\\'")
    return [
        sys.executable, "train.py", "-m", "hydra/launcher=joblib",
        f"hydra.launcher.n_jobs={jobs}", f"env={env}", f"population={per_job}",
        "seed=" + ",".join(str(s) for s in range(0, seeds, per_job)),
        f"total_steps={steps}", *overrides, "resume=auto", "wandb.mode=disabled",
        # a checkpoint every tenth of the budget: an interrupted arm loses little
        f"checkpoint.every={max(steps // 10, 1)}",
        "progress=false", f"hydra.sweep.dir='{quoted_dir}'",
    ]  # fmt: skip


def _refuse_other_split(directory: Path, seeds: int, jobs: int) -> None:
    """Continuing an arm of ours needs its seeds split as they were: each process's run dir
    holds one population, and resume=auto refuses a dir whose population or first seed changed.
    (SB3 arms run one seed per run dir: any --seeds and --jobs continue them.)"""
    path = directory / PROVENANCE
    earlier = json.loads(path.read_text()) if path.exists() else {}
    if earlier.get("seeds", seeds) != seeds or earlier.get("jobs", jobs) != jobs:
        raise ResultsError(
            f"{directory} was started with --seeds {earlier['seeds']} --jobs {earlier['jobs']}: "
            "continue it with those, or move it aside to train the arm again"
        )


def _record_provenance(directory: Path, command: list[str], seeds: int, jobs: int) -> None:
    """The commit, machine and command that start the arm, written before it trains (an
    interrupted arm keeps them); an arm continued at another commit or machine names both."""
    machine = machine_info(threads=1)
    provenance = {"commit": code_commit() or "unknown", "machine": machine_slug(machine),
                  "date": machine["date"], "command": command[1:], "seeds": seeds,
                  "jobs": jobs}  # fmt: skip
    path = directory / PROVENANCE
    if path.exists():
        earlier = json.loads(path.read_text())
        for key in ("commit", "machine"):
            if provenance[key] not in earlier[key].split(" + "):
                provenance[key] = f"{earlier[key]} + {provenance[key]}"
        # when and how the arm started (a continuation's SB3 command lists only missing seeds)
        provenance["date"], provenance["command"] = earlier["date"], earlier["command"]
    path.write_text(json.dumps(provenance, indent=2) + "\n")


def _sb3_finished(directory: Path, env: str, seed: int) -> bool:
    return (directory / f"{env.replace('/', '-')}_seed{seed}" / "summary.json").exists()


def _refuse_other_settings(spec: ArmSpec, directory: Path) -> None:
    """An arm dir holds the runs of one meaning of the arm; resume=auto would refuse each stale
    run anyway, but only after the others had started."""
    if not any(directory.iterdir()):
        return
    expected = expected_settings(spec.env, spec.steps, spec.arm, spec.levers)
    for run in _arm_runs(directory, spec):
        differ = setting_differences(run_settings(run.config), expected)
        if differ:
            raise ResultsError(
                f"{run.path} was trained with other settings than arm {spec.arm} has now "
                f"({'; '.join(differ[:3])}): move {directory} aside to train the arm again"
            )
