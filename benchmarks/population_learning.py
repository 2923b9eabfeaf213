"""Do a population's members learn as separate runs do? K members of one `population=K` run
against K separate runs with the same seeds, same config, on one machine.

    python benchmarks/population_learning.py                 # Pendulum-v1, K = 10, its defaults
    python benchmarks/population_learning.py --members 4 --total-steps 2000 --env Pendulum-v1

The population runs in one process on all cores; the separate runs run as many at once as there
are cores, one thread each. Their final evaluation returns (summary.json) are compared with a
two-sided Mann-Whitney U test, and the solved count (final return >= --solved) taken for each;
aggregate.py draws both, as two configs (`--by env,population`). Run dirs go to --runs (not kept
in the repo); the report (population-learning-<env>.json and .md, and aggregate.py's figures and
table in population-learning-<env>/) to --output.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.perf.machine import RESULTS, machine_info, machine_slug  # noqa: E402


def train(run_dir: Path, threads: int, overrides: list[str]) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    command = [sys.executable, "train.py", f"hydra.run.dir={run_dir}", f"torch_threads={threads}",
               "wandb.mode=disabled", "progress=false", *overrides]  # fmt: skip
    return subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def wait(proc: subprocess.Popen) -> None:
    _, stderr = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"train.py failed (exit {proc.returncode}):\n{stderr[-3000:]}")


def finals(run_dirs: list[Path]) -> list[float]:
    return [json.loads((d / "summary.json").read_text())["eval_return_mean"] for d in run_dirs]


def compare(args: argparse.Namespace) -> dict[str, Any]:
    """Train both arrangements (skipping what finished), then compare their final returns."""
    from scipy.stats import mannwhitneyu

    base = [f"env={args.env}", f"seed={args.seed}", *args.overrides]
    if args.total_steps:
        base.append(f"total_steps={args.total_steps}")
    population_dir = args.runs / "population"
    members = [population_dir / f"member-{k}" for k in range(args.members)]
    start = time.perf_counter()
    if not (population_dir / "population.json").is_file():
        shutil.rmtree(population_dir, ignore_errors=True)
        wait(train(population_dir, args.cores, [*base, f"population={args.members}"]))
    population_s = time.perf_counter() - start
    separate = [args.runs / "separate" / f"seed-{args.seed + k}" for k in range(args.members)]
    start = time.perf_counter()
    todo = [d for d in separate if not (d / "summary.json").is_file()]
    for first in range(0, len(todo), args.cores):
        batch = todo[first : first + args.cores]
        for folder in batch:
            shutil.rmtree(folder, ignore_errors=True)
        procs = [
            train(d, 1, [*base, f"seed={args.seed + separate.index(d)}"]) for d in batch
        ]  # a later seed= overrides base's
        for proc in procs:
            wait(proc)
    separate_s = time.perf_counter() - start
    ours, theirs = finals(members), finals(separate)
    test = mannwhitneyu(ours, theirs, alternative="two-sided")
    return {
        "env_id": args.env,
        "members": args.members,
        "seeds": [args.seed + k for k in range(args.members)],
        "overrides": base,
        "population_returns": ours,
        "separate_returns": theirs,
        "population_solved": sum(r >= args.solved for r in ours),
        "separate_solved": sum(r >= args.solved for r in theirs),
        "solved_threshold": args.solved,
        "mann_whitney_u": float(test.statistic),
        "mann_whitney_p": float(test.pvalue),
        "population_wall_s": population_s,
        "separate_wall_s": separate_s,
    }


def render(result: dict[str, Any], machine: dict[str, Any]) -> str:
    def row(name: str, returns: list[float], solved: int, wall: float) -> str:
        mean = sum(returns) / len(returns)
        listed = ", ".join(f"{r:.1f}" for r in returns)
        return f"| {name} | {mean:.1f} | {solved}/{len(returns)} | {wall:.0f} s | {listed} |"

    return "\n".join([
        f"# Population members against separate runs: {result['env_id']}",
        "",
        f"Commit {machine['commit']}, {machine['cpu_model']} ({machine['cpu_count']} cores), "
        f"{machine['date']}. Settings: `{' '.join(result['overrides'])}`; seeds "
        f"{result['seeds'][0]}-{result['seeds'][-1]}. Final evaluation return of each run "
        "(summary.json); the population on all cores, the separate runs as many at once as "
        "there are cores, one thread each.",
        "",
        f"| arrangement | mean | solved (>= {result['solved_threshold']:g}) | wall time | "
        "final returns |",
        "|---|---:|---:|---:|---|",
        row("population", result["population_returns"], result["population_solved"],
            result["population_wall_s"]),
        row("separate runs", result["separate_returns"], result["separate_solved"],
            result["separate_wall_s"]),
        "",
        f"Mann-Whitney U = {result['mann_whitney_u']:.1f}, two-sided p = "
        f"{result['mann_whitney_p']:.3f}.",
        "",
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", default="Pendulum-v1")
    p.add_argument("--members", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--total-steps", type=int, help="default: the env config's budget")
    p.add_argument("--solved", type=float, default=-200.0, help="solved at this final return")
    p.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    p.add_argument("--runs", type=Path, default=REPO / "runs" / "population-learning")
    p.add_argument("--output", "--out", type=Path)
    p.add_argument("--reps", type=int, default=2000, help="aggregate.py's bootstrap resamples")
    p.add_argument("overrides", nargs="*", help="more train.py overrides for both")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    if args.members < 2:
        p.error("--members must be >= 2 (a comparison needs several runs a side)")
    machine = machine_info(args.cores)
    out = args.output or RESULTS / f"{machine['date'][:10]}-{machine_slug(machine)}"
    result = compare(args)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"population-learning-{args.env}"
    (out / f"{stem}.json").write_text(json.dumps(result | {"machine": machine}, indent=2) + "\n")
    (out / f"{stem}.md").write_text(render(result, machine))
    subprocess.run(
        [sys.executable, "aggregate.py", str(args.runs / "population"), str(args.runs / "separate"),
         "--by=env,population", f"--out={out / stem}", f"--reps={args.reps}"],
        cwd=REPO, check=True,
    )  # fmt: skip
    print(render(result, machine))


if __name__ == "__main__":
    main()
