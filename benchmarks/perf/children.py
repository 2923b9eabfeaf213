"""Every measurement runs in a fresh child process (`python benchmarks/speed.py --child SPEC`)
that prints one JSON line: peak RSS is that run's own, nothing carries over between runs, and
the parent only orchestrates, so at most one CPU-heavy process runs at a time."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from envs.evaluation import evaluate

from .flops import matmul_call_flops, matmul_gflops, record_update_matmuls
from .measure import (
    env_step_us,
    matmuls_only_ms,
    ours_compiled_update_ms,
    ours_prefilled,
    ours_update_ms,
    peak_rss_mb,
    sb3_update_ms,
)
from .settings import (
    EVAL_SEED_OFFSET,
    REPO,
    SHARED,
    ZOO_PENDULUM,
    ours_config,
    ours_tuned_pendulum,
    sb3_kwargs,
)
from .training import Hook, SolveClock, WindowTimer, train_ours, train_sb3

CLI = REPO / "benchmarks" / "speed.py"  # its hidden --child flag runs child_main
RESULT_MARK = "BENCH_RESULT "


def child_speed(spec: dict[str, Any]) -> dict[str, Any]:
    """One speed run of one implementation: raw env step, steady env-steps/s in its training
    loop, peak RSS, ms per update on a prefilled buffer (ours also compiled, without CUDA graphs
    on a GPU, and its matmuls alone on a CPU), then torch's matmul rates for the FLOP floor."""
    import torch

    env_id, impl, seed = spec["env_id"], spec["impl"], spec["seed"]
    device = spec.get("device", "cpu")
    out: dict[str, Any] = {
        "env_id": env_id,
        "impl": impl,
        "seed": seed,
        "threads": torch.get_num_threads(),
    }
    out["env_step_us"] = env_step_us(env_id, spec["env_steps"], seed)
    first = SHARED["learning_starts"] + spec["warmup"]
    timer = WindowTimer(first, first + spec["steps"])
    if impl == "ours":
        config = ours_config()
        train_ours(
            env_id, config, SHARED["learning_starts"], timer.last, seed, timer, device=device
        )
    else:
        train_sb3(env_id, sb3_kwargs(), timer.last, seed, timer, device=device)
    out["steps_per_s"] = timer.steps_per_s
    out["peak_rss_mb"] = peak_rss_mb()  # the training run's peak, before the prefill below
    args = (env_id, spec["prefill"], spec["update_warmup"], spec["updates"], spec["chunks"], seed)
    samples = ours_update_ms(*args, device) if impl == "ours" else sb3_update_ms(*args, device)
    out["ms_per_update"] = statistics.median(samples)
    out["ms_per_update_chunks"] = samples
    if impl == "ours" and device == "cpu" and spec.get("compiled", True):
        compile_s, compiled = ours_compiled_update_ms(*args)
        out["compile_s"], out["ms_per_update_compiled"] = compile_s, statistics.median(compiled)
    if impl == "ours" and spec.get("autograd", True):  # what the hand-written backward saves
        autograd = ours_update_ms(*args, device, update_backend="autograd")
        out["ms_per_update_autograd"] = statistics.median(autograd)
    if impl == "ours" and device == "cuda":  # what the CUDA graph saves, same process
        eager = ours_update_ms(*args, device, cuda_graphs=False)
        out["ms_per_update_no_cuda_graph"] = statistics.median(eager)
    if impl == "ours" and device == "cpu":  # a CUDA graph's replay hides its ops from a mode
        agent, buffer = ours_prefilled(env_id, spec["prefill"], seed)
        calls = record_update_matmuls(agent, buffer.sample(agent.config.batch_size))
        out["matmul_calls_per_update"] = len(calls)
        out["recorded_matmul_flops"] = sum(matmul_call_flops(call) for call in calls)
        replayed = matmuls_only_ms(calls, spec["update_warmup"], spec["updates"], spec["chunks"])
        out["ms_matmuls_only"] = statistics.median(replayed)
    # Measured after the update timings, under the same load, for the FLOP floor.
    out["matmul_gflops"] = matmul_gflops(spec["chunks"], spec["matmul_calls"], device)
    out["rss_after_prefill_mb"] = peak_rss_mb()
    return out


