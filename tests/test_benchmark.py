"""benchmarks/speed.py and its parts (benchmarks/perf/): its --quick mode runs end to end (so the
script never rots), its FLOP count is the usual ~550 MFLOP estimate and equals the matmuls an
update runs, its ratios go the documented way, both implementations get identical
hyperparameters, the time-to-solve clock stops where it should and excludes evaluation time,
and results land in a folder named by date and machine."""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sac_test_support import one_torch_thread

from benchmarks import speed
from benchmarks.perf import children, flops, machine, measure, report, settings, summary, training

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "speed.py"

pytestmark = pytest.mark.benchmark


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """The in-process trainings here use tiny nets; the thread count is restored after each."""
    with one_torch_thread():
        yield


# The documented direction of every summary ratio (speed.py's docstring: ours/SB3, and
# SB3/ours, the speedup, for times; the floor ratio is ms/update over the FLOP floor, compared
# ours/SB3). Written out here, not read from summary.SPEED_METRICS, so a flipped entry there
# fails.
RATIO_DIRECTIONS = {
    "steps_per_s": "ours/sb3",
    "ms_per_update": "sb3/ours",
    "env_step_us": "sb3/ours",
    "peak_rss_mb": "ours/sb3",
    "floor_ratio": "ours/sb3",
}


def assert_summary_ratios(data: dict[str, Any]) -> None:
    """Every run's floor ratio is its ms/update over its own FLOP floor; every summary row holds
    the medians over runs and their ratio in RATIO_DIRECTIONS' direction."""
    for run in data["runs"]:
        assert run["floor_ratio"] == pytest.approx(run["ms_per_update"] / run["floor_ms"])
    for env_id, rows in data["summary"].items():
        runs = [r for r in data["runs"] if r["env_id"] == env_id]
        for metric, direction in RATIO_DIRECTIONS.items():
            row = rows[metric]
            ours = statistics.median(r[metric] for r in runs if r["impl"] == "ours")
            sb3 = statistics.median(r[metric] for r in runs if r["impl"] == "sb3")
            assert (row["ours"], row["sb3"]) == pytest.approx((ours, sb3)), metric
            expected = ours / sb3 if direction == "ours/sb3" else sb3 / ours
            assert row["ratio"] == pytest.approx(expected), metric
            assert row["ratio_kind"] == direction, metric


def test_update_flops_pendulum_matches_hand_count() -> None:
    count = flops.update_flops(3, 1, [256, 256], 256)
    # The usual estimate: ~550 MFLOP per update with bwd = 2x fwd (1x for the frozen critics).
    assert count["rule_of_thumb"] == pytest.approx(547.4e6, rel=1e-3)
    # Without the first layers' unneeded input gradients: 2 critics x (4->256) in the critic
    # step, the actor's (3->256), and in the actor step the frozen critics' obs columns (3->256).
    skipped = 2 * 256 * 256 * (2 * 4 + 3 + 2 * 3)
    assert count["total"] == pytest.approx(count["rule_of_thumb"] - skipped)
    assert count["total"] == pytest.approx(
        count["target"] + count["critic_step"] + count["actor_step"]
    )


