"""W&B tracking read back from real offline runs (no network), plus the local metrics log."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from sac_test_support import REPO, TINY, read_wandb_records, run_train, wandb_summary  # noqa: E402

from agents.checkpoint import load_checkpoint  # noqa: E402

TINY_TRACKED = [o for o in TINY if not o.startswith("wandb.")]
TRAIN_METRICS = {
    "train/critic_loss",
    "train/actor_loss",
    "train/alpha",
    "train/alpha_loss",
    "train/entropy",
    "train/q_mean",
    "time/steps_per_second",
    "time/updates",
}
ROLLOUT_METRICS = {"rollout/episode_return", "rollout/episode_length"}
EVAL_METRICS = {"eval/return_mean", "eval/return_std", "eval/length_mean"}


def read_offline_run(run_dir: Path) -> list[dict[str, Any]]:
    """Every record of the run's .wandb log, decoded by wandb's own inspector."""
    (wandb_file,) = (run_dir / "wandb").glob("offline-run-*/run-*.wandb")
    return read_wandb_records(wandb_file)


@pytest.fixture(scope="module")
def offline_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    run_dir = tmp_path_factory.mktemp("tracked") / "run"
    run_train(
        run_dir,
        *TINY_TRACKED,
        "wandb.mode=offline",
        "eval.video=true",
        "log_every=100",
        "eval.every=200",
        "wandb.tags=[smoke,test]",
        "wandb.group=ci",
    )
    return run_dir, read_offline_run(run_dir)


def test_config_holds_env_seed_and_hyperparameters(offline_run) -> None:
    _, records = offline_run
    (run,) = [r["run"] for r in records if r["type"] == "run"]
    config = run["config"]["update"]
    assert config["env"]["id"] == "Pendulum-v1"
    assert config["seed"] == 0
    assert config["agent"]["hidden_sizes"] == [32, 32]
    assert config["agent"]["batch_size"] == 32
    assert config["agent"]["gamma"] == pytest.approx(0.98)  # from configs/env/Pendulum-v1.yaml
    assert sorted(run["tags"]) == ["smoke", "test"]
    assert run["run_group"] == "ci" and run["job_type"] == "train"
    assert run["display_name"].startswith("Pendulum-v1__sac__seed0__")


def test_history_has_every_metric_against_env_steps(offline_run) -> None:
    _, records = offline_run
    history = [r["history"]["item"] for r in records if r["type"] == "history"]
    names = set().union(*history)
    assert names >= TRAIN_METRICS | ROLLOUT_METRICS | EVAL_METRICS
    steps = [item["global_step"] for item in history]
    assert steps == sorted(steps) and steps[-1] == 300
    step_metric = [r["metric"] for r in records if r["type"] == "metric"]
    assert {"glob_name": "*", "step_metric": "global_step"}.items() <= {
        **next(m for m in step_metric if m.get("glob_name") == "*")
    }.items()


def test_eval_video_saved_and_referenced(offline_run) -> None:
    run_dir, records = offline_run
    local_videos = sorted((run_dir / "videos").glob("*.mp4"))
    assert [v.name for v in local_videos] == [
        "eval-step200-episode-0.mp4",
        "eval-step300-episode-0.mp4",
    ]
    assert all(v.stat().st_size > 1000 for v in local_videos)
    logged = [
        r["history"]["item"]
        for r in records
        if r["type"] == "history" and "eval/video.path" in r["history"]["item"]
    ]
    assert len(logged) == 2
    (offline_dir,) = (run_dir / "wandb").glob("offline-run-*")
    for item in logged:
        assert item["eval/video._type"] == "video-file"
        assert (offline_dir / "files" / item["eval/video.path"]).stat().st_size > 1000


def test_model_artifacts_best_and_latest(offline_run) -> None:
    run_dir, records = offline_run
    artifacts = [r["artifact"] for r in records if r["type"] == "artifact"]
    files = [a["manifest"]["contents"][0]["path"] for a in artifacts]
    # W&B tags every new version `latest` and moves the alias to the newest one, so the final
    # model must be logged after the best one.
    assert files == ["best.pt", "model.pt"]
    assert "best" in artifacts[0]["aliases"]
    assert {"latest", "final"} <= set(artifacts[1]["aliases"])
    assert len({a["name"] for a in artifacts}) == 1  # two versions of one model artifact
    local = json.loads((run_dir / "summary.json").read_text())
    best = load_checkpoint(run_dir / "best.pt")
    expected = [  # (step, eval return) of best.pt, then of the final model
        (best["step"], best["eval"]["return_mean"]),
        (local["total_steps"], local["eval_return_mean"]),
    ]
    for artifact, (step, eval_return) in zip(artifacts, expected):
        assert artifact["type"] == "model"
        metadata = json.loads(artifact["metadata"])
        assert metadata["env_id"] == "Pendulum-v1"
        assert metadata["step"] == step
        assert metadata["eval_return_mean"] == pytest.approx(eval_return)
    summary = wandb_summary(records)
    assert summary["eval/final_return_mean"] == pytest.approx(local["eval_return_mean"])
    assert summary["eval/best_return_mean"] >= summary["eval/final_return_mean"]


def test_wandb_offline_run_is_written(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_train(run_dir, *[o for o in TINY if not o.startswith("wandb.")], "wandb.mode=offline")
    run_files = list((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(run_files) == 1 and run_files[0].stat().st_size > 0


def test_local_log_complete_when_disabled(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_train(run_dir, *TINY, "log_every=100")  # TINY has wandb.mode=disabled
    assert not (run_dir / "wandb").exists()
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    names = set().union(*lines)
    assert names >= TRAIN_METRICS | ROLLOUT_METRICS | EVAL_METRICS
    assert [line["step"] for line in lines] == sorted(line["step"] for line in lines)


def test_auto_mode_without_key_goes_offline_with_hint(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    run_dir = tmp_path / "run"
    result = run_train(run_dir, *TINY_TRACKED, "wandb.mode=auto")
    (offline_dir,) = (run_dir / "wandb").glob("offline-run-*")
    assert list(offline_dir.glob("run-*.wandb"))
    assert f"wandb sync {offline_dir}`" in result.stderr  # the exact folder `wandb sync` takes


def test_wandb_failure_mid_run_keeps_training(tmp_path: Path, monkeypatch) -> None:
    """A real offline run whose wandb.log starts raising part-way still finishes cleanly."""
    import wandb
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from runner.config_store import register_configs
    from runner.training import run_training

    register_configs()  # TrainConfig as Hydra's base_config, and the path_safe resolver
    for var in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(var, str(tmp_path))
    calls = {"n": 0}
    real_log = wandb.Run.log

    def flaky_log(self, *args, **kwargs):  # fault injection: W&B's backend dies mid-run
        calls["n"] += 1
        if calls["n"] > 3:
            raise ConnectionError("wandb backend went away")
        return real_log(self, *args, **kwargs)

    monkeypatch.setattr(wandb.Run, "log", flaky_log)
    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base=None):
        dict_cfg = compose(
            config_name="config", overrides=[*TINY_TRACKED, "wandb.mode=offline", "log_every=50"]
        )
    with pytest.warns(UserWarning, match="W&B logging disabled"):
        summary = run_training(
            OmegaConf.to_object(dict_cfg), OmegaConf.to_container(dict_cfg), tmp_path
        )
    assert calls["n"] == 4  # it stopped calling W&B after the first failure
    assert summary["total_steps"] == 300
    assert (tmp_path / "checkpoint.pt").is_file() and (tmp_path / "summary.json").is_file()
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert any("eval/return_mean" in line for line in lines)


def test_online_mode_without_server_falls_back_to_offline(tmp_path: Path) -> None:
    """An unreachable server (a closed local port) costs at most wandb.init_timeout, then the
    run logs offline with a warning instead of failing or hanging."""
    run_dir = tmp_path / "run"
    env = {"WANDB_API_KEY": "0" * 40, "WANDB_BASE_URL": "http://127.0.0.1:9"}
    overrides = [*TINY_TRACKED, "wandb.mode=online", "wandb.init_timeout=5"]
    result = run_train(run_dir, *overrides, env=env)
    assert "falling back to offline" in result.stderr
    assert "\nwarning: wandb online init failed" in result.stderr  # one plain line, no file:line
    assert "UserWarning" not in result.stderr
    (offline_dir,) = (run_dir / "wandb").glob("offline-run-*")
    assert list(offline_dir.glob("run-*.wandb"))
    assert json.loads((run_dir / "summary.json").read_text())["total_steps"] == 300
