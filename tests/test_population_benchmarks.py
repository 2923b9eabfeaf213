"""benchmarks/population.py and benchmarks/population_learning.py, end to end at toy sizes: the
tools that measure a population against separate runs (speed, and returns)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.benchmark


def test_population_benchmark_quick_mode_writes_its_table(tmp_path: Path) -> None:
    """benchmarks/population.py --quick: every arrangement (and each matmul floor) measured
    once, the rates positive, the table's ratio the best population's rate over SB3's."""
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "population.py"), "--quick",
         "--output", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads((tmp_path / "population.json").read_text())
    (row,) = data["rows"]
    assert (row["env_id"], row["members"]) == ("Pendulum-v1", 2)
    assert all(len(runs) == 1 and runs[0] > 0 for runs in row["runs"].values())
    assert row["floors"]["population"] > 0 and row["floors"]["separate"] > 0
    median = row["median"]
    ratio = max(median["population"], median["population-per-core"]) / median["sb3-separate"]
    assert f"| Pendulum-v1 | 2 | {median['population']:.0f} |" in result.stdout
    assert f"{ratio:.2f}x" in (tmp_path / "POPULATION.md").read_text()
    assert data["machine"]["commit"]


def test_population_learning_compares_members_with_separate_runs(tmp_path: Path) -> None:
    """benchmarks/population_learning.py at toy size: both arrangements trained, their final
    returns read from the runs' summaries, the test statistic and the report written."""
    out, runs = tmp_path / "out", tmp_path / "runs"
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "population_learning.py"), "--members=2",
         "--total-steps=200", f"--runs={runs}", f"--output={out}", "--cores=2", "--reps=50",
         "learning_starts=100", "eval.every=0", "eval.episodes=1", "agent.hidden_sizes=[16]",
         "agent.batch_size=16"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads((out / "population-learning-Pendulum-v1.json").read_text())
    members = [json.loads((runs / f"population/member-{k}/summary.json").read_text())
               for k in range(2)]  # fmt: skip
    assert data["population_returns"] == [m["eval_return_mean"] for m in members]
    separate = json.loads((runs / "separate/seed-1/summary.json").read_text())
    assert data["separate_returns"][1] == separate["eval_return_mean"] and separate["seed"] == 1
    assert 0.0 <= data["mann_whitney_p"] <= 1.0 and data["seeds"] == [0, 1]
    assert "Mann-Whitney U" in (out / "population-learning-Pendulum-v1.md").read_text()
    table = (out / "population-learning-Pendulum-v1" / "results.md").read_text()  # aggregate.py's
    # the members read as runs, and as a config of their own beside the separate runs
    assert "| Pendulum-v1 | ours | population=2 | 2 (0–1) | 0 | 200 |" in table
    assert "| Pendulum-v1 | ours | population=1 | 2 (0–1) | 0 | 200 |" in table
