"""Final returns per env over seeds, beside published SAC figures: the results table.

Runs train into runs/returns/<env>/steps<budget>/seed<seed> (one `train.py` run each, W&B off):

    python benchmarks/returns.py --envs Pendulum-v1 --seeds 0 1 2 3 4      # serial, then table
    nohup bash benchmarks/run_queue.sh runs/queue.txt 2 &                   # two at a time
    python benchmarks/returns.py --collect                                  # table only

The table (docs/results.md, between the markers below; the rest of the file is kept) gives per env
and budget the final deterministic eval return (10 episodes) of each seed, then mean, std and the
interquartile mean over seeds, with a reference figure from a published source. Never run by CI.
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # runner/ and configs/ for env_budget, without an installed package
RUNS = REPO / "runs" / "returns"
BEGIN, END = "<!-- returns table: begin -->", "<!-- returns table: end -->"

# Where the published figures come from (repository @ commit, file).
SOURCES = {
    "zoo": "rl-baselines3-zoo benchmark.md @0088472: one agent, deterministic eval",
    "cleanrl": "CleanRL docs/rl-algorithms/sac.md @08d1c01: training return",
    "tianshou-max": "Tianshou examples/mujoco/README.md @0c0424e: best within 1M, 10 seeds",
    "tianshou-100k": "Tianshou examples/mujoco/benchmark/<env>-v3/sac/test_rew_10seeds.csv "
    "@39acf20: 10 seeds; its mujoco_sac.py (@fc251ab) trains actor and critics at lr 1e-3 "
    "(ours: 3e-4, the SAC paper's), which learns faster in the first 100k steps",
    "tdmpc2": "nicklashansen/tdmpc2 results/sac/<task>.csv @add30b5/@88095e7: SAC from "
    "state, 3 seeds, mean ± std computed here",
}
# Published SAC figures: (figure with its budget and env version, source). Metrics differ between
# sources (one agent vs seeds, final vs best) and env versions too: orientation, not a contest.
REFERENCES = {
    "Pendulum-v1": ("−157.0 ± 88.7 at 20k", "zoo"),
    "MountainCarContinuous-v0": ("94.7 ± 1.1 at 50k, with gSDE", "zoo"),
    "LunarLanderContinuous-v3": ("260.4 ± 65.5 at 500k, v2", "zoo"),
    "BipedalWalker-v3": ("297.7 ± 33.1 at 500k", "zoo"),
    "InvertedPendulum-v5": ("909.4 ± 55.7 at 1M, v4 (1000 is the maximum)", "cleanrl"),
    "InvertedDoublePendulum-v5": ("9359.5 ± 0.4 within 1M, v2", "tianshou-max"),
    "Reacher-v5": ("−2.6 ± 0.2 within 1M, v2", "tianshou-max"),
    "HalfCheetah-v5": ("6514.6 ± 514.2 at 100k, v3 (zoo: 9535.5 at 1M)", "tianshou-100k"),
    "Hopper-v5": ("2613.5 ± 990.8 at 100k, v3 (zoo: 2325.5 at 1M)", "tianshou-100k"),
    "Walker2d-v5": ("1305.2 ± 795.1 at 100k, v3 (zoo: 3863.2 at 1M)", "tianshou-100k"),
    "Ant-v5": ("1019.8 ± 449.9 at 100k, v3 (zoo: 4615.8 at 1M)", "tianshou-100k"),
    "Humanoid-v5": ("6232.3 ± 279.9 at 2M, v3", "zoo"),
    "dm_control/cheetah-run-v0": ("310.1 ± 53.3 at 100k", "tdmpc2"),
    "dm_control/walker-walk-v0": ("708.2 ± 166.8 at 100k", "tdmpc2"),
    "dm_control/quadruped-run-v0": ("50.5 ± 12.4 at 100k", "tdmpc2"),
    "dm_control/humanoid-walk-v0": ("2.0 ± 0.4 at 1M", "tdmpc2"),
}


def iqm(values: np.ndarray) -> float:
    """Mean of the middle 50 % (Agarwal et al. 2021); the plain mean below 4 values."""
    if len(values) < 4:
        return float(values.mean())
    low, high = np.percentile(values, [25, 75])
    return float(values[(values >= low) & (values <= high)].mean())


def run_dir(env: str, steps: int, seed: int) -> Path:
    return RUNS / env.replace("/", "-") / f"steps{steps}" / f"seed{seed}"


def env_budget(env: str) -> int:
    """The env file's total_steps, composed the way train.py composes it."""
    from hydra import compose, initialize_config_dir

    from runner.config_store import register_configs

    register_configs()  # the typed schema and the path_safe resolver, as train.py does
    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base=None):
        return int(compose(config_name="config", overrides=[f"env={env}"]).total_steps)


