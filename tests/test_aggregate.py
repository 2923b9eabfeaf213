"""aggregate.py and analysis/: synthetic run dirs with known returns, so every estimate,
alignment, label and refusal can be checked against a number worked out by hand."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest
import yaml
from rliable import metrics

import aggregate
from analysis import AggregateError
from analysis.groups import group_runs, parse_by
from analysis.report import OUTPUTS
from analysis.results import (
    CROSS_ENV,
    alignment_notes,
    config_results,
    cross_env_results,
    reference_notes,
)
from analysis.runs import load_runs
from analysis.statistics import REFERENCES, iqm_per_column, normalize
from analysis.tables import csv_text, records

REPO = Path(__file__).resolve().parents[1]
REPS = 200  # enough for an interval; 2000 (the default) is for results


def write_run(
    run_dir: Path,
    returns: dict[int, float],
    env: str = "Pendulum-v1",
    seed: int = 0,
    finished: bool = True,
    library: str | None = None,
    actor_lr: float = 0.001,
) -> Path:
    """A run dir as train.py leaves it (or, with `library`, as another library's script does):
    config, metrics.jsonl with train rows between the eval rows, summary.json when finished."""
    run_dir.mkdir(parents=True)
    config = {"env": {"id": env}, "seed": seed, "total_steps": max(returns)}
    config["agent"] = {"actor_lr": actor_lr, "hidden_sizes": [64, 64]}
    if library is None:
        (run_dir / ".hydra").mkdir()
        (run_dir / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    else:
        (run_dir / "config.yaml").write_text(yaml.safe_dump({"library": library, **config}))
    lines = []
    for step, value in returns.items():
        lines.append({"step": step, "train/critic_loss": 1.0, "time/steps_per_second": 300.0})
        lines.append({"step": step, "eval/return_mean": value, "eval/return_std": 5.0})
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in lines))
    if finished:
        summary = {"env_id": env, "seed": seed, "total_steps": max(returns)}
        (run_dir / "summary.json").write_text(json.dumps(summary))
    return run_dir


def curve(final: float, steps: tuple[int, ...] = (1000, 2000, 3000)) -> dict[int, float]:
    """A learning curve rising from -1200 to `final` at the last step."""
    return {s: -1200 + (final + 1200) * (i + 1) / len(steps) for i, s in enumerate(steps)}


FINALS = [-160.0, -900.0, -250.0, -100.0, -300.0, -180.0, -400.0, -200.0]  # seeds 0-7


def sweep(root: Path, env: str = "Pendulum-v1", finals: list[float] = FINALS) -> Path:
    for seed, final in enumerate(finals):
        write_run(root / f"{seed}_{env}_seed{seed}", curve(final), env=env, seed=seed)
    return root


def configs_of(*dirs: Path, by: str = "env", baseline: tuple[Path, ...] = ()):
    return group_runs(load_runs(list(dirs), list(baseline)), parse_by(by))


# ------------------------------------------------------------------------------ estimates


def test_iqm_mean_std_and_median_of_known_final_returns(tmp_path: Path) -> None:
    (config,) = configs_of(sweep(tmp_path / "sweep"))
    (result,) = config_results([config], REPS, seed=0)
    middle = sorted(FINALS)[2:6]  # 8 runs: the middle 50% is 4 of them
    final = result.final
    assert final.iqm.point == pytest.approx(np.mean(middle))
    assert final.iqm.low <= np.mean(middle) <= final.iqm.high and final.iqm.low < final.iqm.high
    assert final.mean.point == pytest.approx(np.mean(FINALS))
    assert final.std == pytest.approx(np.std(FINALS, ddof=1))
    assert final.median.point == pytest.approx(np.median(FINALS))
    gap = np.mean(np.maximum(0, 1 - normalize(np.array(FINALS), REFERENCES["Pendulum-v1"])))
    assert final.gap is not None and final.gap.point == pytest.approx(gap)
    assert config.seeds == list(range(8)) and config.final_step == 3000
    # The curve: the IQM over runs at each step, and the band around it.
    expected = [metrics.aggregate_iqm(config.returns[:, j]) for j in range(3)]
    np.testing.assert_allclose(result.curve, expected)
    assert np.all(result.band[0] <= result.curve) and np.all(result.curve <= result.band[1])


def test_per_step_iqm_matches_rliable_for_any_run_count() -> None:
    scores = np.random.default_rng(0).normal(size=(10, 4))  # 10 runs: 2 trimmed from each end
    expected = [metrics.aggregate_iqm(scores[:, j]) for j in range(4)]
    np.testing.assert_allclose(iqm_per_column(scores), expected)


def test_the_bootstrap_is_seeded_and_leaves_numpy_alone(tmp_path: Path) -> None:
    (config,) = configs_of(sweep(tmp_path / "sweep"))
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    first, second = (config_results([config], REPS, seed=0)[0] for _ in range(2))
    assert first.final == second.final
    np.testing.assert_array_equal(np.random.get_state()[1], before)
    other = config_results([config], REPS, seed=1)[0]
    assert other.final.iqm.point == first.final.iqm.point and other.final != first.final


# ---------------------------------------------------------------------- reading and aligning


def test_unequal_runs_align_on_their_shared_steps(tmp_path: Path) -> None:
    root = tmp_path / "sweep"
    write_run(root / "a", curve(-150, (1000, 2000, 3000, 4000)), seed=0)
    write_run(root / "b", curve(-300, (1000, 2000, 3000)), seed=1, finished=False)
    every_500 = {s: -float(s) / 10 for s in range(500, 4001, 500)}
    write_run(root / "c", every_500, seed=2)
    (config,) = configs_of(root)
    assert config.steps.tolist() == [1000, 2000, 3000] and config.final_step == 3000
    assert config.final_scores.tolist() == [curve(-150, (1000, 2000, 3000, 4000))[3000], -300, -300]
    assert config.dropped == 5  # 500, 1500, 2500, 3500, 4000
    assert config.unfinished == 1
    (note,) = alignment_notes([config])
    assert note.startswith("Pendulum-v1 · ours: 5 eval steps") and "up to 3000" in note


def test_a_resumed_run_keeps_the_last_value_of_a_repeated_step(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", {1000: -900.0, 2000: -500.0})
    with (run / "metrics.jsonl").open("a") as log:  # resumed from step 1000, re-evaluated
        log.write(json.dumps({"step": 2000, "eval/return_mean": -300.0}) + "\n")
        log.write(json.dumps({"step": 3000, "eval/return_mean": -200.0}) + "\n")
    (config,) = configs_of(run)  # the given dir is the run itself
    assert config.steps.tolist() == [1000, 2000, 3000]
    assert config.returns.tolist() == [[-900.0, -300.0, -200.0]]


def test_wandb_videos_and_empty_logs_are_not_runs(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", {1000: -500.0})
    for skipped in ("wandb/offline-run-1", "videos/x", ".submitit/1"):
        write_run(run / skipped, {1000: 0.0})
    (tmp_path / "started").mkdir()
    (tmp_path / "started" / "metrics.jsonl").write_text("")  # a start that never ran
    assert [r.path for r in load_runs([tmp_path])] == [run]


def test_a_run_without_config_takes_env_and_seed_from_its_summary(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", {1000: -500.0}, env="Hopper-v5", seed=7)
    (run / ".hydra" / "config.yaml").unlink()
    (loaded,) = load_runs([run])
    assert (loaded.env_id, loaded.seed, loaded.library, loaded.finished) == (
        "Hopper-v5",
        7,
        "ours",
        True,
    )


# ---------------------------------------------------------------------------- configs


def test_by_keys_and_baselines_make_the_labels(tmp_path: Path) -> None:
    for seed in range(2):
        for lr in (0.001, 0.0003):
            write_run(tmp_path / "ours" / f"lr{lr}_s{seed}", curve(-200), seed=seed, actor_lr=lr)
        write_run(
            tmp_path / "sb3" / f"s{seed}", curve(-250), seed=seed, library="stable-baselines3"
        )
    ours, sb3 = tmp_path / "ours", tmp_path / "sb3"
    configs = configs_of(ours, by="env,agent.actor_lr", baseline=(sb3,))
    labels = [(c.label, c.library, c.baseline, len(c.runs)) for c in configs]
    assert labels == [
        ("agent.actor_lr=0.0003", "ours", False, 2),
        ("agent.actor_lr=0.001", "ours", False, 2),
        ("SB3 · agent.actor_lr=0.001", "SB3", True, 2),
    ]
    plain = configs_of(ours, baseline=(sb3,))
    assert [(c.label, c.baseline, len(c.runs)) for c in plain] == [
        ("ours", False, 4),
        ("SB3", True, 2),
    ]
    # Our own runs given as a baseline are told apart from the runs they are compared with.
    again = configs_of(ours / "lr0.001_s0", baseline=(ours / "lr0.001_s1",))
    assert [c.label for c in again] == ["ours", "baseline"]


# ------------------------------------------------------------------------- across envs


def test_cross_env_aggregate_normalizes_with_the_reference_table(tmp_path: Path) -> None:
    pendulum = [-150.0, -200.0, -300.0, -1000.0]
    cheetah = [3000.0, 6000.0, 9000.0, 12000.0, 500.0]  # one seed more: truncated to 4
    sweep(tmp_path / "p", "Pendulum-v1", pendulum)
    sweep(tmp_path / "h", "HalfCheetah-v5", cheetah)
    sweep(tmp_path / "m", "MountainCarContinuous-v0", [90.0, 93.0])  # no reference
    configs = configs_of(tmp_path)
    results = config_results(configs, REPS, seed=0)
    (crossed,), notes = cross_env_results(results, REPS, seed=0)
    assert crossed.envs == ("HalfCheetah-v5", "Pendulum-v1") and crossed.runs == 4
    assert notes == [f"{CROSS_ENV} · ours: the cross-env aggregate uses the 4 seeds every env "
                     "has (1 run left out)"]  # fmt: skip
    matrix = np.stack(
        [
            normalize(np.array(cheetah[:4]), REFERENCES["HalfCheetah-v5"]),
            normalize(np.array(pendulum), REFERENCES["Pendulum-v1"]),
        ],
        axis=1,
    )
    assert crossed.final.iqm.point == pytest.approx(metrics.aggregate_iqm(matrix))
    assert crossed.final.mean.point == pytest.approx(matrix.mean())
    gap = metrics.aggregate_optimality_gap(matrix, gamma=1)
    assert crossed.final.gap is not None and crossed.final.gap.point == pytest.approx(gap)
    assert crossed.final.gap.low <= gap <= crossed.final.gap.high
    assert normalize(np.array([-150.0]), REFERENCES["Pendulum-v1"])[0] == pytest.approx(1.0)
    by_env = {r.config.env_id: r for r in results}
    assert by_env["MountainCarContinuous-v0"].final.gap is None
    (note,) = reference_notes(configs)
    assert note.startswith("MountainCarContinuous-v0 has no reference score")
    rows = list(csv.DictReader(csv_text(records(results, [crossed])).splitlines()))
    assert [(r["env"], r["runs"]) for r in rows] == [
        ("HalfCheetah-v5", "5"),
        ("MountainCarContinuous-v0", "2"),
        ("Pendulum-v1", "4"),
        (CROSS_ENV, "4"),
    ]
    assert rows[1]["optimality_gap"] == "" and float(rows[3]["iqm"]) == pytest.approx(
        metrics.aggregate_iqm(matrix)
    )


# ------------------------------------------------------------------------------ the CLI


def _blank_or_not(path: Path) -> tuple[int, int]:
    """(pixels that differ from white, distinct colours) of a PNG."""
    image = mpimg.imread(path)[..., :3]
    drawn = int((image < 0.95).any(axis=-1).sum())
    return drawn, len(np.unique((image * 255).astype(np.uint8).reshape(-1, 3), axis=0))


def test_cli_writes_curves_intervals_and_tables(tmp_path: Path) -> None:
    root = sweep(tmp_path / "sweep", "Pendulum-v1")
    sweep(root, "HalfCheetah-v5", [1000.0, 2000.0, 4000.0, 5000.0, 6000.0, 7000.0, 8000.0, 9e3])
    write_run(root / "8_Pendulum-v1_seed8", curve(-120, (1000, 2000)), seed=8, finished=False)
    baseline = sweep(tmp_path / "sb3", "Pendulum-v1", [-170.0, -220.0])
    for run in baseline.iterdir():
        (run / ".hydra" / "config.yaml").rename(run / "config.yaml")
        config = yaml.safe_load((run / "config.yaml").read_text())
        (run / "config.yaml").write_text(yaml.safe_dump({"library": "stable-baselines3", **config}))
    result = subprocess.run(
        [sys.executable, "aggregate.py", str(root), "--baseline", str(baseline)]
        + ["--reps", str(REPS)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = root / "aggregate"
    for name in OUTPUTS:
        assert f"wrote {out / name}" in result.stdout
    assert "| Pendulum-v1 | ours | ours | 9 (0–8) | 1 | 2,000 |" in result.stdout
    assert "Pendulum-v1 · ours: 1 eval step not logged by all 9 runs dropped" in result.stderr
    for name in ("curves.png", "final.png"):
        drawn, colours = _blank_or_not(out / name)
        assert drawn > 20_000 and colours > 50, (name, drawn, colours)
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [(r["env"], r["library"], r["config"], r["baseline"]) for r in rows] == [
        ("HalfCheetah-v5", "ours", "ours", "False"),
        ("Pendulum-v1", "ours", "ours", "False"),
        ("Pendulum-v1", "SB3", "SB3", "True"),
        (CROSS_ENV, "ours", "ours", "False"),
    ]
    assert rows[1]["unfinished"] == "1" and rows[1]["final_step"] == "2000"
    first = (out / "results.md").read_text().splitlines()[0]
    assert first.startswith(f"Read 19 runs (1 unfinished) from {root}; baselines from {baseline}")
    assert f"stratified bootstrap (rliable), {REPS} reps" in first


def test_rerun_overwrites_its_outputs_and_nothing_else(tmp_path: Path, capsys) -> None:
    root = sweep(tmp_path / "sweep", finals=[-200.0, -300.0])
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "results.md").write_text("old")
    assert aggregate.main([str(root), "--out", str(out), "--reps", "20"]) == 0
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "results.md").read_text().startswith("Read 2 runs")
    assert sorted(p.name for p in out.iterdir()) == sorted([*OUTPUTS, "notes.txt"])


def _refusal(tmp_path: Path, capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        sys.exit(aggregate.main(argv))
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert captured.out == ""
    assert not list(tmp_path.rglob("aggregate")) and not (tmp_path / "out").exists()
    return lines[0]


def test_refusals_are_one_error_line_and_write_nothing(tmp_path: Path, capsys) -> None:
    root = sweep(tmp_path / "sweep", finals=[-200.0, -300.0])
    out = ["--out", str(tmp_path / "out")]
    missing = _refusal(tmp_path, capsys, [str(tmp_path / "nope"), *out])
    assert missing == f"error: {tmp_path / 'nope'} does not exist"
    (tmp_path / "empty").mkdir()
    assert "no runs found under" in _refusal(tmp_path, capsys, [str(tmp_path / "empty"), *out])
    unknown = _refusal(tmp_path, capsys, [str(root), "--by", "env,agent.actor_lrr", *out])
    assert "unknown --by key 'agent.actor_lrr'" in unknown and "agent.actor_lr" in unknown
    bad = _refusal(tmp_path, capsys, [str(root), "--reps", "many", *out])
    assert "--reps" in bad

    no_evals = write_run(tmp_path / "sweep" / "9_crashed", {1000: 0.0}, seed=9, finished=False)
    (no_evals / "metrics.jsonl").write_text(json.dumps({"step": 500, "train/loss": 1.0}) + "\n")
    line = _refusal(tmp_path, capsys, [str(root), *out])
    assert line.startswith("error: 1 of 3 runs have no evals") and str(no_evals) in line

    with (no_evals / "metrics.jsonl").open("a") as log:
        log.write('{"step": 1000, "eval/return_mean": -1\n')  # cut off mid-write
    line = _refusal(tmp_path, capsys, [str(root), *out])
    assert line.startswith(f"error: {no_evals / 'metrics.jsonl'} line 2 is not JSON")


def test_cli_refusal_as_a_process(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "aggregate.py", str(tmp_path / "missing")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [f"error: {tmp_path / 'missing'} does not exist"]
    assert not (tmp_path / "missing").exists()


def test_aggregate_error_is_a_value_error() -> None:
    assert issubclass(AggregateError, ValueError)
