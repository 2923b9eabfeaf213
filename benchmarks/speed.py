"""Our SAC against Stable-Baselines3 SAC on the same machine, in one invocation.

    python benchmarks/speed.py             # full run: benchmarks/results/<date>-<machine>/
    python benchmarks/speed.py --quick     # seconds: Pendulum only, 1 repeat, to a temp dir
    python benchmarks/speed.py --profile   # also profile one of our updates (torch.profiler)
    python benchmarks/speed.py --device cuda --skip-solve   # both sides on the GPU
    python benchmarks/speed.py --render benchmarks/results/2026-11-30-xeon-2c   # report again

Each run writes results.json (every measurement) and RESULTS.md (the report rendered from it)
into benchmarks/results/<YYYY-MM-DD>-<machine>/ (the machine: the GPU's model with --device
cuda, e.g. h200, else the CPU's with its core count, e.g. xeon-2c; -2, -3, ... when that folder
is taken), or into --output. Never run by CI (tests/test_benchmark.py runs only --quick).
What it measures, per run:

- steady env-steps/s after learning starts: a window of --steps env steps (each with one
  gradient update) after learning_starts + --warmup steps, in the training loop that train.py
  runs (`runner.training.Trainer.train`, W&B disabled; random actions before learning_starts).
  SB3 runs its own `learn()`; a callback takes the same window's timestamps;
- ms per gradient update on a prefilled buffer, sampling included on both sides: ours is
  `agent.update(buffer.sample(256))`, SB3's is `model.train(gradient_steps=K, batch_size=256)`,
  whose loop samples its replay buffer itself;
- env step alone: random actions on the raw `gymnasium.make(env_id)` env;
- peak RSS: `ru_maxrss` of the child process after the training window (each run is a fresh
  subprocess, so nothing carries over between runs).

Runs alternate ours, SB3, ours, SB3, ... (--repeats each). The report takes the median per
metric and the ratio ours/SB3 (for times, SB3/ours: the speedup). Each run also times torch.mm
at the benchmark's shapes, so ms/update can be set against the FLOP floor of one update measured
under the same load, and (ours, on a CPU) replays the matmul calls of one of our updates alone:
how close to the floor any update built on these kernels could come. Time-to-solve and sample
efficiency train Pendulum-v1 for several seeds.

Every measurement runs in a child process (`--child SPEC`) that prints one JSON line; the parent
only orchestrates, so at most one CPU-heavy process runs at a time. The parts live in
benchmarks/perf/ (settings, training, flops, measure, children, runs, machine, summary,
report).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.perf.children import child_main  # noqa: E402
from benchmarks.perf.machine import default_output_dir, machine_info  # noqa: E402
from benchmarks.perf.report import write_results  # noqa: E402
from benchmarks.perf.runs import (  # noqa: E402
    log,
    profile_runs,
    sample_efficiency_runs,
    solve_runs,
    speed_runs,
)
from benchmarks.perf.settings import ENVS, SHARED, ZOO_PENDULUM, sb3_kwargs  # noqa: E402
from benchmarks.perf.summary import summarize  # noqa: E402


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="seconds: Pendulum, 1 repeat, tiny counts")
    p.add_argument(
        "--output",
        "--out",
        type=Path,
        help="directory for RESULTS.md + results.json (default "
        "benchmarks/results/<YYYY-MM-DD>-<machine>/, or a temp dir with --quick)",
    )
    p.add_argument("--repeats", type=int, default=3, help="runs per implementation and env")
    p.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="where both implementations train (cuda: ours replays CUDA graphs)",
    )
    p.add_argument("--envs", nargs="+", help=f"default {' '.join(ENVS)}; Pendulum-v1 with --quick")
    p.add_argument(
        "--threads",
        type=int,
        help="torch threads for ours and SB3 alike (default: "
        "os.cpu_count(); 1 with --quick, which must stay fast on a shared machine)",
    )
    p.add_argument("--steps", type=int, default=2000, help="timed env steps after learning starts")
    p.add_argument("--warmup", type=int, default=100, help="untimed steps after learning_starts")
    p.add_argument("--env-steps", type=int, default=5000, help="raw env steps timed")
    p.add_argument("--prefill", type=int, default=100_000, help="random transitions in the buffer")
    p.add_argument("--updates", type=int, default=500, help="timed updates on the prefilled buffer")
    p.add_argument("--update-warmup", type=int, default=20)
    p.add_argument("--chunks", type=int, default=10, help="timing chunks (median taken)")
    p.add_argument("--matmul-calls", type=int, default=200, help="torch.mm calls per chunk")
    p.add_argument("--skip-solve", action="store_true")
    p.add_argument("--solve-seeds", type=int, default=3)
    p.add_argument("--solve-max-steps", type=int, default=20_000)
    p.add_argument(
        "--solve-swapped-networks",
        action="store_true",
        help="also time to solve with the networks swapped: ours at SB3's 256x256, SB3 at 64x64",
    )
    p.add_argument("--eval-every", type=int, default=1000)
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--skip-sample-efficiency", action="store_true")
    p.add_argument("--se-seeds", type=int, default=3)
    p.add_argument("--se-steps", type=int, default=20_000)
    p.add_argument("--se-lr", type=float, default=SHARED["lr"])
    p.add_argument(
        "--profile",
        action="store_true",
        help="profile our update, Pendulum and "
        "HalfCheetah sizes; print the top ops by self CPU time",
    )
    p.add_argument("--profile-updates", type=int, default=20)
    p.add_argument("--profile-rows", type=int, default=15)
    p.add_argument(
        "--render",
        type=Path,
        metavar="RESULTS",
        help="measure nothing: summarize a results folder's results.json (or the JSON file "
        "given) again, with this version's FLOP count and report, and write the JSON and its "
        "Markdown (results.json -> RESULTS.md) to --output (default: beside it)",
    )
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.repeats, args.steps, args.warmup = 1, 150, 10
        args.envs = args.envs or ["Pendulum-v1"]
        args.env_steps, args.prefill, args.updates, args.update_warmup = 500, 5000, 30, 3
        args.chunks, args.matmul_calls, args.profile_updates = 3, 50, 5
        args.skip_solve = args.skip_sample_efficiency = True
    args.envs = args.envs or list(ENVS)
    if args.threads is None:
        # With other jobs on the cores, a 2-thread OpenMP region stalls whenever one of its
        # threads is descheduled (seen here: 16 ms updates turning into 500 ms ones); one thread
        # keeps the smoke run short and steady. Measurements should name their threads anyway.
        args.threads = 1 if args.quick else os.cpu_count()
    return args


def rerender(results_json: Path, out_dir: Path) -> None:
    """The report of earlier measurements with this version's summary (e.g. a corrected FLOP
    count): the runs' own figures are kept as measured; the header says when it was redone."""
    results = json.loads(results_json.read_text())
    results["summary"], results["flops"] = summarize(results["runs"], results["settings"]["envs"])
    results["rerendered"] = datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds"
    )
    write_results(results, out_dir, results_json.name)
    log(f"re-rendered {results_json} into {out_dir}")


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    if args.child:
        child_main(json.loads(args.child))
        return
    if args.render:
        results_json = args.render / "results.json" if args.render.is_dir() else args.render
        rerender(results_json, args.output or results_json.parent)
        return
    started = time.perf_counter()
    base = {"threads": args.threads, "device": args.device}
    results: dict[str, Any] = {"machine": machine_info(args.threads, args.device)}
    out_dir = args.output or (
        Path(tempfile.mkdtemp(prefix="sac-speed-"))
        if args.quick
        else default_output_dir(results["machine"])
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    results["settings"] = {
        **{
            k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "child"
        },
        "argv": argv,
        "shared_hyperparameters": SHARED,
        "sb3_kwargs": sb3_kwargs(),
        "sb3_zoo_pendulum": ZOO_PENDULUM,
        "solve_seeds_list": list(range(args.solve_seeds)),
        "se_seeds_list": list(range(args.se_seeds)),
    }
    results["runs"] = speed_runs(args, base)
    results["summary"], results["flops"] = summarize(results["runs"], args.envs)
    if args.profile:
        results["profile"] = profile_runs(args, base)
    if not args.skip_solve:
        results["solve"] = solve_runs(args, base)
    if not args.skip_sample_efficiency:
        results["sample_efficiency"] = sample_efficiency_runs(args, base)
    results["machine"]["loadavg_end"] = list(os.getloadavg())
    results["wall_s"] = time.perf_counter() - started
    markdown = write_results(results, out_dir)
    print(markdown)
    log(
        f"wrote {out_dir / 'RESULTS.md'} and {out_dir / 'results.json'} "
        f"in {results['wall_s']:.0f} s"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
