"""benchmarks/returns.py: runs are grouped by env and budget, the table section is replaced in
place (the rest of the results page kept), and one real tiny run goes through train and table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks import returns

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.benchmark


def write_summary(runs: Path, env: str, steps: int, seed: int, value: float) -> None:
    directory = runs / env.replace("/", "-") / f"steps{steps}" / f"seed{seed}"
    directory.mkdir(parents=True)
    summary = {"env_id": env, "seed": seed, "eval_return_mean": value, "steps_per_second": 100.0}
    (directory / "summary.json").write_text(json.dumps(summary))


def test_iqm_drops_the_outer_quartiles() -> None:
    assert returns.iqm(np.array([0.0, 10.0, 11.0, 12.0, 13.0, 100.0, -50.0, 12.0])) == 11.25
    assert returns.iqm(np.array([1.0, 2.0, 6.0])) == 3.0  # below 4 values: the plain mean


def test_collect_groups_by_env_and_budget_and_renders_rows(tmp_path: Path) -> None:
    write_summary(tmp_path, "Hopper-v5", 100000, 1, 2000.0)
    write_summary(tmp_path, "Hopper-v5", 100000, 0, 1000.0)
    write_summary(tmp_path, "Hopper-v5", 50000, 0, 500.0)
    write_summary(tmp_path, "dm_control/walker-walk-v0", 100000, 0, 700.0)
    groups = returns.collect(tmp_path)
    assert sorted(groups) == [
        ("Hopper-v5", 50000),
        ("Hopper-v5", 100000),
        ("dm_control/walker-walk-v0", 100000),
    ]
    table = returns.render(groups)
    hopper = next(line for line in table.splitlines() if line.startswith("| Hopper-v5 | 100,000"))
    std = np.std([1000.0, 2000.0], ddof=1)  # sample std over seeds
    assert f"| 2 | **1500.0** | {std:.1f} | 1500.0 | 1000.0, 2000.0 |" in hopper  # seeds in order
    assert "2613.5" in hopper  # its published reference
    walker = next(line for line in table.splitlines() if line.startswith("| dm_control/walker"))
    assert "| 1 | **700.0** | — | 700.0 | 700.0 |" in walker  # one seed: no std
    assert table.startswith(returns.BEGIN) and table.endswith(returns.END)


def test_write_table_replaces_only_the_generated_section(tmp_path: Path) -> None:
    page = tmp_path / "results.md"
    page.write_text(f"intro\n\n{returns.BEGIN}\nold table\n{returns.END}\n\nnotes\n")
    returns.write_table(f"{returns.BEGIN}\nnew table\n{returns.END}", page)
    assert page.read_text() == f"intro\n\n{returns.BEGIN}\nnew table\n{returns.END}\n\nnotes\n"
    fresh = tmp_path / "fresh.md"
    returns.write_table(f"{returns.BEGIN}\nt\n{returns.END}", fresh)
    assert fresh.read_text() == f"{returns.BEGIN}\nt\n{returns.END}\n"


def test_every_listed_env_file_has_a_reference() -> None:
    env_dir = REPO / "configs" / "env"
    listed = {
        p.relative_to(env_dir).with_suffix("").as_posix()
        for p in env_dir.rglob("*.yaml")
        if p.stem != "custom"
    }
    assert listed == set(returns.REFERENCES)


def test_env_budget_is_the_env_files(tmp_path: Path) -> None:
    assert returns.env_budget("Pendulum-v1") == 20000
    assert returns.env_budget("dm_control/cheetah-run-v0") == 1_000_000


@pytest.mark.slow
def test_train_then_table_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(returns, "RUNS", tmp_path / "runs")
    returns.train("Pendulum-v1", 0, 300)
    summary = json.loads((returns.run_dir("Pendulum-v1", 300, 0) / "summary.json").read_text())
    assert summary["total_steps"] == 300
    mtime = (returns.run_dir("Pendulum-v1", 300, 0) / "summary.json").stat().st_mtime
    returns.train("Pendulum-v1", 0, 300)  # already done: skipped
    assert (returns.run_dir("Pendulum-v1", 300, 0) / "summary.json").stat().st_mtime == mtime
    table = returns.render(returns.collect(tmp_path / "runs"))
    assert f"| Pendulum-v1 | 300 | 1 | **{summary['eval_return_mean']:.1f}** |" in table