@pytest.mark.parametrize(
    ("obs_dim", "action_dim", "backend"),
    [(3, 1, "manual"), (17, 6, "manual"), (17, 6, "autograd")],  # Pendulum, HalfCheetah sizes
)
def test_update_flops_equal_the_matmuls_an_update_runs(
    obs_dim: int, action_dim: int, backend: str
) -> None:
    """The floor's FLOP count is what one of our updates computes: its matmul calls, recorded
    below autograd and the manual backward alike, sum to `update_flops`' total (autograd's
    frozen-critic pass forms the whole first-layer input gradient and slices the action out:
    the observation columns' extra, nothing else)."""
    from agents import SACAgent
    from agents.replay_buffer import ReplayBuffer

    config = settings.ours_config(update_backend=backend)
    agent = SACAgent(obs_dim, action_dim, config, "cpu")
    buffer = ReplayBuffer(1000, obs_dim, action_dim, "cpu")
    buffer.add(*measure.random_transitions(1000, obs_dim, action_dim, seed=0).values())
    calls = flops.record_update_matmuls(agent, buffer.sample(config.batch_size))
    recorded = sum(flops.matmul_call_flops(call) for call in calls)

    expected = flops.update_flops(obs_dim, action_dim, [256, 256], 256)["total"]
    if backend == "autograd":
        expected += 2 * (2 * 256 * 256 * obs_dim)  # 2 critics: (B, H) @ (H, obs) more
    assert recorded == pytest.approx(expected, rel=1e-12)
    assert agent.num_updates == 1  # the recorded update is a real one


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
    assert_summary_ratios(data)

    machine = data["machine"]
    assert machine["cpu_model"] and machine["cpu_count"] >= 1 and machine["threads"] >= 1
    assert machine["torch"] and machine["date"]
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                          text=True).stdout.strip()  # fmt: skip
    assert machine["commit"].split("+")[0] == head  # the report names the code it measured

    assert [(r["impl"], r["env_id"]) for r in data["runs"]] == [
        ("ours", "Pendulum-v1"),
        ("sb3", "Pendulum-v1"),
    ]
    for run in data["runs"]:
        for key in ("steps_per_s", "ms_per_update", "env_step_us", "peak_rss_mb", "floor_ratio"):
            assert run[key] > 0, (run["impl"], key)
        assert all(rate > 0 for rate in run["matmul_gflops"].values())
    ours = data["runs"][0]
    assert ours["ms_matmuls_only"] > 0 and ours["matmul_calls_per_update"] > 0
    assert ours["recorded_matmul_flops"] == pytest.approx(
        data["flops"]["Pendulum-v1"]["flops"]["total"]
    )
    assert ours["matmuls_only_floor_ratio"] == pytest.approx(
        ours["ms_matmuls_only"] / ours["floor_ms"]
    )

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
        "matmuls alone",
    ):
        assert text in markdown, text

    # --render measures nothing and rebuilds the same report from results.json, saying so.
    speed.main(["--render", str(tmp_path / "results.json"), "--output", str(tmp_path / "again")])
    again = (tmp_path / "again" / "RESULTS.md").read_text()
    assert "re-rendered from its results.json" in again.splitlines()[2]
    assert again.splitlines()[3:] == markdown.splitlines()[3:]
    assert "re-rendered" not in markdown
    # ...given the results folder itself, too.
    speed.main(["--render", str(tmp_path), "--output", str(tmp_path / "from_folder")])
    from_folder = (tmp_path / "from_folder" / "RESULTS.md").read_text()
    assert from_folder.splitlines()[3:] == markdown.splitlines()[3:]


def test_solve_and_sample_efficiency_paths_run_and_render() -> None:
    """The parts --quick skips, at toy sizes in this process: both implementations train a few
    hundred steps, and the report renders their sections."""

    solve = [
        children.child_solve(
            {
                "env_id": "Pendulum-v1",
                "impl": impl,
                "seed": 0,
                "eval_every": 150,
                "eval_episodes": 1,
                "max_steps": 300,
            }
        )
        for impl in settings.IMPLS
    ]
    final = [
        children.child_final_return(
            {
                "env_id": "Pendulum-v1",
                "impl": impl,
                "seed": 0,
                "steps": 200,
                "lr": 3e-4,
                "eval_episodes": 1,
            }
        )
        for impl in settings.IMPLS
    ]
    for run in solve:
        assert [p["step"] for p in run["curve"]][:1] == [150]
        assert all(p["train_s"] > 0 for p in run["curve"])
    assert all(run["return_mean"] < 0 and run["train_s"] > 0 for run in final)

    run_settings = {
        "eval_episodes": 1,
        "eval_every": 150,
        "solve_max_steps": 300,
        "solve_seeds_list": [0],
        "se_steps": 200,
        "se_lr": 3e-4,
        "se_seeds_list": [0],
    }
    results = {
        "settings": run_settings,
        "solve": {
            "runs": solve,
            "summary": summary.summarize_pairs(
                solve, lambda r: None if r["solved"] is None else r["solved"]["train_s"]
            ),
        },
        "sample_efficiency": {
            "runs": final,
            "summary": summary.summarize_pairs(final, lambda r: r["return_mean"]),
        },
    }
    text = "\n".join(report.render_solve(results) + report.render_sample_efficiency(results))
    assert "## Time to solve Pendulum-v1" in text and "| 0 |" in text
    assert "## Sample efficiency (Pendulum-v1)" in text and "Mean over seeds" in text


