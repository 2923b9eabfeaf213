"""Update time vs network width (session 7): what an update costs when its matmuls are ~free.

8-wide networks keep every op of the update (dispatch, Python, small ops, sampling, Adam) but
make its matmuls negligible; 256x256 is the benchmark's size. Run from the repo root:
`python benchmarks/logs/update_width_overhead_session7.py` (log beside it).
"""

import statistics
import sys
import time
from pathlib import Path

import torch

sys.path[:0] = [str(Path(__file__).resolve().parents[2]), str(Path(__file__).resolve().parents[1])]
import speed  # noqa: E402 - benchmarks/speed.py, found through the path above

torch.set_num_threads(2)
for round_index in range(3):
    for env in ("Pendulum-v1", "HalfCheetah-v5"):
        for width in (8, 256):
            sizes = [width, width]
            samples = speed.ours_update_ms(env, 20000, 20, 500, 10, 0, "cpu", hidden_sizes=sizes)
            print((round_index, env, width, "eager", statistics.median(samples)), flush=True)
for width in (8, 256):
    agent, buffer = speed.ours_prefilled("HalfCheetah-v5", 20000, 0, hidden_sizes=[width] * 2)
    for _ in range(2):  # the first update initializes Adam's state through optimizer.step()
        agent.update(buffer.sample(256))
    agent.compile()
    start = time.perf_counter()
    agent.update(buffer.sample(256))
    compile_s = time.perf_counter() - start
    samples = speed.timed_updates(agent, buffer, 20, 500, 10)
    print(("HalfCheetah-v5", width, "compiled", statistics.median(samples), "compile s",
           round(compile_s, 1)), flush=True)  # fmt: skip
print("mm GFLOP/s", speed.matmul_gflops(10, 200))