def train(env: str, seed: int, steps: int) -> None:
    """One run, skipped when its summary already exists (so an interrupted sweep continues)."""
    directory = run_dir(env, steps, seed)
    if (directory / "summary.json").exists():
        return
    overrides = [f"env={env}", f"seed={seed}", f"total_steps={steps}", "wandb.mode=disabled",
                 "progress=false", f"hydra.run.dir={directory}"]  # fmt: skip
    if (directory / "checkpoint.pt").exists():  # an interrupted run continues where it stopped
        overrides.append(f"resume={directory}")
    elif directory.is_dir() and any(directory.iterdir()):  # killed before its first checkpoint:
        directory.rename(directory.with_name(f"{directory.name}.stale-{int(time.time())}"))
    result = subprocess.run([sys.executable, "train.py", *overrides], cwd=REPO,
                            capture_output=True, text=True)  # fmt: skip
    if result.returncode != 0:
        sys.exit(f"{env} seed {seed} failed:\n{result.stderr[-2000:]}")


def collect(runs: Path = RUNS) -> dict[tuple[str, int], list[dict]]:
    """Every finished run's summary, grouped by (env id, budget)."""
    groups: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for path in sorted(runs.glob("*/steps*/seed*/summary.json")):
        summary = json.loads(path.read_text())
        groups[(summary["env_id"], int(path.parent.parent.name.removeprefix("steps")))].append(
            summary
        )
    return groups


def render(groups: dict[tuple[str, int], list[dict]]) -> str:
    order = {env: i for i, env in enumerate(REFERENCES)}
    rows = []
    for (env, steps), summaries in sorted(
        groups.items(), key=lambda item: (order.get(item[0][0], len(order)), item[0])
    ):
        summaries.sort(key=lambda s: s["seed"])
        returns = np.array([s["eval_return_mean"] for s in summaries])
        per_seed = ", ".join(f"{r:.1f}" for r in returns)
        std = f"{returns.std(ddof=1):.1f}" if len(returns) > 1 else "—"  # no spread from one seed
        speed = np.median([s["steps_per_second"] for s in summaries])
        figure, source = REFERENCES.get(env, ("—", None))
        rows.append(
            f"| {env} | {steps:,} | {len(returns)} | **{returns.mean():.1f}** | "
            f"{std} | {iqm(returns):.1f} | {per_seed} | {speed:.0f} | "
            f"{figure}{f' [{source}]' if source else ''} |"
        )
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                            capture_output=True, text=True).stdout.strip()  # fmt: skip
    return "\n".join([
        BEGIN,
        f"Generated by `benchmarks/returns.py --collect` at commit {commit}, "
        f"{datetime.date.today().isoformat()}. Final deterministic eval return (10 episodes) "
        "per seed; mean, sample std (ddof 1) and IQM over seeds; steps/s is the median "
        "whole-run rate (two runs shared the 2 cores at `torch_threads=1`: not a speed figure).",
        "",
        "| env | steps | seeds | mean | std | IQM | per seed | steps/s | published SAC reference |",
        "|---|---:|---:|---:|---:|---:|---|---:|---|",
        *rows,
        "",
        *(f"[{key}] {text}" + "  " for key, text in SOURCES.items()),
        END,
    ])  # fmt: skip


def write_table(table: str, output: Path) -> None:
    """Replace the generated section of `output` (or append it), keeping everything else."""
    text = output.read_text(encoding="utf-8") if output.exists() else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + table + rest.split(END, 1)[1]
    else:
        text = (text.rstrip() + "\n\n" if text else "") + table + "\n"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+", default=[])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, help="budget override (default: the env file's)")
    parser.add_argument("--collect", action="store_true", help="only write the table")
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "results.md")
    args = parser.parse_args()
    if not args.collect:
        for env in args.envs:
            steps = args.steps or env_budget(env)
            for seed in args.seeds:
                train(env, seed, steps)
                print(f"{env} seed {seed} ({steps} steps) done", flush=True)
    table = render(collect())
    write_table(table, args.output)
    print(table)


if __name__ == "__main__":
    main()