def hand_made_runs(impl: str, rows: list[tuple[float, ...]]) -> list[dict[str, Any]]:
    """Runs as speed.py records them, from rows of (mm GFLOP/s, steps/s, ms/update, env step
    µs, peak RSS MiB)."""
    names = ("steps_per_s", "ms_per_update", "env_step_us", "peak_rss_mb")
    return [
        {"env_id": "Pendulum-v1", "impl": impl, "matmul_gflops": {"mm": gflops},
         **dict(zip(names, metrics))}
        for gflops, *metrics in rows
    ]  # fmt: skip


def test_summary_ratios_follow_documented_directions() -> None:
    """summarize() on hand-made runs (no training): medians per implementation, ratios in the
    documented direction, the floor ratio as ms/update over that run's FLOP floor."""
    # Three runs each; the medians (middle values) differ from the means on purpose.
    ours = hand_made_runs(
        "ours", [(50.0, 300.0, 2.0, 11.0, 650.0), (40.0, 290.0, 2.5, 12.0, 700.0),
                 (60.0, 900.0, 1.0, 10.0, 600.0)]
    )  # fmt: skip
    sb3 = hand_made_runs(
        "sb3", [(20.0, 100.0, 8.0, 55.0, 325.0), (30.0, 120.0, 10.0, 50.0, 400.0),
                (25.0, 50.0, 6.0, 60.0, 300.0)]
    )  # fmt: skip
    runs = [run for pair in zip(ours, sb3) for run in pair]  # as run: ours, SB3, ours, ...
    summaries, floors = summary.summarize(runs, ["Pendulum-v1"])
    rows = summaries["Pendulum-v1"]

    # Medians: ours 300 steps/s, 2.0 ms, 11 us, 650 MiB; SB3 100, 8.0, 55, 325.
    assert rows["steps_per_s"]["ratio"] == pytest.approx(3.0)  # ours/SB3
    assert rows["ms_per_update"]["ratio"] == pytest.approx(4.0)  # SB3/ours
    assert rows["env_step_us"]["ratio"] == pytest.approx(5.0)  # SB3/ours
    assert rows["peak_rss_mb"]["ratio"] == pytest.approx(2.0)  # ours/SB3
    assert rows["ms_per_update"]["ours_runs"] == [2.0, 2.5, 1.0]

    # Floor: Pendulum's FLOPs per update at each run's own torch.mm rate.
    total = flops.update_flops(3, 1, [256, 256], 256)["total"]
    for run in runs:
        floor_ms = total / (run["matmul_gflops"]["mm"] * 1e9) * 1e3
        assert run["floor_ms"] == pytest.approx(floor_ms)
        assert run["floor_ratio"] == pytest.approx(run["ms_per_update"] / floor_ms)
    floor_ours = statistics.median(r["ms_per_update"] * r["matmul_gflops"]["mm"] for r in ours)
    floor_sb3 = statistics.median(r["ms_per_update"] * r["matmul_gflops"]["mm"] for r in sb3)
    floor_ours, floor_sb3 = floor_ours * 1e6 / total, floor_sb3 * 1e6 / total
    assert rows["floor_ratio"]["ours"] == pytest.approx(floor_ours)
    assert rows["floor_ratio"]["sb3"] == pytest.approx(floor_sb3)
    assert rows["floor_ratio"]["ratio"] == pytest.approx(floor_ours / floor_sb3)
    # The shared floor: median mm rate over all six runs (35 GFLOP/s).
    assert floors["Pendulum-v1"]["gflops_mm_median"] == pytest.approx(35.0)
    assert floors["Pendulum-v1"]["floor_ms_median"] == pytest.approx(total / 35e9 * 1e3)

    assert_summary_ratios({"runs": runs, "summary": summaries})

    # The report prints each ratio with its direction.
    text = "\n".join(report.render_speed({"runs": runs, "summary": summaries, "flops": floors}))
    for label, cell in (
        ("env-steps/s", "3.00× (ours/sb3)"),
        ("ms per update", "4.00× (sb3/ours)"),
        ("raw env step", "5.00× (sb3/ours)"),
        ("peak RSS", "2.00× (ours/sb3)"),
    ):
        line = next(line for line in text.splitlines() if line.startswith(f"| {label}"))
        assert cell in line, line


