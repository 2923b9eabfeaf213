"""Update time vs network width: what an update costs when its matmuls are ~free (8-wide)."""
import sys, statistics, time
sys.path.insert(0, "/work/main"); sys.path.insert(0, "/work/main/benchmarks")
import torch
torch.set_num_threads(2)
import speed
rows = []
for rnd in range(3):
    for env in ("Pendulum-v1", "HalfCheetah-v5"):
        for h in (8, 256):
            ms = speed.ours_update_ms(env, 20000, 20, 500, 10, 0, "cpu", hidden_sizes=[h, h])
            rows.append((rnd, env, h, "eager", statistics.median(ms)))
            print(rows[-1], flush=True)
for env in ("HalfCheetah-v5",):
    for h in (8, 256):
        agent, buffer = speed.ours_prefilled(env, 20000, 0, hidden_sizes=[h, h])
        for _ in range(2): agent.update(buffer.sample(256))
        agent.compile(); t = time.perf_counter(); agent.update(buffer.sample(256)); c = time.perf_counter() - t
        ms = speed.timed_updates(agent, buffer, 20, 500, 10)
        print((env, h, "compiled", statistics.median(ms), "compile s", round(c, 1)), flush=True)
print("mm GFLOP/s", speed.matmul_gflops(10, 200))
