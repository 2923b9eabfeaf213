"""Medians per implementation and their ratio, per env and metric, with the FLOP floor of each
run; the same for the seeded pairs (time to solve, final return)."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from .flops import update_flops
from .settings import IMPLS, SHARED


def median_or_none(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


SPEED_METRICS = {  # metric -> (label, ratio kind: "ours/sb3" or "sb3/ours" for times)
    "steps_per_s": ("env-steps/s, steady (after learning_starts)", "ours/sb3"),
    "ms_per_update": ("ms per update (prefilled buffer, sampling included)", "sb3/ours"),
    "env_step_us": ("raw env step alone (µs, random actions)", "sb3/ours"),
    "peak_rss_mb": ("peak RSS of the training run (MiB)", "ours/sb3"),
    "floor_ratio": ("ms/update ÷ FLOP floor", "ours/sb3"),
}


def summarize(runs: list[dict[str, Any]], envs: list[str]) -> tuple[dict, dict]:
    from envs import env_spaces

    summary, flops = {}, {}
    for env_id in envs:
        spaces = env_spaces(env_id)
        count = update_flops(
            spaces.obs_dim, spaces.action_dim, SHARED["hidden_sizes"], SHARED["batch_size"]
        )
        per_impl: dict[str, dict[str, list[float]]] = {impl: {} for impl in IMPLS}
        for run in (r for r in runs if r["env_id"] == env_id):
            floor_ms = count["total"] / (run["matmul_gflops"]["mm"] * 1e9) * 1e3
            run["floor_ms"] = floor_ms
            run["floor_ratio"] = run["ms_per_update"] / floor_ms
            if "ms_matmuls_only" in run:
                run["matmuls_only_floor_ratio"] = run["ms_matmuls_only"] / floor_ms
                for key in ("ms_matmuls_only", "matmuls_only_floor_ratio"):
                    per_impl[run["impl"]].setdefault(key, []).append(run[key])
            for metric in (*SPEED_METRICS, "floor_ms"):
                per_impl[run["impl"]].setdefault(metric, []).append(run[metric])
            per_impl[run["impl"]].setdefault("gflops_mm", []).append(run["matmul_gflops"]["mm"])
        env_summary = {}
        for metric, (_, kind) in SPEED_METRICS.items():
            ours = median_or_none(per_impl["ours"].get(metric, []))
            sb3 = median_or_none(per_impl["sb3"].get(metric, []))
            ratio = None
            if ours and sb3:
                ratio = ours / sb3 if kind == "ours/sb3" else sb3 / ours
            env_summary[metric] = {
                "ours": ours,
                "sb3": sb3,
                "ratio": ratio,
                "ratio_kind": kind,
                "ours_runs": per_impl["ours"].get(metric, []),
                "sb3_runs": per_impl["sb3"].get(metric, []),
            }
        summary[env_id] = env_summary
        gflops = median_or_none(
            per_impl["ours"].get("gflops_mm", []) + per_impl["sb3"].get("gflops_mm", [])
        )
        floor_ms = count["total"] / (gflops * 1e9) * 1e3 if gflops else None
        flops[env_id] = {
            "obs_dim": spaces.obs_dim,
            "action_dim": spaces.action_dim,
            "flops": count,
            "gflops_mm_median": gflops,
            "floor_ms_median": floor_ms,
            "ours_ms_matmuls_only": median_or_none(per_impl["ours"].get("ms_matmuls_only", [])),
            "ours_matmuls_only_floor_ratio": median_or_none(
                per_impl["ours"].get("matmuls_only_floor_ratio", [])
            ),
        }
    return summary, flops


def summarize_pairs(results: list[dict[str, Any]], value: Callable[[dict], float | None]) -> dict:
    per_impl = {impl: [value(r) for r in results if r["impl"] == impl] for impl in IMPLS}
    return {
        impl: {
            "per_seed": vals,
            "median": statistics.median(v if v is not None else float("inf") for v in vals)
            if vals
            else None,
        }
        for impl, vals in per_impl.items()
    }
