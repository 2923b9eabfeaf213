"""benchmarks/sb3_runs.py: SB3 SAC runs in our run-dir format. A tiny two-seed run (two jobs)
writes each seed's metrics, summary, config and model on train.py's evaluation schedule, its
eval returns are what envs.evaluation.evaluate gives the saved model, a finished run dir is
never written over, an interrupted one is started over, SB3 gets our composed settings, and
settings SB3 cannot express are refused with one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from stable_baselines3 import SAC

from benchmarks import sb3_runs
from envs import make_vector_env
from envs.evaluation import evaluate
from runner.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "sb3_runs.py"
SEEDS = (0, 1)
TINY = [
    "--env", "Pendulum-v1", "--total-steps", "300", "learning_starts=100", "eval.every=100",
    "eval.episodes=1", "agent.hidden_sizes=[16,16]", "agent.batch_size=32",
    "agent.buffer_size=1000",
]  # fmt: skip

pytestmark = pytest.mark.benchmark


def run_script(out: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, str(SCRIPT), "--out", str(out), *args]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sb3")
    seeds = [str(seed) for seed in SEEDS]
    result = run_script(out, *TINY, "--seeds", *seeds, "--jobs", "2")
    assert result.returncode == 0, result.stderr[-2000:]
    return out


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("seed", SEEDS)
def test_each_seed_writes_our_run_files(out: Path, seed: int) -> None:
    run_dir = out / f"Pendulum-v1_seed{seed}"
    rows = read_jsonl(run_dir / "metrics.jsonl")
    evals = [row for row in rows if "eval/return_mean" in row]
    assert [row["step"] for row in evals] == [100, 200, 300]
    assert all(set(row) == {"step", "eval/return_mean", "eval/return_std", "eval/length_mean"}
               for row in evals)  # fmt: skip
    episodes = [row for row in rows if "rollout/episode_return" in row]
    assert [(row["step"], row["rollout/episode_length"]) for row in episodes] == [(200, 200)]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["library"] == "stable-baselines3" and summary["sb3_version"]
    assert summary["env_id"] == "Pendulum-v1" and summary["seed"] == seed
    assert summary["total_steps"] == 300
    assert summary["eval_return_mean"] == evals[-1]["eval/return_mean"]
    assert summary["eval_returns"] == [summary["eval_return_mean"]]
    assert summary["best_eval_return_mean"] == max(row["eval/return_mean"] for row in evals)
    recent = [row["eval/return_mean"] for row in evals]  # eval.objective_evals=3: all three
    assert summary["eval_return_recent_mean"] == pytest.approx(sum(recent) / 3)
    assert summary["eval_recent_count"] == 3
    assert summary["updates"] == 200  # one per env step after learning_starts, as ours
    assert summary["torch_threads"] == max(1, len(os.sched_getaffinity(0)) // 2)  # two jobs
    config = (run_dir / "config.yaml").read_text()
    assert "library: stable-baselines3" in config and "id: Pendulum-v1" in config
    assert f"seed: {seed}" in config.splitlines()


@pytest.mark.parametrize("seed", SEEDS)
def test_eval_return_is_our_evaluate_of_the_saved_model(out: Path, seed: int) -> None:
    """The final eval row is evaluate() of model.zip on envs seeded seed + eval.seed_offset."""
    run_dir = out / f"Pendulum-v1_seed{seed}"
    model = SAC.load(run_dir / "model.zip", device="cpu")
    envs = make_vector_env("Pendulum-v1", 1)
    try:
        report = evaluate(sb3_runs.sb3_policy(model), envs, 1, seed=seed + 10_000)
    finally:
        envs.close()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert report["return_mean"] == pytest.approx(summary["eval_return_mean"], rel=1e-6)


def refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """main(argv)'s one `error:` line, after checking it exits with status 2 (in this process:
    the refusals come before any training, so a subprocess would only add its imports)."""
    with pytest.raises(SystemExit) as exit_info:
        sb3_runs.main(argv)
    assert exit_info.value.code == 2
    stderr = capsys.readouterr().err
    assert stderr.startswith("error: ") and len(stderr.splitlines()) == 1
    return stderr


def test_a_finished_run_dir_is_refused_and_left_as_it_was(
    out: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()}
    assert "summary.json" in refused(["--out", str(out), *TINY, "--seeds", "1", "2"], capsys)
    assert not (out / "Pendulum-v1_seed2").exists()  # nothing starts when one seed is refused
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()}
    assert after == before


def test_an_interrupted_run_dir_is_started_over(tmp_path: Path) -> None:
    run_dir = tmp_path / "Pendulum-v1_seed3"
    run_dir.mkdir()
    (run_dir / "metrics.jsonl").write_text('{"step": 100}\n')
    (run_dir / "notes.txt").write_text("kept")
    assert sb3_runs.prepare_run_dirs(tmp_path, "Pendulum-v1", [3]) == {3: run_dir}
    assert sorted(p.name for p in run_dir.iterdir()) == ["notes.txt"]


def test_sb3_gets_our_composed_settings() -> None:
    """`python train.py env=Pendulum-v1`'s settings, in the SB3 model's own attributes."""
    cfg, _ = sb3_runs.compose_config("Pendulum-v1", ["agent.buffer_size=1000"])
    model = SAC("MlpPolicy", "Pendulum-v1", device="cpu", **sb3_runs.sb3_sac_kwargs(cfg))
    agent = cfg.agent
    assert model.learning_rate == agent.actor_lr == agent.critic_lr == agent.alpha_lr
    assert (model.batch_size, model.buffer_size) == (agent.batch_size, 1000)
    assert (model.tau, model.gamma) == (agent.tau, agent.gamma)
    assert model.learning_starts == cfg.learning_starts
    assert (model.train_freq.frequency, model.gradient_steps) == (1, 1)
    assert float(model.log_ent_coef.detach().exp()) == pytest.approx(agent.init_alpha)
    assert model.target_entropy == -1.0  # -|A|, as ours with target_entropy null
    assert model.policy.net_arch == list(agent.hidden_sizes) == [64, 64]
    assert type(model.replay_buffer).__name__ == "ReplayBuffer"  # one-step at agent.n_step=1
    assert len(model.critic.q_networks) == agent.num_critics


def test_sb3_takes_n_step_transitions_from_its_own_buffer() -> None:
    cfg, _ = sb3_runs.compose_config("Pendulum-v1", ["agent.buffer_size=1000", "agent.n_step=3"])
    model = SAC("MlpPolicy", "Pendulum-v1", device="cpu", **sb3_runs.sb3_sac_kwargs(cfg))
    assert type(model.replay_buffer).__name__ == "NStepReplayBuffer"
    assert (model.replay_buffer.n_steps, model.replay_buffer.gamma) == (3, cfg.agent.gamma)


@pytest.mark.parametrize(
    "overrides, words",
    [
        (["agent.critic_lr=3e-4"], "one learning_rate"),
        (["agent.utd=0.5"], "whole number"),
        (["agent.normalize_obs=true"], "normalization"),
        (["agent.critic_layer_norm=true"], "LayerNorm"),
        (["agent.critic_quantiles=25"], "quantile critics"),
        (["agent.num_critics=5", "agent.target_subset=2"], "no REDQ subsets"),
        (["num_envs=2"], "one env"),
    ],
)
def test_what_sb3_cannot_express_is_refused(overrides: list[str], words: str) -> None:
    cfg, _ = sb3_runs.compose_config("Pendulum-v1", overrides)
    with pytest.raises(ConfigError, match=words):
        sb3_runs.refuse_what_sb3_cannot_express(cfg)


def test_a_fixed_alpha_needs_no_alpha_learning_rate() -> None:
    """Tianshou's MuJoCo settings: lr 1e-3 for actor and critics, alpha fixed at 0.2."""
    overrides = ["agent.actor_lr=1e-3", "agent.critic_lr=1e-3", "agent.alpha_lr=3e-4"]
    cfg, _ = sb3_runs.compose_config("Pendulum-v1", [*overrides, "agent.learn_alpha=false"])
    sb3_runs.refuse_what_sb3_cannot_express(cfg)
    cfg, _ = sb3_runs.compose_config("Pendulum-v1", overrides)
    with pytest.raises(ConfigError, match="one learning_rate"):
        sb3_runs.refuse_what_sb3_cannot_express(cfg)


def test_bad_input_is_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert "NoSuch-v0" in refused(["--out", str(out), "--env", "NoSuch-v0", "--seeds", "0"], capsys)
    assert "agent.nope" in refused(
        ["--out", str(out), "--env", "Pendulum-v1", "--seeds", "0", "agent.nope=1"], capsys
    )
    assert not out.exists()
