"""K seeds on one machine: our population against separate runs (ours and SB3's), in one invocation.

    python benchmarks/population.py               # K = 8: benchmarks/results/<date>-<machine>/
    python benchmarks/population.py --quick       # seconds: Pendulum, K = 2, tiny window
    python benchmarks/population.py --device cuda --members 1 8 64 256   # on a GPU

What it measures: steady member-env-steps per second, summed over the K seeds, in a window of
--steps env steps (each with one gradient update per member) after learning_starts + --warmup,
with the hyperparameters of benchmarks/perf/settings.py (256x256, batch 256, buffer 1e6,
utd 1) for every arrangement:

- population: `population=K` in one process (`Trainer.train`, the loop train.py runs), all cores;
- population per core: one process per core, one thread each, K / cores members in each;
- ours separate: our single runs, as many at once as there are cores, one thread each;
- SB3 separate: SB3 SAC's `learn()`, arranged the same way.

K separate runs on C cores take K / C rounds of C concurrent runs, each round like the others,
so the separate arrangements measure one round of C concurrent runs and sum their rates. Each
run is a fresh child process (`--child`). Repeats alternate the arrangements; the report takes
medians, and the ratios of the population's rate to each separate arrangement's.
Writes population.json and POPULATION.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.perf.children import read_result  # noqa: E402
from benchmarks.perf.machine import RESULTS, machine_info, machine_slug  # noqa: E402
from benchmarks.perf.settings import SHARED, ours_config, sb3_kwargs  # noqa: E402

RESULT_MARK = "POPULATION_RESULT "
ARRANGEMENTS = ("population", "population-per-core", "ours-separate", "sb3-separate")
MATMUL_CALLS = 30  # per floor measurement, after a warm-up of 5


def matmul_rate(members: int, threads: int, device: str, hidden: int) -> float:
    """GFLOP/s of the update's largest matmul, a (2K, B, H) @ (2K, H, H) bmm (K members' two
    critics' hidden layer), at `threads`: what the matmuls of an update can reach at best."""
    import torch

    torch.set_num_threads(threads)
    batch = SHARED["batch_size"]
    x = torch.randn(2 * members, batch, hidden, device=device)
    w = torch.randn(2 * members, hidden, hidden, device=device)
    sync = torch.cuda.synchronize if device == "cuda" else lambda: None
    for _ in range(5):
        torch.bmm(x, w)
    sync()
    start = time.perf_counter()
    for _ in range(MATMUL_CALLS):
        torch.bmm(x, w)
    sync()
    flops = 2.0 * 2 * members * batch * hidden * hidden * MATMUL_CALLS
    return flops / (time.perf_counter() - start) / 1e9


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """One timed run: `population` members of ours in one process, or one SB3 run; or, for
    the floor, matmuls alone."""
    import torch

    hidden = spec["hidden"]
    if spec["impl"] == "matmul":
        return {"gflops": matmul_rate(spec["members"], spec["threads"], spec["device"], hidden[0])}
    from benchmarks.perf.training import WindowTimer, train_ours, train_sb3

    torch.set_num_threads(spec["threads"])
    learning_starts = spec["learning_starts"]
    first = learning_starts + spec["warmup"]
    timer = WindowTimer(first, first + spec["steps"])
    total = first + spec["steps"]
    if spec["impl"] == "ours":
        config = ours_config(hidden_sizes=list(hidden))
        train_ours(
            spec["env_id"], config, learning_starts, total, spec["seed"], timer,
            spec["device"], population=spec["members"],
        )  # fmt: skip
    else:
        kwargs = sb3_kwargs(learning_starts=learning_starts)
        kwargs["policy_kwargs"] = {"net_arch": list(hidden)}
        train_sb3(spec["env_id"], kwargs, total, spec["seed"], timer, spec["device"])
    return {"member_steps_per_s": timer.steps_per_s * spec["members"]}