def child_solve(spec: dict[str, Any]) -> dict[str, Any]:
    """Train with each implementation's own tuned Pendulum config until solved or capped.
    `spec["hidden_sizes"]`, when given, replaces that config's network (actor and critics), so
    the two libraries can be compared at each other's network size too."""
    env_id, impl, seed = spec["env_id"], spec["impl"], spec["seed"]
    hidden = spec.get("hidden_sizes")
    clock = SolveClock(env_id, seed, spec["eval_every"], spec["eval_episodes"])
    if impl == "ours":
        config, learning_starts = ours_tuned_pendulum()
        if hidden is not None:
            config.hidden_sizes = list(hidden)
        train_ours(
            env_id,
            config,
            learning_starts,
            spec["max_steps"],
            seed,
            clock,
            device=spec.get("device", "cpu"),
        )
    else:
        kwargs = sb3_kwargs(**ZOO_PENDULUM)
        if hidden is not None:
            kwargs["policy_kwargs"] = {**kwargs["policy_kwargs"], "net_arch": list(hidden)}
        train_sb3(env_id, kwargs, spec["max_steps"], seed, clock, device=spec.get("device", "cpu"))
    return {
        "env_id": env_id,
        "impl": impl,
        "seed": seed,
        "hidden_sizes": hidden,
        "solved": clock.solved,
        "curve": clock.curve,
    }


def child_final_return(spec: dict[str, Any]) -> dict[str, Any]:
    """Train `steps` env steps at the shared hyperparameters; evaluate the final policy."""
    from envs import make_vector_env

    env_id, impl, seed, steps = spec["env_id"], spec["impl"], spec["seed"], spec["steps"]
    start = time.perf_counter()
    if impl == "ours":
        _, policy = train_ours(
            env_id,
            ours_config(spec["lr"]),
            SHARED["learning_starts"],
            steps,
            seed,
            Hook(),
            device=spec.get("device", "cpu"),
        )
    else:
        kwargs = sb3_kwargs(spec["lr"])
        _, policy = train_sb3(env_id, kwargs, steps, seed, Hook(), device=spec.get("device", "cpu"))
    wall = time.perf_counter() - start
    report = evaluate(
        policy, make_vector_env(env_id, 1), spec["eval_episodes"], seed=seed + EVAL_SEED_OFFSET
    )
    return {
        "env_id": env_id,
        "impl": impl,
        "seed": seed,
        "steps": steps,
        "train_s": wall,
        "return_mean": report["return_mean"],
        "return_std": report["return_std"],
    }


def child_profile(spec: dict[str, Any]) -> dict[str, Any]:
    """torch.profiler over a few of our updates on a prefilled buffer: top ops by self CPU."""
    from torch.profiler import ProfilerActivity, profile

    agent, buffer = ours_prefilled(spec["env_id"], spec["prefill"], 0)
    batch_size, n = agent.config.batch_size, spec["updates"]
    for _ in range(spec["warmup"]):
        agent.update(buffer.sample(batch_size))
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(n):
            agent.update(buffer.sample(batch_size))
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total_us = sum(e.self_cpu_time_total for e in events)
    top = [
        {
            "op": e.key,
            "self_ms_per_update": e.self_cpu_time_total / n / 1e3,
            "self_pct": 100.0 * e.self_cpu_time_total / total_us,
            "calls_per_update": e.count / n,
        }
        for e in events[: spec["rows"]]
    ]
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=spec["rows"])
    return {
        "env_id": spec["env_id"],
        "updates": n,
        "self_cpu_ms_per_update": total_us / n / 1e3,
        "top": top,
        "table": table,
    }


CHILDREN = {
    "speed": child_speed,
    "solve": child_solve,
    "final_return": child_final_return,
    "profile": child_profile,
}


def child_main(spec: dict[str, Any]) -> None:
    """Run one task at the spec's thread count; print its result as one marked JSON line."""
    import torch

    torch.set_num_threads(spec["threads"])  # deliberate, identical for ours and SB3
    result = CHILDREN[spec["task"]](spec)
    print(RESULT_MARK + json.dumps(result), flush=True)


def read_result(stdout: str, mark: str) -> dict[str, Any] | None:
    """The JSON a child printed after `mark` (its last such line), else None."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(mark):
            return json.loads(line[len(mark) :])
    return None


def run_child(spec: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
    """One fresh process per run (so peak RSS is that run's); returns its JSON line."""
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(spec["threads"]),
        "MKL_NUM_THREADS": str(spec["threads"]),
        "SDL_VIDEODRIVER": "dummy",
    }
    proc = subprocess.run(
        [sys.executable, str(CLI), "--child", json.dumps(spec)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    result = read_result(proc.stdout, RESULT_MARK)
    if result is not None:
        return result
    raise RuntimeError(
        f"child {spec['task']} {spec.get('impl', '')} {spec['env_id']} failed "
        f"(exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    )
