"""Session 9 (benchmarks/EXPERIMENTS.md): where one env step of train.py's loop goes at the speed
benchmark's settings (256x256, batch 256, one update per env step, 2 threads).

Runs `speed.train_ours` (train.py's `Trainer.train`, W&B disabled) to step 3,100 with
learning_starts 1,000 and times, over env steps 1,100-3,100, every call of the agent's `act` and
`update`, the vector env's `step`, the replay buffer's `add` and `sample` and the observation
check; "other" is the rest of the loop (transition bookkeeping, logging, the hook).

Usage: python benchmarks/logs/loop_breakdown_session9.py Pendulum-v1
"""

import collections
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
import speed  # noqa: E402

import train  # noqa: E402

FIRST, LAST = 1100, 3100
spent: dict[str, float] = collections.defaultdict(float)
window = {"on": False, "start": 0.0, "total": 0.0}


def timed(owner: object, name: str, key: str) -> None:
    call = getattr(owner, name)

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        result = call(*args, **kwargs)
        if window["on"]:
            spent[key] += time.perf_counter() - start
        return result

    setattr(owner, name, wrapper)


class Window(speed.Hook):
    def __call__(self, step: int, policy: speed.Policy) -> bool:
        if step == FIRST:
            window["on"], window["start"] = True, time.perf_counter()
        elif step == LAST:
            window["on"], window["total"] = False, time.perf_counter() - window["start"]
        return False


def main(env_id: str) -> None:
    torch.set_num_threads(2)
    init = train.Trainer.__init__

    def instrumented_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        timed(self.agent, "act", "act")
        timed(self.envs, "step", "env step")
        timed(self, "_observe", "observation check")
        timed(self.buffer, "add", "buffer add")
        timed(self.buffer, "sample", "buffer sample")
        timed(self.agent, "update", "update")

    train.Trainer.__init__ = instrumented_init
    speed.train_ours(env_id, speed.ours_config(), 1000, LAST, 0, Window())
    steps = LAST - FIRST
    parts = {key: value / steps * 1e3 for key, value in spent.items()}
    total = window["total"] / steps * 1e3
    parts["other"] = total - sum(parts.values())
    print(
        f"{env_id}: {total:.2f} ms per env step ({1e3 / total:.1f} env-steps/s): "
        + ", ".join(f"{key} {ms:.3f}" for key, ms in parts.items())
    )


if __name__ == "__main__":
    main(sys.argv[1])