class Captured(Exception):
    """Raised by the stand-ins for train_ours/train_sb3 once they have recorded their arguments."""


def capture_training(monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, Any]]:
    """Replace the two training functions the child tasks call with recorders, so a child
    task's settings for each implementation can be read without training."""
    calls: dict[str, dict[str, Any]] = {}

    def ours(env_id, config, learning_starts, total_steps, seed, hook, device="cpu", **_):
        calls["ours"] = dict(config=config, learning_starts=learning_starts, total=total_steps)
        raise Captured

    def sb3(env_id, kwargs, total_steps, seed, hook, device="cpu"):
        calls["sb3"] = dict(kwargs=kwargs, total=total_steps)
        raise Captured

    monkeypatch.setattr(children, "train_ours", ours)
    monkeypatch.setattr(children, "train_sb3", sb3)
    return calls


def layer_shapes(linears: list[Any]) -> list[tuple[int, int]]:
    return [(layer.in_features, layer.out_features) for layer in linears]


@pytest.mark.parametrize("task", ["speed", "final_return"])
def test_identical_hyperparameters(task: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """What child_speed and child_final_return hand each implementation, built into a real
    SB3 SAC and a real SACAgent: every shared hyperparameter is the same on both sides."""
    import torch
    from stable_baselines3 import SAC
    from stable_baselines3.common.type_aliases import TrainFrequencyUnit

    from agents import SACAgent

    calls = capture_training(monkeypatch)
    if task == "speed":
        spec = {"env_id": "Pendulum-v1", "seed": 0, "env_steps": 10, "warmup": 7, "steps": 30}
        child, lr = children.child_speed, 3e-4
    else:  # a learning rate off the default: it must reach all three optimizers on both sides
        spec = {"env_id": "Pendulum-v1", "seed": 0, "steps": 500, "lr": 1e-3, "eval_episodes": 1}
        child, lr = children.child_final_return, 1e-3
    for impl in settings.IMPLS:
        with pytest.raises(Captured):
            child({**spec, "impl": impl})
    config, learning_starts = calls["ours"]["config"], calls["ours"]["learning_starts"]
    assert calls["ours"]["total"] == calls["sb3"]["total"]

    agent = SACAgent(3, 1, config, "cpu")  # Pendulum-v1: obs 3, action 1
    model = SAC("MlpPolicy", "Pendulum-v1", device="cpu", **calls["sb3"]["kwargs"])

    assert model.gamma == config.gamma == 0.99
    assert model.tau == config.tau == 0.005
    assert model.batch_size == config.batch_size == 256
    assert model.replay_buffer.buffer_size == config.buffer_size == 1_000_000
    assert model.learning_starts == learning_starts == 1000
    # Learning rates, as the optimizers hold them: actor, critics, temperature.
    for theirs, mine in (
        (model.actor.optimizer, agent.actor_optimizer),
        (model.critic.optimizer, agent.critic_optimizer),
        (model.ent_coef_optimizer, agent.alpha_optimizer),
    ):
        assert theirs.param_groups[0]["lr"] == pytest.approx(mine.param_groups[0]["lr"])
        assert mine.param_groups[0]["lr"] == pytest.approx(lr)
    assert model.lr_schedule(0.0) == pytest.approx(lr)  # constant over training in SB3 too
    # Temperature: learned on both sides, from the same start, toward the same target.
    assert model.log_ent_coef.requires_grad and agent.log_alpha.requires_grad
    assert model.log_ent_coef.exp().item() == pytest.approx(agent.log_alpha.exp().item())
    assert agent.log_alpha.exp().item() == pytest.approx(1.0)
    assert model.target_entropy == pytest.approx(agent.target_entropy) == -1.0
    # Networks: same layer sizes, same number of critics.
    sb3_actor = [m for m in model.actor.latent_pi if isinstance(m, torch.nn.Linear)]
    for theirs, mine in (
        (model.actor.mu, agent.actor.mu),
        (model.actor.log_std, agent.actor.log_std),
    ):
        assert layer_shapes([*sb3_actor, theirs]) == layer_shapes(
            [*agent.actor.trunk_linears, mine]
        )
    assert layer_shapes(agent.actor.trunk_linears) == [(3, 256), (256, 256)]
    assert model.critic.n_critics == agent.critic.num_critics == config.num_critics == 2
    for q_net in model.critic.q_networks:
        shapes = layer_shapes([m for m in q_net if isinstance(m, torch.nn.Linear)])
        assert shapes == [tuple(layer.weight.shape[1:]) for layer in agent.critic.layers]
        assert shapes == [(4, 256), (256, 256), (256, 1)]
    # Updates per env step: SB3 trains gradient_steps every train_freq env steps (one env).
    assert model.train_freq.unit == TrainFrequencyUnit.STEP and model.n_envs == 1
    assert model.gradient_steps / model.train_freq.frequency == config.utd == 1
    # One actor, temperature and target-critic step with every critic step, on both sides.
    assert model.target_update_interval == config.actor_update_every == 1


class FakeClock:
    """time.perf_counter stand-in: advanced by hand (training) and by the fake evaluate."""

    def __init__(self) -> None:
        self.now = 1000.0

    def perf_counter(self) -> float:
        return self.now


def test_solve_clock_stops_at_first_solve_and_excludes_eval_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SolveClock driven step by step: 1 s of training per env step, 100 s per evaluation, a
    scripted return per evaluation. It evaluates every `every` steps only, reports training
    seconds without evaluation time, and stops at the first return >= -200."""
    clock_time = FakeClock()
    monkeypatch.setattr(training, "time", SimpleNamespace(perf_counter=clock_time.perf_counter))
    clock = training.SolveClock("Pendulum-v1", seed=3, every=5, episodes=2)
    scripted = iter([-1000.0, -200.001, -200.0])  # then -50 for every later evaluation
    evals = []

    def fake_evaluate(policy, envs, episodes, seed=None):
        assert envs is clock.eval_envs
        evals.append((episodes, seed))
        clock_time.now += 100.0
        return {"return_mean": next(scripted, -50.0)}

    monkeypatch.setattr(training, "evaluate", fake_evaluate)  # where SolveClock looks it up
    clock.start()
    stopped_at = None
    for step in range(1, 31):
        clock_time.now += 1.0  # this env step's training
        if clock(step, policy=lambda obs: obs):
            stopped_at = step
            break

    assert stopped_at == 15  # -200.001 at step 10 is not solved; -200.0 at 15 is
    assert evals == [(2, 3 + settings.EVAL_SEED_OFFSET)] * 3  # steps 5, 10, 15 only
    assert clock.curve == [
        {"step": 5, "train_s": 5.0, "return_mean": -1000.0},
        {"step": 10, "train_s": 10.0, "return_mean": -200.001},
        {"step": 15, "train_s": 15.0, "return_mean": -200.0},
    ]
    assert clock.solved == {"step": 15, "train_s": 15.0, "return_mean": -200.0}


@pytest.mark.parametrize("impl", ["ours", "sb3"])
def test_solve_clock_ends_training(impl: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """In each implementation's real training loop (random actions only: learning starts after
    the run), the loop ends at the step the clock reports solved: no later evaluation."""
    clock = training.SolveClock("Pendulum-v1", seed=0, every=100, episodes=1)
    real_evaluate, scripted, steps_seen = training.evaluate, iter([-900.0, -150.0]), []

    def fake_evaluate(policy, envs, episodes, seed=None):
        if envs is not clock.eval_envs:  # the training loop's own final evaluation
            return real_evaluate(policy, envs, episodes, seed=seed)
        return {"return_mean": next(scripted, -100.0)}

    monkeypatch.setattr(training, "evaluate", fake_evaluate)  # where SolveClock looks it up

    class Recorder(training.Hook):
        def start(self) -> None:
            clock.start()

        def __call__(self, step: int, policy: Any) -> bool:
            steps_seen.append(step)
            return clock(step, policy)

    if impl == "ours":
        config = settings.ours_config(hidden_sizes=[8])
        training.train_ours("Pendulum-v1", config, 10_000, 1000, 0, Recorder())
    else:
        kwargs = settings.sb3_kwargs(learning_starts=10_000) | {"policy_kwargs": {"net_arch": [8]}}
        training.train_sb3("Pendulum-v1", kwargs, 1000, 0, Recorder())
    assert steps_seen == list(range(1, 201))
    assert [p["step"] for p in clock.curve] == [100, 200]
    assert clock.solved is not None and clock.solved["step"] == 200


@pytest.mark.parametrize(
    ("fields", "slug"),
    [
        ({"cpu_model": "Intel(R) Xeon(R) Processor", "cpu_count": 2}, "xeon-2c"),
        ({"cpu_model": "AMD EPYC 7763 64-Core Processor", "cpu_count": 16}, "epyc-7763-16c"),
        ({"cpu_model": "Intel(R) Core(TM) i7-9750H CPU @ 2.60GHz", "cpu_count": 12},
         "core-i7-9750h-12c"),
        ({"cpu_model": "Intel(R) Xeon(R) Processor", "cpu_count": 16, "gpu": "NVIDIA H200"},
         "h200"),
        ({"cpu_model": "Intel(R) Xeon(R) Processor", "cpu_count": 16,
          "gpu": "NVIDIA H100 80GB HBM3"}, "h100"),
        ({"cpu_model": "x", "cpu_count": 8, "gpu": "NVIDIA A100-SXM4-80GB"}, "a100"),
        ({"cpu_model": "x", "cpu_count": 8, "gpu": "NVIDIA GeForce RTX 4090"}, "rtx-4090"),
    ],
)  # fmt: skip
def test_machine_slug_names_the_gpu_or_the_cpu_and_its_cores(fields: dict, slug: str) -> None:
    assert machine.machine_slug(fields) == slug


def test_results_folder_is_named_by_date_and_machine_and_never_reused(tmp_path: Path) -> None:
    info = {"date": "2026-11-30T11:48:38+00:00", "cpu_model": "Intel(R) Xeon(R) Processor",
            "cpu_count": 2, "gpu": None}  # fmt: skip
    first = machine.default_output_dir(info, tmp_path)
    assert first == tmp_path / "2026-11-30-xeon-2c"
    first.mkdir()
    assert machine.default_output_dir(info, tmp_path) == first  # nothing written there yet
    (first / "results.json").write_text("{}")
    second = machine.default_output_dir(info, tmp_path)
    assert second == tmp_path / "2026-11-30-xeon-2c-2"
    second.mkdir()
    (second / "results.json").write_text("{}")
    assert machine.default_output_dir(info, tmp_path) == tmp_path / "2026-11-30-xeon-2c-3"
    assert machine.default_output_dir(info | {"gpu": "NVIDIA H200"}, tmp_path).name == (
        "2026-11-30-h200"
    )


def test_report_name_follows_the_results_file() -> None:
    assert report.markdown_name("results.json") == "RESULTS.md"
    assert report.markdown_name("results-solve.json") == "RESULTS-solve.md"
    assert report.markdown_name("other.json") == "other.md"


def test_stored_results_are_named_by_the_date_and_machine_they_record() -> None:
    """Each folder under benchmarks/results/ is <date>-<machine>[-suffix] of the runs it holds,
    and each results JSON there has its rendered report beside it; the arms recorded in its
    returns/ (benchmarks/arm_records.py) were finished on that machine."""
    from benchmarks import arm_records

    folders = [p for p in (REPO / "benchmarks" / "results").iterdir() if p.is_dir()]
    assert folders
    for folder in folders:
        files = sorted(folder.glob("results*.json"))
        arms = sorted(folder.glob(f"{arm_records.RETURNS}/*/steps*/*"))
        assert files or arms, folder.name
        for arm in arms:
            machine_name = arm_records.read_provenance(arm)["machine"].split(" + ")[-1]
            assert re.fullmatch(rf"\d{{4}}-\d\d-\d\d-{machine_name}", folder.name), arm
        for path in files:
            info = json.loads(path.read_text())["machine"]
            name = f"{info['date'][:10]}-{machine.machine_slug(info)}"
            assert folder.name == name or folder.name.startswith(f"{name}-"), (folder.name, name)
            assert (folder / report.markdown_name(path.name)).is_file(), path


def test_benchmarks_import_no_cli() -> None:
    """train.py and evaluate.py are CLIs: benchmarks/ builds on runner/, envs/ and agents/."""
    import ast

    for path in (REPO / "benchmarks").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            assert not {n.split(".")[0] for n in names} & {"train", "evaluate"}, (path, names)


def test_swapped_network_solve_runs_take_the_other_librarys_network(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Time to solve with the networks swapped: only the network changes (ours 256x256 with its
    tuned settings, SB3 64x64 with the zoo's), and the report states both equal-network ratios."""
    seen: dict[str, Any] = {}
    monkeypatch.setattr(
        children, "train_ours", lambda env, config, *a, **k: seen.__setitem__("ours", config)
    )
    monkeypatch.setattr(
        children, "train_sb3", lambda env, kwargs, *a, **k: seen.__setitem__("sb3", kwargs)
    )
    spec = {"env_id": "Pendulum-v1", "seed": 0, "eval_every": 100, "eval_episodes": 1}
    spec["max_steps"] = 100
    tuned_ours, _ = settings.ours_tuned_pendulum()
    for impl, hidden in (("ours", None), ("sb3", None), ("ours", [256, 256]), ("sb3", [64, 64])):
        children.child_solve({**spec, "impl": impl, "hidden_sizes": hidden})
        if impl == "ours":
            assert seen["ours"].hidden_sizes == (hidden or tuned_ours.hidden_sizes)
            assert seen["ours"].tau == tuned_ours.tau and seen["ours"].actor_lr == 1e-3
        else:
            zoo = settings.sb3_kwargs(**settings.ZOO_PENDULUM)
            assert seen["sb3"]["policy_kwargs"]["net_arch"] == (hidden or [256, 256])
            assert {k: v for k, v in seen["sb3"].items() if k != "policy_kwargs"} == {
                k: v for k, v in zoo.items() if k != "policy_kwargs"
            }

    def run(impl: str, seconds: float) -> dict[str, Any]:
        return {"impl": impl, "seed": 0, "solved": {"train_s": seconds, "step": 3000}}

    def seconds(r: dict) -> float:
        return r["solved"]["train_s"]

    own, swapped = [run("ours", 5.0), run("sb3", 30.0)], [run("ours", 15.0), run("sb3", 20.0)]
    results = {
        "settings": {
            "eval_episodes": 10,
            "eval_every": 1000,
            "solve_max_steps": 20000,
            "solve_seeds_list": [0],
        },  # fmt: skip
        "solve": {
            "runs": own,
            "summary": summary.summarize_pairs(own, seconds),
            "swapped_runs": swapped,
            "swapped_summary": summary.summarize_pairs(swapped, seconds),
        },
    }
    text = "\n".join(report.render_solve(results))
    assert "SB3/ours = 6.00× faster to solve." in text  # each library's own config
    assert "ours at 256x256 15.0 s against SB3's 256x256 30.0 s: SB3/ours = 2.00×" in text
    assert "ours at 64x64 5.0 s against SB3 at 64x64 20.0 s: SB3/ours = 4.00×" in text