def launch(spec: dict[str, Any]) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": str(spec["threads"]), "SDL_VIDEODRIVER": "dummy"}
    return subprocess.Popen(
        [sys.executable, __file__, "--child", json.dumps(spec)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def collect(proc: subprocess.Popen) -> dict[str, Any]:
    stdout, stderr = proc.communicate()
    result = read_result(stdout, RESULT_MARK)
    if result is not None:
        return result
    raise RuntimeError(f"a benchmark child failed (exit {proc.returncode}):\n{stderr[-3000:]}")


def measure(arrangement: str, env_id: str, members: int, args: argparse.Namespace) -> float:
    """Member-env-steps per second of one arrangement, summed over what runs at once; for a
    floor, the matmul GFLOP/s it can reach (summed the same way)."""
    base = dict(
        env_id=env_id,
        warmup=args.warmup,
        steps=args.steps,
        device=args.device,
        hidden=args.hidden,
        learning_starts=args.learning_starts,
    )
    key = "gflops" if arrangement.startswith("floor") else "member_steps_per_s"
    if arrangement in ("population", "floor-population"):
        impl = "ours" if arrangement == "population" else "matmul"
        spec = base | dict(impl=impl, members=members, threads=args.cores, seed=0)
        return collect(launch(spec))[key]
    impl = {"ours-separate": "ours", "sb3-separate": "sb3", "floor-separate": "matmul",
            "population-per-core": "ours"}  # fmt: skip
    at_once = min(args.cores, members)
    # population-per-core: K / cores members in each one-thread process (K a multiple of cores)
    each = members // at_once if arrangement == "population-per-core" else 1
    procs = [
        launch(base | dict(impl=impl[arrangement], members=each, threads=1, seed=seed * each))
        for seed in range(at_once)
    ]
    return sum(collect(proc)[key] for proc in procs)


def floor_rate(gflops: float, env_id: str, hidden: list[int]) -> float:
    """Member-env-steps per second at which `gflops` does an update's matmuls and nothing else
    (one update per env step)."""
    from benchmarks.perf.flops import update_flops
    from envs import env_spaces

    spaces = env_spaces(env_id)
    count = update_flops(spaces.obs_dim, spaces.action_dim, hidden, SHARED["batch_size"])
    return gflops * 1e9 / count["total"]


def render(results: dict[str, Any]) -> str:
    machine = results["machine"]
    lines = [
        "# A population of seeds against separate runs",
        "",
        f"Commit {machine['commit']}, {machine['cpu_model']} ({machine['cpu_count']} cores), "
        f"device {machine['device']}, torch {machine['torch']}, SB3 "
        f"{machine['stable_baselines3']}, {machine['date']}.",
        "",
        "Member-env-steps per second summed over the K seeds (median of "
        f"{results['repeats']} alternating repeats; window of {results['steps']} env steps after "
        f"learning_starts {results['learning_starts']} + {results['warmup']}), networks "
        f"{'x'.join(map(str, results['hidden']))}, batch 256, buffer 1e6, one update per "
        "env step. Separate runs: "
        f"{results['cores']} at once, one thread each; the population: one process, "
        f"{results['cores']} threads.",
        "",
        "| env | K | population | population per core | ours separate | SB3 separate | "
        "best population / SB3 | best population / ours separate |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results["rows"]:
        median = row["median"]
        best = max(median["population"], median["population-per-core"])
        lines.append(
            f"| {row['env_id']} | {row['members']} | {median['population']:.0f} | "
            f"{median['population-per-core']:.0f} | "
            f"{median['ours-separate']:.0f} | {median['sb3-separate']:.0f} | "
            f"{best / median['sb3-separate']:.2f}x | {best / median['ours-separate']:.2f}x |"
        )
    lines += [
        "",
        "The matmul floor: member-env-steps per second if an update did its matmuls alone, at "
        "the rate a (2K, 256, H) @ (2K, H, H) bmm reaches with the arrangement's threads (the "
        f"population: one process, {results['cores']} threads; the others: {results['cores']} "
        "one-thread processes at once, each a K = 1 bmm, summed); the update's matmul FLOPs from "
        "benchmarks/perf/flops.py. No arrangement can pass its floor.",
        "",
        "| env | K | population floor | population, % of it | one-thread floor (all cores) | "
        "population per core, % of it | ours separate, % of it | SB3 separate, % of it |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results["rows"]:
        median, floors = row["median"], row["floors"]
        lines.append(
            f"| {row['env_id']} | {row['members']} | {floors['population']:.0f} | "
            f"{100 * median['population'] / floors['population']:.0f} % | "
            f"{floors['separate']:.0f} | "
            f"{100 * median['population-per-core'] / floors['separate']:.0f} % | "
            f"{100 * median['ours-separate'] / floors['separate']:.0f} % | "
            f"{100 * median['sb3-separate'] / floors['separate']:.0f} % |"
        )
    return "\n".join(lines) + "\n"


def output_dir(machine: dict[str, Any], filename: str) -> Path:
    """benchmarks/results/<date>-<machine>/ (beside that day's speed results), or -2, -3, ...
    when it already holds `filename`: a later run never overwrites an earlier one."""
    name = f"{machine['date'][:10]}-{machine_slug(machine)}"
    candidates = [RESULTS / name, *(RESULTS / f"{name}-{n}" for n in range(2, 1000))]
    return next(path for path in candidates if not (path / filename).exists())


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--quick", action="store_true",
        help="seconds: Pendulum, K=2, 32x32 networks, learning_starts 100, a tiny window",
    )  # fmt: skip
    p.add_argument("--envs", nargs="+", default=["Pendulum-v1", "HalfCheetah-v5"])
    p.add_argument("--members", nargs="+", type=int, default=[8], help="K values")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmup", type=int, default=200, help="env steps after learning starts")
    p.add_argument("--steps", type=int, default=500, help="the timed window, in env steps")
    p.add_argument("--device", default="cpu")
    p.add_argument("--learning-starts", type=int, default=SHARED["learning_starts"])
    p.add_argument(
        "--hidden", nargs="+", type=int, default=list(SHARED["hidden_sizes"]),
        help="hidden layer sizes of both libraries' networks (256 256)",
    )  # fmt: skip
    p.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    p.add_argument("--output", "--out", type=Path)
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.envs, args.members, args.repeats, args.warmup, args.steps = (
            ["Pendulum-v1"], [2], 1, 10, 20,
        )  # fmt: skip
        args.hidden, args.learning_starts = [32, 32], 100
    for name in ("repeats", "steps", "cores"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be >= 1")
    if min(args.members) < 1:
        p.error("--members must be >= 1")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.child:
        print(RESULT_MARK + json.dumps(child(json.loads(args.child))), flush=True)
        return
    machine = machine_info(args.cores, args.device)
    # Other network sizes than the shared 256x256 write files of their own, e.g. -64x64.
    default = args.quick or args.hidden == list(SHARED["hidden_sizes"])
    suffix = "" if default else "-" + "x".join(map(str, args.hidden))
    out = args.output or (
        Path(tempfile.mkdtemp(prefix="population-bench-"))
        if args.quick
        else output_dir(machine, f"population{suffix}.json")
    )
    rows = []
    for env_id in args.envs:
        for members in args.members:
            names = (*ARRANGEMENTS, "floor-population", "floor-separate")
            runs: dict[str, list[float]] = {name: [] for name in names}
            for repeat in range(args.repeats):
                for name in names:
                    start = time.perf_counter()
                    runs[name].append(measure(name, env_id, members, args))
                    unit = "GFLOP/s" if name.startswith("floor") else "member-steps/s"
                    print(
                        f"{env_id} K={members} {name} #{repeat}: {runs[name][-1]:.0f} {unit} "
                        f"({time.perf_counter() - start:.0f} s)",
                        file=sys.stderr,
                        flush=True,
                    )
            median = {name: statistics.median(values) for name, values in runs.items()}
            floors = {
                "population": floor_rate(median["floor-population"], env_id, args.hidden),
                "separate": floor_rate(median["floor-separate"], env_id, args.hidden),
            }
            rows.append(
                dict(env_id=env_id, members=members, runs=runs, median=median, floors=floors)
            )
    results = dict(
        machine=machine, repeats=args.repeats, warmup=args.warmup,
        steps=args.steps, cores=args.cores, hidden=args.hidden,
        learning_starts=args.learning_starts, rows=rows,
    )  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    (out / f"population{suffix}.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / f"POPULATION{suffix}.md").write_text(render(results))
    print(render(results))
    print(f"wrote population{suffix}.json and POPULATION{suffix}.md in {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
