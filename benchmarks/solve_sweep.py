"""Steps and seconds our SAC takes to solve Pendulum-v1 under config variants, per seed.

How the Pendulum config (configs/env/Pendulum-v1.yaml) was tuned for time to solve; the same
clock as `benchmarks/speed.py`'s time to solve (deterministic eval of 10 episodes every 1,000
steps, eval time excluded). Each variant is a JSON object of SACConfig overrides, plus
`learning_starts`:

    python benchmarks/solve_sweep.py '{"base": {}, "tau0.02": {"tau": 0.02}}' --seeds 0 1 2 3 4

The solving step is the figure to compare: the seconds follow from it and this machine's speed
that minute. Never run by CI.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.perf.settings import ours_tuned_pendulum  # noqa: E402
from benchmarks.perf.training import SolveClock, train_ours  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", help='JSON: {"name": {"tau": 0.02, "learning_starts": 500}}')
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--max-steps", type=int, default=10_000)
    args = parser.parse_args()
    base, base_learning_starts = ours_tuned_pendulum()  # composed once, by Hydra
    for name, overrides in json.loads(args.variants).items():
        overrides = dict(overrides)
        learning_starts = overrides.pop("learning_starts", base_learning_starts)
        config = dataclasses.replace(base, **overrides)
        solved_steps = []
        for seed in args.seeds:
            clock = SolveClock("Pendulum-v1", seed, 1000, 10)
            train_ours("Pendulum-v1", config, learning_starts, args.max_steps, seed, clock)
            point = clock.solved
            solved_steps.append(point["step"] if point else None)
            curve = [round(p["return_mean"]) for p in clock.curve]
            seconds = f"{point['train_s']:.1f} s" if point else "not solved"
            print(f"{name} seed {seed}: step {solved_steps[-1]}, {seconds}; evals {curve}")
        print(f"{name}: solved at {solved_steps}", flush=True)


if __name__ == "__main__":
    main()
