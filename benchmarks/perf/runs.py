"""The child runs the CLI asks for, in order, each logged as it ends: speed runs alternating ours
and SB3, profiles, and the seeded pairs for time to solve and sample efficiency."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from .children import run_child
from .settings import ENVS, IMPLS
from .summary import summarize_pairs


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def speed_runs(args: argparse.Namespace, base: dict[str, Any]) -> list[dict[str, Any]]:
    """--repeats rounds of every env, ours then SB3 in each (A/B alternation)."""
    runs = []
    for repeat in range(args.repeats):
        for env_id in args.envs:
            for impl in IMPLS:  # A/B alternation: ours, SB3, ours, SB3, ...
                spec = {
                    **base,
                    "task": "speed",
                    "env_id": env_id,
                    "impl": impl,
                    "seed": repeat,
                    "steps": args.steps,
                    "warmup": args.warmup,
                    "env_steps": args.env_steps,
                    "prefill": args.prefill,
                    "updates": args.updates,
                    "update_warmup": args.update_warmup,
                    "chunks": args.chunks,
                    "matmul_calls": args.matmul_calls,
                    "compiled": not args.quick,
                }
                run = run_child(spec)
                runs.append(run)
                log(
                    f"[speed {repeat + 1}/{args.repeats}] {env_id:15s} {impl:4s}: "
                    f"{run['steps_per_s']:7.1f} steps/s, {run['ms_per_update']:6.2f} ms/update, "
                    f"env {run['env_step_us']:6.1f} µs, RSS {run['peak_rss_mb']:6.0f} MiB, "
                    f"mm {run['matmul_gflops']['mm']:.0f} GFLOP/s"
                )
    return runs


def seeded_pairs(
    task: str,
    seeds: int,
    extra: dict[str, Any],
    base: dict[str, Any],
    describe: Callable[[dict], str],
) -> list[dict[str, Any]]:
    """For each seed, ours then SB3 run `task` on Pendulum-v1."""
    out = []
    for seed in range(seeds):
        for impl in IMPLS:
            result = run_child(
                {**base, **extra, "task": task, "env_id": "Pendulum-v1", "impl": impl, "seed": seed}
            )
            out.append(result)
            log(f"[{task} seed {seed}] {impl:4s}: {describe(result)}")
    return out


def profile_runs(args: argparse.Namespace, base: dict[str, Any]) -> list[dict[str, Any]]:
    """torch.profiler over our update at each env's sizes; an env that cannot be made (e.g.
    MuJoCo missing) is skipped with a line, the others still profiled."""
    profiles = []
    for env_id in ENVS:
        spec = {
            **base,
            "task": "profile",
            "env_id": env_id,
            "prefill": 10_000,
            "warmup": 5,
            "updates": args.profile_updates,
            "rows": args.profile_rows,
        }
        try:
            p = run_child(spec)
        except RuntimeError as error:
            log(f"[profile] {env_id} skipped: {str(error).splitlines()[0]}")
            continue
        profiles.append(p)
        log(
            f"[profile] {env_id}: {p['self_cpu_ms_per_update']:.2f} ms self CPU per update\n"
            + p["table"]
        )
    return profiles


def solve_runs(args: argparse.Namespace, base: dict[str, Any]) -> dict[str, Any]:
    """Time to solve Pendulum-v1, each library with its own tuned config, per seed; then, with
    --solve-swapped-networks, again with the networks swapped (ours at SB3's zoo 256x256, SB3
    at our 64x64), since network size alone moves an update's cost several times over."""
    extra = {
        "eval_every": args.eval_every,
        "eval_episodes": args.eval_episodes,
        "max_steps": args.solve_max_steps,
    }

    def describe(r: dict) -> str:
        if r["solved"] is None:
            return "not solved"
        return f"{r['solved']['train_s']:.1f} s at step {r['solved']['step']}"

    def seconds(r: dict) -> float | None:
        return None if r["solved"] is None else r["solved"]["train_s"]

    runs = seeded_pairs("solve", args.solve_seeds, extra, base, describe)
    out: dict[str, Any] = {"runs": runs, "summary": summarize_pairs(runs, seconds)}
    if getattr(args, "solve_swapped_networks", False):
        swapped = []
        for seed in range(args.solve_seeds):
            for impl, hidden in (("ours", [256, 256]), ("sb3", [64, 64])):
                spec = {**base, **extra, "task": "solve", "env_id": "Pendulum-v1"}
                result = run_child({**spec, "impl": impl, "seed": seed, "hidden_sizes": hidden})
                swapped.append(result)
                log(f"[solve, swapped networks, seed {seed}] {impl:4s}: {describe(result)}")
        out["swapped_runs"] = swapped
        out["swapped_summary"] = summarize_pairs(swapped, seconds)
    return out


def sample_efficiency_runs(args: argparse.Namespace, base: dict[str, Any]) -> dict[str, Any]:
    """Final return after --se-steps at the shared hyperparameters, per seed."""
    extra = {"steps": args.se_steps, "lr": args.se_lr, "eval_episodes": args.eval_episodes}
    runs = seeded_pairs(
        "final_return",
        args.se_seeds,
        extra,
        base,
        lambda r: f"return {r['return_mean']:.1f} in {r['train_s']:.0f} s",
    )
    return {"runs": runs, "summary": summarize_pairs(runs, lambda r: r["return_mean"])}
