"""Final returns per env over seeds: trains `train.py` runs one at a time and writes a table.

    python benchmarks/returns.py --envs Pendulum-v1 --seeds 0 1 2 3 4
    python benchmarks/returns.py --envs InvertedPendulum-v5 --seeds 0 --steps 20000

Each run uses the env's config file (its budget unless --steps says otherwise) with W&B off,
reads its summary.json (deterministic eval, 10 episodes), and the table gives mean, std and the
interquartile mean (IQM) over seeds, the budget, and a reference figure where a documented one
exists. Never run by CI: it trains for minutes to hours.
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
# What a good policy scores, with its source; no number here that was not documented elsewhere.
REFERENCES = {
    "Pendulum-v1": "≥ −200 is the usual 'solved' mark (this project's SAC-core issue)",
    "InvertedPendulum-v5": "1000 = balanced for the whole 1000-step episode (the env's maximum)",
}


def iqm(values: np.ndarray) -> float:
    """Mean of the middle 50 % (Agarwal et al. 2021); the plain mean below 4 values."""
    if len(values) < 4:
        return float(values.mean())
    low, high = np.percentile(values, [25, 75])
    return float(values[(values >= low) & (values <= high)].mean())


def train(env: str, seed: int, steps: int | None, out: Path) -> dict:
    run_dir = out / env.replace("/", "-") / f"seed{seed}"
    overrides = [f"env={env}", f"seed={seed}", "wandb.mode=disabled", "progress=false",
                 f"hydra.run.dir={run_dir}"]  # fmt: skip
    overrides += [f"total_steps={steps}"] if steps else []
    subprocess.run([sys.executable, "train.py", *overrides], cwd=REPO, check=True,
                   capture_output=True)  # fmt: skip
    return json.loads((run_dir / "summary.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+", required=True)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, help="budget override (default: the env file's)")
    parser.add_argument("--runs", type=Path, default=REPO / "runs" / "returns")
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "results.md")
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                            capture_output=True, text=True).stdout.strip()  # fmt: skip
    rows = []
    for env in args.envs:
        summaries = []
        for seed in args.seeds:
            summary = train(env, seed, args.steps, args.runs)
            summaries.append(summary)
            print(f"{env} seed {seed}: {summary['eval_return_mean']:.1f} "
                  f"({summary['total_steps']} steps, {summary['steps_per_second']:.0f} steps/s)",
                  flush=True)  # fmt: skip
        returns = np.array([s["eval_return_mean"] for s in summaries])
        rows.append(
            f"| {env} | {summaries[0]['total_steps']:,} | {len(returns)} | {returns.mean():.1f} | "
            f"{returns.std():.1f} | {iqm(returns):.1f} | "
            f"{', '.join(f'{r:.1f}' for r in returns)} | {REFERENCES.get(env, '—')} |"
        )
    date = datetime.date.today().isoformat()
    table = "\n".join([
        f"Results of `benchmarks/returns.py` at commit {commit}, {date}: final deterministic "
        "eval return (10 episodes) per seed, then mean, std and IQM over seeds.",
        "",
        "| env | steps | seeds | mean | std | IQM | per seed | reference |",
        "|---|---:|---:|---:|---:|---:|---|---|",
        *rows,
    ])  # fmt: skip
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with args.output.open("a", encoding="utf-8") as file:
        file.write(table + "\n\n")
    print(table)


if __name__ == "__main__":
    main()
