"""Wall time of one seed sweep under each Hydra launcher, side by side in one invocation:

    python benchmarks/sweep_walltime.py                                # Pendulum-v1, seeds 0-4
    python benchmarks/sweep_walltime.py --env HalfCheetah-v5 --seeds 0 1 2 --launchers basic joblib

Each launcher runs the same `python train.py --multirun env=<env> seed=<seeds>` sweep (W&B off,
no progress bar) into runs/sweep_walltime/<time>/<launcher>/: `basic` runs the jobs one after
another, each with torch's default threads (all cores); `joblib` runs as many at once as there
are cores, each with its share of them (runner/launchers.py). The launchers run `--repeats`
times in ABBA order (the given order, then reversed, ...), so a drift in the machine's speed
hits each alike; `--next-seeds` gives each repeat the seeds after the last repeat's (seeds
0-4, then 5-9: the runs double as a 10-seed sample). The ratio is of the total wall times.
Writes results/<date>-<machine>/results-sweep-walltime.json and RESULTS-sweep-walltime.md:
wall times, their ratio to the first launcher's, each job's env-steps/s and threads, and the
final eval returns (the same seeds learn the same way under any launcher: a check that nothing
else changed).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.perf.machine import RESULTS, machine_info, machine_slug  # noqa: E402
from benchmarks.perf.report import markdown_name  # noqa: E402
from benchmarks.perf.settings import REPO  # noqa: E402

RESULTS_FILE = "results-sweep-walltime.json"

LAUNCHERS = {"basic": [], "joblib": ["hydra/launcher=joblib"], "submitit_local": [
    "hydra/launcher=submitit_local"]}  # fmt: skip


def run_sweep(launcher: str, env: str, seeds: list[int], sweep_dir: Path, extra: list[str]):
    """One sweep through `launcher`: its wall time and each job's summary.json."""
    command = [
        sys.executable, "train.py", "--multirun", f"env={env}",
        f"seed={','.join(map(str, seeds))}", "wandb.mode=disabled", "progress=false",
        f"hydra.sweep.dir={sweep_dir}", *LAUNCHERS[launcher], *extra,
    ]  # fmt: skip
    start = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        tail = result.stderr.strip().splitlines()[-1:] or ["no output"]
        raise SystemExit(f"error: the {launcher} sweep failed: {tail[0]}")
    summaries = [json.loads(p.read_text()) for p in sorted(sweep_dir.glob("*/summary.json"))]
    if len(summaries) != len(seeds):
        raise SystemExit(f"error: the {launcher} sweep wrote {len(summaries)} of {len(seeds)} runs")
    return wall, summaries


def output_dir(machine: dict[str, Any]) -> Path:
    """results/<date>-<machine>/ beside that day's other results; -2, -3, ... once it holds a
    results-sweep-walltime.json, so a later run never overwrites an earlier one."""
    name = f"{machine['date'][:10]}-{machine_slug(machine)}"
    candidates = [RESULTS / name, *(RESULTS / f"{name}-{n}" for n in range(2, 1000))]
    return next(path for path in candidates if not (path / RESULTS_FILE).exists())


def render(results: dict[str, Any]) -> str:
    rows = results["sweeps"]
    first = rows[0]["launcher"]
    base = statistics.median(r["wall_s"] for r in rows if r["launcher"] == first)
    seeds = ", ".join(map(str, results["seeds"]))
    if results.get("next_seeds") and results["repeats"] > 1:
        seeds += f", then the next {len(results['seeds'])} in each further repeat"
    lines = [
        f"# Seed sweep wall time by launcher: {results['env']}, seeds {seeds}",
        "",
        f"`{results['command']}` on {results['machine']['cpu_model']} "
        f"({results['machine']['cpu_count']} cores), {results['machine']['date']}, "
        f"commit {results['machine']['commit']}.",
        "",
        f"| repeat | launcher | wall time (s) | ratio to {first}'s median | job env-steps/s "
        "(median) | torch threads per job | final eval returns (seed order) |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    totals = {name: sum(r["wall_s"] for r in rows if r["launcher"] == name)
              for name in dict.fromkeys(r["launcher"] for r in rows)}  # fmt: skip
    for row in sorted(rows, key=lambda r: r["repeat"]):
        speeds = statistics.median(s["steps_per_second"] for s in row["jobs"])
        threads = sorted({s.get("torch_threads") for s in row["jobs"]}, key=str)
        returns = ", ".join(f"{s['eval_return_mean']:.1f}" for s in row["jobs"])
        lines.append(
            f"| {row['repeat']} | {row['launcher']} | {row['wall_s']:.1f} | "
            f"{row['wall_s'] / base:.2f} | "
            f"{speeds:.0f} | {', '.join(map(str, threads))} | {returns} |"
        )
    lines += ["", "| launcher | total wall time (s) | ratio to " + first + " |", "|---|---:|---:|"]
    lines += [f"| {name} | {total:.1f} | {total / totals[first]:.2f} |"
              for name, total in totals.items()]  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="Pendulum-v1")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--launchers", nargs="+", default=["basic", "joblib"],
                        choices=sorted(LAUNCHERS))  # fmt: skip
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--next-seeds", action="store_true", help="each repeat trains the seeds after the last's"
    )
    parser.add_argument("--runs", type=Path, help="where the sweeps train (default: runs/...)")
    parser.add_argument("--output", type=Path, help="results folder (default: results/<date>-…)")
    parser.add_argument("--render", type=Path, help="rewrite the report of a results JSON")
    parser.add_argument("overrides", nargs="*", help="train.py overrides for every job")
    args = parser.parse_args(argv)
    if args.render is not None:
        report = render(json.loads(args.render.read_text()))
        args.render.with_name(markdown_name(args.render.name)).write_text(report)
        print(report)
        return 0
    runs = args.runs or REPO / "runs" / "sweep_walltime" / time.strftime("%Y-%m-%d_%H-%M-%S")
    machine = machine_info(threads=os.cpu_count() or 1)  # before: the commit that was measured
    sweeps = []
    for repeat in range(args.repeats):
        order = args.launchers if repeat % 2 == 0 else args.launchers[::-1]
        shift = repeat * len(args.seeds) if args.next_seeds else 0
        seeds = [seed + shift for seed in args.seeds]
        for launcher in order:
            sweep_dir = runs / f"{launcher}-{repeat}"
            wall, jobs = run_sweep(launcher, args.env, seeds, sweep_dir, args.overrides)
            print(f"{launcher}: {wall:.1f} s for {len(jobs)} runs", file=sys.stderr)
            sweeps.append({"launcher": launcher, "repeat": repeat, "wall_s": wall, "jobs": jobs,
                           "sweep_dir": str(sweep_dir)})  # fmt: skip
    results = {
        "env": args.env,
        "seeds": args.seeds,
        "overrides": args.overrides,
        "repeats": args.repeats,
        "next_seeds": args.next_seeds,
        "command": " ".join(["python benchmarks/sweep_walltime.py", *(argv or sys.argv[1:])]),
        "machine": machine,
        "sweeps": sweeps,
    }
    output = args.output or output_dir(results["machine"])
    output.mkdir(parents=True, exist_ok=True)
    (output / RESULTS_FILE).write_text(json.dumps(results, indent=2) + "\n")
    report = render(results)
    (output / markdown_name(RESULTS_FILE)).write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