def test_sweep_walltime_runs_each_launcher_on_the_same_seeds(tmp_path: Path) -> None:
    """benchmarks/sweep_walltime.py at a tiny size: each launcher's sweep finishes, its jobs
    learn the same returns from the same seeds (only the scheduling differs), and joblib's
    jobs train on one thread each."""
    from benchmarks import sweep_walltime

    out = tmp_path / "results"
    tiny = ["total_steps=200", "learning_starts=100", "eval.every=0", "eval.episodes=1",
            "agent.hidden_sizes=[16,16]", "agent.batch_size=16"]  # fmt: skip
    args = ["--seeds", "0", "--runs", str(tmp_path / "runs"), "--output", str(out), *tiny]
    assert sweep_walltime.main(args) == 0
    results = json.loads((out / "results-sweep-walltime.json").read_text())
    basic, joblib = results["sweeps"]
    assert (basic["launcher"], joblib["launcher"]) == ("basic", "joblib")
    assert basic["jobs"][0]["eval_return_mean"] == joblib["jobs"][0]["eval_return_mean"]
    assert joblib["jobs"][0]["torch_threads"] == 1  # n_jobs=-1: a job per core
    assert (out / "RESULTS-sweep-walltime.md").is_file()


def test_sweep_walltime_alternates_abba_on_the_next_seeds(tmp_path, monkeypatch) -> None:
    """--repeats 2 --next-seeds: basic, joblib, then joblib, basic on the next seeds, and the
    report's ratio is of the total wall times (the sweeps themselves stubbed: seconds each)."""
    from benchmarks import sweep_walltime

    walls = iter([10.0, 6.0, 7.0, 12.0])
    calls = []

    def fake_sweep(launcher, env, seeds, sweep_dir, extra):
        calls.append((launcher, seeds))
        job = {"seed": seeds[0], "steps_per_second": 100.0, "torch_threads": 1,
               "eval_return_mean": -150.0}  # fmt: skip
        return next(walls), [job]

    monkeypatch.setattr(sweep_walltime, "run_sweep", fake_sweep)
    out = tmp_path / "results"
    args = ["--seeds", "0", "1", "--repeats", "2", "--next-seeds", "--output", str(out)]
    assert sweep_walltime.main(args) == 0
    assert calls == [("basic", [0, 1]), ("joblib", [0, 1]), ("joblib", [2, 3]),
                     ("basic", [2, 3])]  # fmt: skip
    text = (out / "RESULTS-sweep-walltime.md").read_text()
    assert "| basic | 22.0 | 1.00 |" in text and "| joblib | 13.0 | 0.59 |" in text
    assert "seeds 0, 1, then the next 2 in each further repeat" in text
    rendered = sweep_walltime.main(["--render", str(out / "results-sweep-walltime.json")])
    assert rendered == 0 and (out / "RESULTS-sweep-walltime.md").read_text() == text


def test_a_figure_names_its_commit_with_changes_to_code_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Prose, figures and results written up while a run trains leave its commit clean; any
    other tracked file changed makes it "+changes"."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
            cwd=tmp_path, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip

    files = [
        "agents/sac.py",
        "README.md",
        "docs/results.md",
        "docs/figures/a.png",
        "benchmarks/results/2026-01-01-cpu-2c/results.json",
        "benchmarks/results_plan.txt",
    ]
    git("init", "-q")
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("first\n")
    git("add", "-A")
    git("commit", "-qm", "first")
    monkeypatch.setattr(machine, "REPO", tmp_path)
    commit = git("rev-parse", "--short", "HEAD")
    for name in files[1:]:
        (tmp_path / name).write_text("written up\n")
    (tmp_path / "untracked.py").write_text("not part of the commit's tree\n")
    assert machine.code_commit() == commit
    (tmp_path / "agents" / "sac.py").write_text("changed\n")
    assert machine.code_commit() == f"{commit}+changes"
