"""What W&B tracking costs a training run: train.py with wandb.mode=disabled vs offline.

Alternates the two modes (A/B/A/B...) on Pendulum-v1 and reports the medians of
(a) the training loop's wall time (summary.json `wall_time_s`: stepping, updates, logging, eval)
and (b) the whole process (imports, wandb.init/finish, artifact logging included).
Never run by CI: `python benchmarks/tracking_overhead.py [--steps 20000] [--repeats 3]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def one_run(mode: str, steps: int, run_dir: Path) -> tuple[float, float, float]:
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "train.py",
            "env=Pendulum-v1",
            f"total_steps={steps}",
            f"wandb.mode={mode}",
            "progress=false",
            f"hydra.run.dir={run_dir}",
        ],
        cwd=REPO,
        check=True,
        capture_output=True,
        env={
            "WANDB_DIR": str(run_dir.parent),
            "WANDB_CONFIG_DIR": str(run_dir.parent),
            "WANDB_CACHE_DIR": str(run_dir.parent),
            "WANDB_DATA_DIR": str(run_dir.parent),
            "PATH": "/usr/bin:/bin",
            "HOME": str(run_dir.parent),
        },
    )
    total = time.perf_counter() - start
    summary = json.loads((run_dir / "summary.json").read_text())
    return summary["wall_time_s"], total, summary["tracking_time_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    times: dict[str, list[tuple[float, float, float]]] = {"disabled": [], "offline": []}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for mode in times:
                result = one_run(mode, args.steps, Path(tmp) / f"{mode}{repeat}" / "run")
                times[mode].append(result)
                print(
                    f"{mode:9s} repeat {repeat}: loop {result[0]:.1f} s, process {result[1]:.1f} s",
                    flush=True,
                )
    for index, name in ((0, "training loop"), (1, "whole process")):
        off = statistics.median(t[index] for t in times["disabled"])
        on = statistics.median(t[index] for t in times["offline"])
        change = 100 * (on / off - 1)
        print(f"{name}: disabled {off:.1f} s, offline {on:.1f} s, difference {change:+.1f} %")
    # Run-to-run noise on a shared 2-core machine is several %, so also count the time spent
    # inside the tracking calls themselves (runner.tracking.RunLogger clocks them).
    share = statistics.median(t[2] / t[1] for t in times["offline"])
    print(f"time inside tracking calls (offline): {100 * share:.2f} % of the process")


if __name__ == "__main__":
    main()
