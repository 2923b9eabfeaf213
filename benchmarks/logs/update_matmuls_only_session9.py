"""Session 9 (benchmarks/EXPERIMENTS.md): what one update's matmuls alone cost, against the floor.

Records the matmul calls (`mm`, `addmm`, `bmm`, `baddbmm`) of one of our updates with a
TorchDispatchMode, then replays only them, in order, back to back, on preallocated operands of the
same shapes and strides: the time an update would take if every other op (ReLU, its backward,
Adam, sampling, the Polyak update, dispatch) were free, with operands kept warm in the cache.
Compares it with the FLOP floor (the update's matmul FLOPs at the `mm` (256x256)@(256x256) rate
measured in the same process, as `speed.py` does) and with the full update, alternating; then
times each call in a loop of its own.

Usage: python benchmarks/logs/update_matmuls_only_session9.py Pendulum-v1
"""

import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
import speed  # noqa: E402

MATMULS = {
    torch.ops.aten.mm.default,
    torch.ops.aten.addmm.default,
    torch.ops.aten.bmm.default,
    torch.ops.aten.baddbmm.default,
}
WITH_BIAS = {torch.ops.aten.addmm.default, torch.ops.aten.baddbmm.default}


class RecordMatmuls(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in MATMULS:
            self.calls.append((func, [_layout(a) for a in args], kwargs or {}))
        return func(*args, **(kwargs or {}))


def _layout(arg):
    return (tuple(arg.shape), arg.stride()) if isinstance(arg, torch.Tensor) else arg


def _operand(layout):
    """A random tensor of this shape and stride (stride-0 expands share one storage)."""
    if not isinstance(layout, tuple):
        return layout
    shape, stride = layout
    size = 1 + sum((n - 1) * s for n, s in zip(shape, stride))
    return torch.as_strided(torch.randn(size), shape, stride)


def flops(func, operands) -> int:
    out = func(*operands)
    lhs = operands[-2] if func in WITH_BIAS else operands[0]
    return 2 * out.numel() * lhs.shape[-1]


def mm_gflops() -> float:
    a, b = torch.randn(256, 256), torch.randn(256, 256)
    start = time.perf_counter()
    for _ in range(300):
        torch.mm(a, b)
    return 2 * 256**3 * 300 / (time.perf_counter() - start) / 1e9


def main(env_id: str) -> None:
    torch.set_num_threads(2)
    agent, buffer = speed.ours_prefilled(env_id, 100_000, 0)
    batch_size = agent.config.batch_size
    for _ in range(5):
        agent.update(buffer.sample(batch_size))
    recorder = RecordMatmuls()
    with recorder:
        agent.update(buffer.sample(batch_size))
    ops = [(func, [_operand(a) for a in args]) for func, args, _ in recorder.calls]
    total_flops = sum(flops(func, operands) for func, operands in ops)

    def matmuls_only(n: int) -> None:
        for _ in range(n):
            for func, operands in ops:
                func(*operands)

    def full_update(n: int) -> None:
        for _ in range(n):
            agent.update(buffer.sample(batch_size))

    matmuls_only(20)
    times: dict[str, list[float]] = {"matmuls only": [], "full update": []}
    rates = []
    for _ in range(9):
        for name, run in (("matmuls only", matmuls_only), ("full update", full_update)):
            start = time.perf_counter()
            run(100)
            times[name].append((time.perf_counter() - start) / 100 * 1e3)
        rates.append(mm_gflops())
    rate = statistics.median(rates)
    floor_ms = total_flops / rate / 1e6
    only, full = (statistics.median(times[k]) for k in ("matmuls only", "full update"))
    print(
        f"{env_id}: {len(ops)} matmul calls, {total_flops / 1e6:.1f} MFLOP; mm {rate:.0f} GFLOP/s, "
        f"floor {floor_ms:.2f} ms; matmuls only {only:.2f} ms ({only / floor_ms:.2f}x floor); "
        f"full update {full:.2f} ms ({full / floor_ms:.2f}x)"
    )
    print("each call in a loop of its own (300 calls, median of 5):")
    skinny_us = skinny_floor_us = 0.0
    for func, operands in ops:
        runs = []
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(300):
                func(*operands)
            runs.append((time.perf_counter() - start) / 300 * 1e6)
        us, work = statistics.median(runs), flops(func, operands)
        shapes = [tuple(t.shape) for t in operands if isinstance(t, torch.Tensor)]
        lhs, rhs = operands[-2:] if func in WITH_BIAS else operands[:2]
        if min(*lhs.shape[-2:], rhs.shape[-1]) <= 8:  # an M, K or N of at most 8: latency-bound
            skinny_us += us
            skinny_floor_us += work / rate / 1e3
        print(
            f"  {func.__name__:16s} {str(shapes):50s} {us:7.1f} µs {work / us / 1e3:5.0f} GFLOP/s"
            f" (floor {work / rate / 1e3:6.1f} µs)"
        )
    print(
        f"skinny calls (a dimension <= 8): {skinny_us / 1e3:.2f} ms against "
        f"{skinny_floor_us / 1e3:.3f} ms of floor"
    )


if __name__ == "__main__":
    main(sys.argv[1])
