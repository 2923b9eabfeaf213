"""The results table (docs/results.md) and its learning-curve figures, from runs this script
trains, drawn and estimated by aggregate.py's analysis (IQM with rliable's 95 % bootstrap CIs):

    python benchmarks/returns.py train Hopper-v5 --seeds 6 --steps 100000             # ours
    python benchmarks/returns.py train Hopper-v5 --seeds 6 --steps 100000 --arm sb3-paper
    python benchmarks/returns.py table                   # docs/results.md, docs/figures/results-*
    python benchmarks/returns.py plan                    # every arm of the page, then the table

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

`plan` trains every unfinished arm of benchmarks/results_plan.txt (one line of `train`
arguments per arm), in its order, then writes the table; `plan --list` says where each stands
(benchmarks/arm_training.py trains, benchmarks/plan.py reads the file).

A finished arm is recorded in the repository (benchmarks/arm_records.py: each run's config,
summary and eval rows under benchmarks/results/<date>-<machine>/returns/), and the page is drawn
from the records: commit them, and any clone draws the same page. `table` records what has
finished, reads every arm (its newest record, else its arm dir under runs/ while it trains),
leaves out (with a note) runs whose saved settings differ from what their arm means today, and
writes the table between the markers of docs/results.md (the rest of the page is kept) and one
figure of IQM curves per env family. An arm still short of its budget is marked "in progress".
Never run by CI (hours); tests/test_returns_table.py runs it at toy size.
"""

from __future__ import annotations

import argparse
import dataclasses
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
from benchmarks.arm_records import (  # noqa: E402
    RECORDS,
    arm_key,
    read_provenance,
    record_finished,
    recorded_arms,
)
from benchmarks.arm_training import plan, train  # noqa: E402
from benchmarks.arms import (  # noqa: E402
    ARMS,
    RUNS,
    ResultsError,
    expected_settings,
    parse_arm_name,
    run_settings,
)
from benchmarks.plan import PLAN, add_arm_arguments, arm_spec  # noqa: E402
from benchmarks.references import (  # noqa: E402
    REFERENCES,
    SOURCES,
    reference_cell,
    reference_point,
)

PAGE = REPO / "docs" / "results.md"
FIGURES = REPO / "docs" / "figures"
BEGIN, END = "<!-- returns table: begin -->", "<!-- returns table: end -->"

FAMILIES = {  # figure name -> envs, in table order; dm_control/* and the rest by prefix below
    "classic-control": ("Pendulum-v1", "MountainCarContinuous-v0"),
    "box2d": ("LunarLanderContinuous-v3", "BipedalWalker-v3"),
}


def family(env: str) -> str:
    for name, envs in FAMILIES.items():
        if env in envs:
            return name
    return "dm-control" if env.startswith("dm_control/") else "mujoco"


def _arm_result(
    env: str, steps: int, directory: Path, reps: int, notes: list[str]
) -> ConfigResult | None:
    """The arm's runs as one config of aggregate.py's analysis, or None (with a note)."""
    arm, levers = parse_arm_name(directory.name)
    label, library, _ = ARMS[arm]
    label = " + ".join([label, *levers])
    runs = load_runs([directory]) if library == "ours" else load_runs([], [directory])
    try:
        expected = expected_settings(env, steps, arm, levers)
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


def arm_dirs(root: Path, records: Path = RECORDS) -> tuple[list[Path], list[str]]:
    """The dir each arm is drawn from: its newest record, else its arm dir under root (an arm
    still training). An arm training again beside its record is drawn from the record, with a
    note."""
    live = {arm_key(d): d for d in sorted(root.glob("*/steps*/*")) if d.is_dir()}
    recorded = recorded_arms(records)
    notes = [
        f"{'/'.join(key)}: trained again under {root}, not finished: the row is its record "
        f"in {recorded[key].parents[3].name}"
        for key, directory in live.items()
        if key in recorded and read_provenance(directory) != read_provenance(recorded[key])
    ]
    return [path for _, path in sorted({**live, **recorded}.items())], notes


