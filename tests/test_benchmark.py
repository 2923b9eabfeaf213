"""benchmarks/speed.py: its --quick mode runs end to end (so the script never rots), and its
FLOP count is the one issue 5 states."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "speed.py"


def load_speed():
    spec = importlib.util.spec_from_file_location("speed", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_update_flops_pendulum_matches_hand_count() -> None:
    flops = load_speed().update_flops(3, 1, [256, 256], 256)
    # Issue 5: ~550 MFLOP per update with bwd = 2x fwd (1x for the frozen critics).
    assert flops["rule_of_thumb"] == pytest.approx(547.4e6, rel=1e-3)
    # Without the first layers' unneeded input gradients: 2 critics x (4->256) + actor (3->256).
    skipped = 2 * 256 * 256 * (2 * 4 + 3)
    assert flops["total"] == pytest.approx(flops["rule_of_thumb"] - skipped)
    assert flops["total"] == pytest.approx(
        flops["target"] + flops["critic_step"] + flops["actor_step"]
    )


@pytest.mark.slow  # ~20-30 s: two training processes plus SB3 imports
def test_quick_mode_writes_results(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--output", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads((tmp_path / "results.json").read_text())

    machine = data["machine"]
    assert machine["cpu_model"] and machine["cpu_count"] >= 1 and machine["threads"] >= 1
    assert machine["torch"] and machine["date"]

    assert [(r["impl"], r["env_id"]) for r in data["runs"]] == [
        ("ours", "Pendulum-v1"),
        ("sb3", "Pendulum-v1"),
    ]
    for run in data["runs"]:
        for key in ("steps_per_s", "ms_per_update", "env_step_us", "peak_rss_mb", "floor_ratio"):
            assert run[key] > 0, (run["impl"], key)
        assert all(rate > 0 for rate in run["matmul_gflops"].values())

    summary = data["summary"]["Pendulum-v1"]
    for metric in ("steps_per_s", "ms_per_update", "env_step_us", "peak_rss_mb", "floor_ratio"):
        row = summary[metric]
        assert row["ours"] > 0 and row["sb3"] > 0 and row["ratio"] > 0, metric

    flops = data["flops"]["Pendulum-v1"]
    assert flops["flops"]["total"] > 0
    assert flops["gflops_mm_median"] > 0 and flops["floor_ms_median"] > 0
    assert "solve" not in data and "sample_efficiency" not in data  # quick mode skips them

    markdown = (tmp_path / "RESULTS.md").read_text()
    for text in (
        "## Machine",
        "CPU:",
        "torch",
        "## Pendulum-v1",
        "env-steps/s",
        "## FLOP floor",
        "GFLOP/s",
        "Skipped (--skip-solve)",
    ):
        assert text in markdown, text


def test_solve_and_sample_efficiency_paths_run_and_render() -> None:
    """The parts --quick skips, at toy sizes in this process: both implementations train a few
    hundred steps, and the report renders their sections."""
    import torch

    speed = load_speed()
    torch.set_num_threads(1)
    solve = [
        speed.child_solve(
            {
                "env_id": "Pendulum-v1",
                "impl": impl,
                "seed": 0,
                "eval_every": 150,
                "eval_episodes": 1,
                "max_steps": 300,
            }
        )
        for impl in speed.IMPLS
    ]
    final = [
        speed.child_final_return(
            {
                "env_id": "Pendulum-v1",
                "impl": impl,
                "seed": 0,
                "steps": 200,
                "lr": 3e-4,
                "eval_episodes": 1,
            }
        )
        for impl in speed.IMPLS
    ]
    for run in solve:
        assert [p["step"] for p in run["curve"]][:1] == [150]
        assert all(p["train_s"] > 0 for p in run["curve"])
    assert all(run["return_mean"] < 0 and run["train_s"] > 0 for run in final)

    settings = {
        "eval_episodes": 1,
        "eval_every": 150,
        "solve_max_steps": 300,
        "solve_seeds_list": [0],
        "se_steps": 200,
        "se_lr": 3e-4,
        "se_seeds_list": [0],
    }
    results = {
        "settings": settings,
        "solve": {
            "runs": solve,
            "summary": speed.summarize_pairs(
                solve, lambda r: None if r["solved"] is None else r["solved"]["train_s"]
            ),
        },
        "sample_efficiency": {
            "runs": final,
            "summary": speed.summarize_pairs(final, lambda r: r["return_mean"]),
        },
    }
    text = "\n".join(speed.render_solve(results) + speed.render_sample_efficiency(results))
    assert "## Time to solve Pendulum-v1" in text and "| 0 |" in text
    assert "## Sample efficiency (Pendulum-v1)" in text and "Mean over seeds" in text
