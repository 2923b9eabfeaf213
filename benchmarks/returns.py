"""The results table (docs/results.md) and its learning-curve figures, from runs this script
trains, drawn and estimated by aggregate.py's analysis (IQM with rliable's 95 % bootstrap CIs):

    python benchmarks/returns.py train Hopper-v5 --seeds 6 --steps 100000             # ours
    python benchmarks/returns.py train Hopper-v5 --seeds 6 --steps 100000 --arm sb3-paper
    python benchmarks/returns.py table                   # docs/results.md, docs/figures/results-*

Each env is trained in up to four arms, into runs/results/<env>/steps<budget>/<arm>/:

  ours        the env file's config (configs/env/<env>.yaml): what `train.py env=<env>` trains
  paper       the env file with the agent settings it changes set back to the SAC paper's
              (configs/agent/sac.yaml); only for env files that change some
  sb3         Stable-Baselines3's SAC (benchmarks/sb3_runs.py) at the settings of `ours`
  sb3-paper   the same at the settings of `paper`: the parity check of our implementation

`--set KEY=VALUE` (repeatable) trains an arm with a lever on top, e.g. `--set agent.n_step=3`,
into its own dir (`ours+agent.n_step=3`); the table shows it beside the arm it changes.

Ours trains as one population per core (`train.py -m hydra/launcher=joblib population=P`, seeds
0..N-1 split between `--jobs` processes of one torch thread), SB3 as `--jobs` runs at once.
`train` is resumable: run it again, with the same --seeds and --jobs, after an interruption and
it continues (resume=auto; SB3 seeds without a summary start over). It refuses an arm dir whose
runs were trained with other settings than the arm has now (the env file changed since): move
that dir aside to train the arm again. Each arm dir gets provenance.json: the commit, machine and
command that started it, and any later commit that continued it; the table names them.

`table` reads every arm, leaves out (with a note) runs whose saved settings differ from what
their arm means today, and writes the table between the markers of docs/results.md (the rest of
the page is kept) and one figure of IQM curves per env family. An arm still short of its budget
is marked "in progress". Never run by CI (hours); tests/test_returns_table.py runs it at toy
size.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: analysis/, configs/ and runner/ from the repo
    sys.path.insert(0, str(REPO))

from analysis import AggregateError  # noqa: E402
from analysis.figures import curves_png  # noqa: E402
from analysis.groups import group_runs  # noqa: E402
from analysis.results import ConfigResult, config_results  # noqa: E402
from analysis.runs import load_runs  # noqa: E402
from benchmarks.arms import (  # noqa: E402
    ARMS,
    RUNS,
    ResultsError,
    arm_dir,
    arm_overrides,
    check_levers,
    compose,
    env_budget,
    expected_settings,
    parse_arm_name,
    run_settings,
    setting_differences,
)
from benchmarks.perf.machine import code_commit, machine_info, machine_slug  # noqa: E402
from benchmarks.references import (  # noqa: E402
    REFERENCES,
    SOURCES,
    reference_cell,
    reference_point,
)

PAGE = REPO / "docs" / "results.md"
FIGURES = REPO / "docs" / "figures"
BEGIN, END = "<!-- returns table: begin -->", "<!-- returns table: end -->"
PROVENANCE = "provenance.json"

FAMILIES = {  # figure name -> envs, in table order; dm_control/* and the rest by prefix below
    "classic-control": ("Pendulum-v1", "MountainCarContinuous-v0"),
    "box2d": ("LunarLanderContinuous-v3", "BipedalWalker-v3"),
}


def _run(command: list[str]) -> None:
    print("+ " + " ".join(command), flush=True)
    if subprocess.run(command, cwd=REPO).returncode != 0:
        raise ResultsError(f"the command above failed: {command[1]} {command[-1]}")


def train(
    env: str,
    arm: str,
    seeds: int,
    steps: int,
    jobs: int = 2,
    root: Path | None = None,
    levers: Sequence[str] = (),
) -> Path:
    """Train seeds 0..seeds-1 of one arm, with `levers` on top (Hydra overrides), resuming an
    interrupted one, into its arm dir."""
    if seeds < 1 or jobs < 1 or seeds % jobs:
        raise ResultsError(f"--seeds {seeds} must be a positive multiple of --jobs {jobs}")
    overrides = [*arm_overrides(env, arm), *check_levers(levers)]
    compose(env, [f"total_steps={steps}", *overrides])  # a typo stops here, before any file
    directory = arm_dir(env, steps, arm, root, levers)
    directory.mkdir(parents=True, exist_ok=True)
    _refuse_other_settings(env, steps, arm, directory, levers)
    if ARMS[arm][1] == "ours":
        _refuse_other_split(directory, seeds, jobs)
        if len(list(directory.rglob("summary.json"))) >= seeds:
            return directory  # every member finished
        command = ours_command(env, seeds, steps, jobs, overrides, directory)
    else:
        missing = [s for s in range(seeds) if not _sb3_finished(directory, env, s)]
        command = [
            sys.executable, "benchmarks/sb3_runs.py", "--env", env, "--total-steps", str(steps),
            "--jobs", str(jobs), "--out", str(directory), *overrides,
            "--seeds", *(str(s) for s in missing),
        ]  # fmt: skip
        if not missing:
            return directory
    _record_provenance(directory, command, seeds, jobs)
    _run(command)
    return directory


def ours_command(
    env: str, seeds: int, steps: int, jobs: int, overrides: Sequence[str], directory: Path
) -> list[str]:
    """train.py as `jobs` processes of one population each, seeds 0..seeds-1 between them."""
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


def family(env: str) -> str:
    for name, envs in FAMILIES.items():
        if env in envs:
            return name
    return "dm-control" if env.startswith("dm_control/") else "mujoco"


def _refuse_other_settings(
    env: str, steps: int, arm: str, directory: Path, levers: Sequence[str] = ()
) -> None:
    """An arm dir holds the runs of one meaning of the arm; resume=auto would refuse each stale
    run anyway, but only after the others had started."""
    if not any(directory.iterdir()):
        return
    library = ARMS[arm][1]
    runs = load_runs([directory]) if library == "ours" else load_runs([], [directory])
    expected = expected_settings(env, steps, arm, levers)
    for run in runs:
        differ = setting_differences(run_settings(run.config), expected)
        if differ:
            raise ResultsError(
                f"{run.path} was trained with other settings than arm {arm} has now "
                f"({'; '.join(differ[:3])}): move {directory} aside to train the arm again"
            )


def _arm_result(
    env: str, steps: int, directory: Path, reps: int, notes: list[str]
) -> ConfigResult | None:
    """The arm's runs as one config of aggregate.py's analysis, or None (with a note)."""
    arm, levers = parse_arm_name(directory.name)
    label, library, _ = ARMS[arm]
    label = " + ".join([label, *levers])
    runs = load_runs([directory]) if library == "ours" else load_runs([], [directory])
    try:
        expected = expected_settings(env, steps, arm, check_levers(levers))
    except ResultsError as error:
        notes.append(f"{env} {directory.name}: left out: {error}")
        return None
    kept = [run for run in runs if run_settings(run.config) == expected]
    if len(kept) < len(runs):
        notes.append(
            f"{env} {directory.name}: {len(runs) - len(kept)} of {len(runs)} runs left out: "
            "trained with other settings than the arm has now (move the arm dir aside and "
            "train it again)"
        )
    if not kept:
        return None
    (config,) = group_runs(kept, [])
    config = dataclasses.replace(config, label=label)
    return config_results([config], reps, seed=0)[0]


def collect(root: Path | None = None, reps: int = 2000) -> tuple[list[dict], list[str]]:
    """Every arm under root as a table row: its result, budget and provenance."""
    root = root or RUNS
    rows, notes = [], []
    for directory in sorted(root.glob("*/steps*/*")):
        (arm, levers), steps_dir = parse_arm_name(directory.name), directory.parent.name
        if arm not in ARMS or not directory.is_dir():
            continue
        try:
            env = load_runs([directory], [])[0].env_id
        except AggregateError as error:
            notes.append(f"{directory}: {error}")
            continue
        steps = int(steps_dir.removeprefix("steps"))
        result = _arm_result(env, steps, directory, reps, notes)
        if result is None:
            continue
        provenance_file = directory / PROVENANCE
        provenance = json.loads(provenance_file.read_text()) if provenance_file.exists() else {}
        rows.append({"env": env, "steps": steps, "arm": arm, "levers": levers,
                     "result": result, "provenance": provenance})  # fmt: skip
    order = {env: i for i, env in enumerate(REFERENCES)}
    rows.sort(key=lambda r: (order.get(r["env"], len(order)), r["env"], r["steps"],
                             list(ARMS).index(r["arm"]), r["levers"]))  # fmt: skip
    return rows, notes


def _interval(estimate: Any) -> str:
    return f"{estimate.point:.1f} [{estimate.low:.1f}, {estimate.high:.1f}]"


def render(rows: list[dict], notes: Sequence[str] = (), reps: int = 2000) -> str:
    lines = [
        BEGIN,
        "Generated by `python benchmarks/returns.py table`. Final deterministic eval return "
        "(10 episodes) of each run at the budget; IQM over runs with its 95 % stratified "
        f"bootstrap CI (rliable, {reps} resamples, as `aggregate.py`), mean ± sample std. Each "
        "row names the commit and machine its runs were trained on. The figures draw IQM "
        "curves with their 95 % bands, and the published reference as a black diamond "
        "(mean ± std) where it is a figure at a budget the curves reach.",
        "",
        "| env | budget | arm | runs (seeds) | IQM [95 % CI] | mean ± std | trained at "
        "| published SAC reference |",
        "|---|---:|---|---:|---:|---:|---|---|",
    ]
    for row in rows:
        result: ConfigResult = row["result"]
        config, final = result.config, result.final
        seeds = sorted(s for s in config.seeds if s is not None)
        span = f"{seeds[0]}–{seeds[-1]}" if seeds else "?"
        std = f" ± {final.std:.1f}" if final.std is not None and len(config.runs) > 1 else ""
        where = row["provenance"]
        trained = f"{where.get('commit', '?')}, {where.get('machine', '?')}" if where else "?"
        plain_ours = row["arm"] == "ours" and not row.get("levers")
        reference = reference_cell(row["env"], row["steps"]) if plain_ours else ""
        budget = f"{row['steps']:,}"
        if config.final_step < row["steps"]:
            budget = f"in progress: {config.final_step:,} of {row['steps']:,}"
        lines.append(
            f"| {row['env']} | {budget} | {config.label} | {len(config.runs)} ({span}) | "
            f"**{_interval(final.iqm)}** | {final.mean.point:.1f}{std} | {trained} | "
            f"{reference} |"
        )
    figures = sorted({family(row["env"]) for row in rows})
    lines += ["", *(f"![{name}](figures/results-{name}.png)" for name in figures), ""]
    lines += [f"[{key}] {text}  " for key, text in SOURCES.items()]
    if notes:
        lines += ["", *(f"Note: {note}  " for note in notes)]
    lines.append(END)
    return "\n".join(lines)


def write_figures(rows: list[dict], directory: Path) -> list[Path]:
    written = []
    for name in sorted({family(row["env"]) for row in rows}):
        results = [row["result"] for row in rows if family(row["env"]) == name]
        path = directory / f"results-{name}.png"
        directory.mkdir(parents=True, exist_ok=True)
        references = {row["env"]: reference_point(row["env"]) for row in rows}
        drawn = {env: point for env, point in references.items() if point is not None}
        path.write_bytes(curves_png(results, drawn))
        written.append(path)
    return written


def write_table(table: str, output: Path) -> None:
    """Replace the generated section of `output` (or append it), keeping everything else."""
    text = output.read_text(encoding="utf-8") if output.exists() else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + table + rest.split(END, 1)[1]
    else:
        text = (text.rstrip() + "\n\n" if text else "") + table + "\n"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    train_parser = commands.add_parser("train", help="train one arm of one env")
    train_parser.add_argument("env", help="a config of configs/env/, e.g. Hopper-v5")
    train_parser.add_argument("--arm", default="ours", choices=list(ARMS))
    train_parser.add_argument("--seeds", type=int, default=6, help="seeds 0..N-1 (6)")
    train_parser.add_argument("--steps", type=int, help="budget (default: the env file's)")
    train_parser.add_argument("--jobs", type=int, default=2, help="processes at once (2)")
    train_parser.add_argument(
        "--set", dest="levers", action="append", default=[], metavar="KEY=VALUE",
        help="a lever on top of the arm (repeatable), e.g. agent.n_step=3",
    )  # fmt: skip
    table_parser = commands.add_parser("table", help="write the table and figures")
    table_parser.add_argument("--reps", type=int, default=2000, help="bootstrap resamples")
    for sub in (train_parser, table_parser):
        sub.add_argument("--runs", type=Path, default=RUNS, help="root of the arm dirs")
    table_parser.add_argument("--output", type=Path, default=PAGE)
    table_parser.add_argument("--figures", type=Path, default=FIGURES)
    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            steps = args.steps or env_budget(args.env)
            train(args.env, args.arm, args.seeds, steps, args.jobs, args.runs, args.levers)
            return 0
        rows, notes = collect(args.runs, args.reps)
        if not rows:
            raise ResultsError(f"no finished arm under {args.runs}")
        table = render(rows, notes, args.reps)
        written = write_figures(rows, args.figures)
        write_table(table, args.output)
    except (ResultsError, AggregateError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(table)
    for path in [*written, args.output]:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