def collect(
    root: Path | None = None, reps: int = 2000, records: Path = RECORDS
) -> tuple[list[dict], list[str]]:
    """Every arm, recorded or under root, as a table row: its result, budget and provenance."""
    directories, notes = arm_dirs(root or RUNS, records)
    rows = []
    for directory in directories:
        (arm, levers), steps_dir = parse_arm_name(directory.name), directory.parent.name
        if arm not in ARMS:
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
        provenance = read_provenance(directory)
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
    if parity_rows(rows):
        lines += ["Ours and SB3 at equal settings, side by side (implementation parity):", "",
                  "![parity](figures/results-parity.png)", ""]  # fmt: skip
    lines += [f"[{key}] {text}  " for key, text in SOURCES.items()]
    if notes:
        lines += ["", *(f"Note: {note}  " for note in notes)]
    lines.append(END)
    return "\n".join(lines)


def parity_rows(rows: list[dict]) -> list[dict]:
    """The rows of ours and SB3 trained at the same settings on the same env and budget (`ours`
    with `sb3`, `paper` with `sb3-paper`), both present; levers have no SB3 twin."""

    def settings(row: dict) -> tuple:
        return row["env"], row["steps"], ARMS[row["arm"]][2]

    plain = [row for row in rows if not row["levers"]]
    libraries: dict[tuple, set[str]] = {}
    for row in plain:
        libraries.setdefault(settings(row), set()).add(ARMS[row["arm"]][1])
    return [row for row in plain if libraries[settings(row)] == {"ours", "sb3"}]


def write_figures(rows: list[dict], directory: Path) -> list[Path]:
    """One figure of IQM curves per env family, with the published references, and one of the
    parity pairs alone."""
    directory.mkdir(parents=True, exist_ok=True)
    references = {row["env"]: reference_point(row["env"]) for row in rows}
    drawn = {env: point for env, point in references.items() if point is not None}
    figures = {
        f"results-{name}.png": ([row for row in rows if family(row["env"]) == name], drawn)
        for name in sorted({family(row["env"]) for row in rows})
    }
    if parity_rows(rows):
        figures["results-parity.png"] = (parity_rows(rows), {})
    written = []
    for name, (shown, points) in figures.items():
        path = directory / name
        path.write_bytes(curves_png([row["result"] for row in shown], points))
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
    add_arm_arguments(train_parser)
    plan_parser = commands.add_parser(
        "plan", help="train every unfinished arm of the plan file, then write the table"
    )
    plan_parser.add_argument("file", nargs="?", type=Path, default=PLAN, help=f"({PLAN.name})")
    plan_parser.add_argument(
        "--list", action="store_true", help="say where each arm stands; train nothing"
    )
    table_parser = commands.add_parser("table", help="write the table and figures")
    for sub in (train_parser, plan_parser, table_parser):
        sub.add_argument("--runs", type=Path, default=RUNS, help="root of the arm dirs")
        sub.add_argument(
            "--records", type=Path, default=RECORDS,
            help="where finished arms are recorded (benchmarks/results)",
        )  # fmt: skip
    for sub in (plan_parser, table_parser):
        sub.add_argument("--reps", type=int, default=2000, help="bootstrap resamples")
        sub.add_argument("--output", type=Path, default=PAGE)
        sub.add_argument("--figures", type=Path, default=FIGURES)
    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            train(arm_spec(args), args.runs, args.records)
            return 0
        if args.command == "plan":
            plan(args.file, args.runs, args.list, args.records)
            if args.list:
                return 0
        recorded = record_finished(args.runs, args.records)
        rows, notes = collect(args.runs, args.reps, args.records)
        if not rows:
            raise ResultsError(f"no arm under {args.runs} or {args.records}")
        table = render(rows, notes, args.reps)
        written = write_figures(rows, args.figures)
        write_table(table, args.output)
    except (ResultsError, AggregateError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(table)
    for path in [*recorded, *written, args.output]:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
