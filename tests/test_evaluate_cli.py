"""evaluate.py end to end, as a user runs it: a real checkpoint from train.py, then the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from sac_test_support import (
    REPO,
    TINY,
    cli_in_process,
    one_torch_thread,
    read_wandb_records,
    wandb_summary,
)
from stable_baselines3 import SAC
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv

from agents.checkpoint import load_checkpoint
from agents.sb3 import SB3FormatError
from configs.schema import EvaluateConfig
from evaluate import run
from runner.errors import EvalError
from runner.models import load_checkpoint_agent

REPORT_KEYS = {
    "env_id", "checkpoint", "seed", "deterministic", "episodes", "episode_returns",
    "episode_lengths", "return_mean", "return_std", "return_min", "return_max", "return_median",
}  # fmt: skip


def _env(tmp: Path) -> dict[str, str]:
    keys = ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR")
    # One torch thread: tiny nets gain nothing from more, and on a shared CPU extra threads
    # made the training run ~15x slower. Results are the same.
    # Without the caller's HYDRA_FULL_ERROR=1 (a Hydra debugging habit), which would turn the
    # one-line errors asserted below into Hydra's tracebacks.
    inherited = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    return {**inherited, **dict.fromkeys(keys, str(tmp)), "OMP_NUM_THREADS": "1"}


def run_eval(cwd: Path, *overrides: str) -> subprocess.CompletedProcess:
    """evaluate.py from `cwd` (so stray Hydra outputs there would show)."""
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [sys.executable, str(REPO / "evaluate.py"), *overrides],
        cwd=cwd, env=_env(cwd), capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("train") / "run"
    result = subprocess.run(
        [sys.executable, "train.py", f"hydra.run.dir={run_dir}", *TINY],
        cwd=REPO, env=_env(run_dir.parent), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


@pytest.fixture(scope="module")
def first(run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One CLI run with a video; several tests read it."""
    cwd = tmp_path_factory.mktemp("cwd")
    result = run_eval(cwd, f"checkpoint={run_dir}", "episodes=3", "seed=0", "video=true")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((run_dir / "eval_report.json").read_text())
    return {"report": report, "stdout": result.stdout, "cwd": cwd}


def test_report_fields_and_table(first: dict[str, Any], run_dir: Path) -> None:
    report = first["report"]
    assert set(report) >= REPORT_KEYS
    assert report["env_id"] == "Pendulum-v1"
    assert report["checkpoint"] == str(run_dir / "checkpoint.pt")
    assert (report["seed"], report["deterministic"], report["episodes"]) == (0, True, 3)
    assert report["episode_lengths"] == [200, 200, 200]  # Pendulum's fixed episode length
    returns = np.array(report["episode_returns"])
    assert len(returns) == 3 and np.all(returns <= 0)
    assert report["return_mean"] == pytest.approx(returns.mean())
    assert report["return_std"] == pytest.approx(returns.std())
    assert report["return_median"] == pytest.approx(np.median(returns))
    assert (report["return_min"], report["return_max"]) == (returns.min(), returns.max())
    assert "success_rate" not in report  # Pendulum reports no is_success
    assert "return mean" in first["stdout"] and "median" in first["stdout"]


def test_video_written_and_cwd_left_clean(first: dict[str, Any], run_dir: Path) -> None:
    videos = first["report"]["videos"]
    assert videos == [str(run_dir / "videos" / "eval-episode-0.mp4")]
    assert Path(videos[0]).stat().st_size > 1000
    assert list(first["cwd"].iterdir()) == []  # no outputs/, .hydra/ or log file


def test_same_seed_same_returns_and_wandb_offline(
    first: dict[str, Any], run_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "again.json"
    result = run_eval(tmp_path, f"checkpoint={run_dir}", "episodes=3", "seed=0", f"output={out}",
                      "wandb.mode=offline")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["episode_returns"] == first["report"]["episode_returns"]
    # The evaluation is also a W&B run, written beside the report: an eval job with one history
    # row per episode and the report's statistics in its summary.
    (run_file,) = (tmp_path / "wandb").glob("offline-run-*/run-*.wandb")
    records = read_wandb_records(run_file)
    (wandb_run,) = [r["run"] for r in records if r["type"] == "run"]
    assert wandb_run["job_type"] == "eval"
    rows = [r["history"]["item"] for r in records if r["type"] == "history"]
    assert [row["episode"] for row in rows] == [0, 1, 2]
    assert [row["eval/episode_return"] for row in rows] == report["episode_returns"]
    assert [row["eval/episode_length"] for row in rows] == report["episode_lengths"]
    summary = wandb_summary(records)
    for key in ("return_mean", "return_std", "return_min", "return_max"):
        assert summary[f"eval/{key}"] == report[key], key


def test_stochastic_policy_samples_and_same_seed_repeats(
    first: dict[str, Any], run_dir: Path, tmp_path: Path
) -> None:
    """deterministic=false on the same env, seed and episodes as `first`: only the flag differs,
    so every return must differ; the same seed again gives the same sampled episodes."""
    out = tmp_path / "stochastic.json"
    result = run_eval(tmp_path, f"checkpoint={run_dir}/checkpoint.pt", "episodes=3", "seed=0",
                      "deterministic=false", "num_envs=1", f"output={out}")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert (report["deterministic"], report["num_envs"], report["episodes"]) == (False, 1, 3)
    deterministic = first["report"]
    assert (deterministic["num_envs"], deterministic["seed"]) == (1, report["seed"])
    assert all(s != d for s, d in zip(report["episode_returns"], deterministic["episode_returns"]))
    # Again, in this process with torch's global RNG moved elsewhere: the seed must reseed it.
    torch.manual_seed(12345)
    with one_torch_thread():
        again = run(
            EvaluateConfig(
                checkpoint=str(run_dir), episodes=3, seed=0, deterministic=False,
                output=str(tmp_path / "again.json"),
            )
        )  # fmt: skip
    assert again["episode_returns"] == report["episode_returns"]


def test_stochastic_on_two_envs_runs_the_episodes_asked(run_dir: Path, tmp_path: Path) -> None:
    config = EvaluateConfig(checkpoint=str(run_dir), episodes=3, seed=0, num_envs=2,
                            deterministic=False, output=str(tmp_path / "two.json"))  # fmt: skip
    report = run(config)
    assert (report["num_envs"], report["episodes"]) == (2, 3)
    assert len(report["episode_returns"]) == len(report["episode_lengths"]) == 3


def test_training_eval_is_evaluate_py_on_model_pt(run_dir: Path, tmp_path: Path) -> None:
    """train.py's final eval is the deterministic policy on envs seeded seed + eval.seed_offset:
    evaluate.py on the saved model.pt with that seed replays the same episodes exactly."""
    summary = json.loads((run_dir / "summary.json").read_text())
    offset = load_checkpoint(run_dir / "model.pt")["config"]["eval"]["seed_offset"]
    assert (summary["seed"], offset, summary["eval_episodes"]) == (0, 10_000, 2)
    out = tmp_path / "replay.json"
    with one_torch_thread():
        report = run(
            EvaluateConfig(
                checkpoint=str(run_dir / "model.pt"), seed=summary["seed"] + offset,
                episodes=summary["eval_episodes"], output=str(out),
            )
        )  # fmt: skip
    assert report["checkpoint"] == str(run_dir / "model.pt") and report["deterministic"]
    assert report["episode_returns"] == summary["eval_returns"]
    assert report["return_mean"] == summary["eval_return_mean"]


def test_export_sb3_cli_zip_acts_as_the_checkpoint(run_dir: Path, tmp_path: Path) -> None:
    zip_path = tmp_path / "x.zip"
    result = run_eval(tmp_path / "cwd", f"checkpoint={run_dir}", f"export_sb3={zip_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"exported SB3 SAC model to {zip_path}" in result.stdout
    assert "report:" not in result.stdout  # an export evaluates nothing
    assert list((tmp_path / "cwd").iterdir()) == []
    model = SAC.load(zip_path, device="cpu")
    agent, _, _, _ = load_checkpoint_agent(str(run_dir))
    assert (model.gamma, model.tau) == (agent.config.gamma, agent.config.tau)
    rng = np.random.default_rng(0)
    obs = rng.uniform([-1, -1, -8], [1, 1, 8], (100, 3)).astype(np.float32)
    # Both predict in Pendulum's own bounds [-2, 2] (SB3 unscales from [-1, 1] as we do).
    np.testing.assert_allclose(model.predict(obs, deterministic=True)[0],
                               agent.predict(obs, deterministic=True)[0], atol=1e-5)  # fmt: skip


def test_matches_sb3_evaluate_policy(first: dict[str, Any], run_dir: Path) -> None:
    """SB3's evaluate_policy on the raw env, calling agent.predict, sees the same episodes.

    DummyVecEnv.seed(0) seeds the first reset only, later resets continue the env's RNG: the
    same as evaluate.py's vector env with seed=0 and num_envs=1.
    """
    agent, _, _, _ = load_checkpoint_agent(str(run_dir))
    envs = DummyVecEnv([lambda: Monitor(gym.make("Pendulum-v1"))])
    envs.seed(0)
    returns, _ = evaluate_policy(agent, envs, n_eval_episodes=3, deterministic=True,
                                 return_episode_rewards=True)  # fmt: skip
    # Monitor rounds returns to 6 decimals and SB3 stores rewards as float32.
    np.testing.assert_allclose(returns, first["report"]["episode_returns"], rtol=1e-6)


@pytest.fixture
def bad_files(run_dir: Path, tmp_path: Path) -> dict[str, str]:
    (tmp_path / "corrupt.pt").write_bytes(b"definitely not a checkpoint")
    checkpoint = (run_dir / "checkpoint.pt").read_bytes()
    (tmp_path / "truncated.pt").write_bytes(checkpoint[: len(checkpoint) // 2])
    return {"tmp": str(tmp_path), "run": str(run_dir)}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["checkpoint={tmp}/missing"], "no checkpoint at {tmp}/missing"),
        (["checkpoint={run}", "env=MountainCarContinuous-v0"],
         "is for Pendulum-v1 with obs_dim=3, action_dim=1; MountainCarContinuous-v0 has obs_dim=2"),
        (["checkpoint={run}", "env=Pendulm-v1"],
         "unknown Gymnasium env id 'Pendulm-v1'; did you mean Pendulum-v1"),
        (["checkpoint={tmp}/corrupt.pt"], "{tmp}/corrupt.pt is corrupt or not a checkpoint"),
        (["checkpoint={tmp}/truncated.pt"], "{tmp}/truncated.pt is corrupt or not a checkpoint"),
        # what Hydra refuses while composing the config (runner/hydra_errors.py)
        (["checkpoint={run}", "episodes=abc"],
         "Error merging override episodes=abc: Value 'abc' of type 'str' could not be converted"),
        (["checkpoint={run}", "episode=3"], "Key 'episode' not in 'EvaluateConfig'"),
    ],
)  # fmt: skip
def test_bad_input_one_error_line(
    bad_files: dict[str, str], tmp_path: Path, overrides: list[str], message: str
) -> None:
    out, cwd = tmp_path / "out" / "report.json", tmp_path / "cwd"
    cwd.mkdir()
    given = [o.format(**bad_files) for o in overrides]
    code, _, stderr = cli_in_process("evaluate", *given, f"output={out}", cwd=cwd)
    assert code == 2, stderr
    error_lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1, stderr
    assert message.format(**bad_files) in error_lines[0]
    assert "Traceback" not in stderr
    assert not out.parent.exists()  # nothing half-written
    assert list((tmp_path / "cwd").iterdir()) == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["seed=-1"], "seed must be in [0, 2**62), got -1"),
        # a file where the report's folder should be: refused before the rollout, not after
        (["output={tmp}/a_file/report.json"], "cannot be written: {tmp}/a_file is a file"),
        (["export_sb3={tmp}/a_file/model.zip"], "cannot be written: {tmp}/a_file is a file"),
    ],
)
def test_unusable_seed_or_output_fails_before_the_rollout(
    run_dir: Path, tmp_path: Path, overrides: list[str], message: str
) -> None:
    (tmp_path / "a_file").write_text("kept")
    given = [o.format(tmp=tmp_path) for o in overrides]
    code, stdout, stderr = cli_in_process("evaluate", f"checkpoint={run_dir}", "episodes=200",
                                          *given, cwd=tmp_path)  # fmt: skip
    assert code == 2, stderr
    error_lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and message.format(tmp=tmp_path) in error_lines[0]
    assert "Traceback" not in stderr
    assert (tmp_path / "a_file").read_text() == "kept"
    assert "report:" not in stdout  # no rollout ran, no report was written


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        ({"sb3_model": "{tmp}/corrupt.pt", "env": "Pendulum-v1"}, SB3FormatError,
         "{tmp}/corrupt.pt is corrupt or not an SB3 model zip"),
        ({"sb3_model": "{tmp}/missing.zip", "env": "Pendulum-v1"}, SB3FormatError,
         "no SB3 model at {tmp}/missing.zip"),
        ({"sb3_model": "{tmp}/model.zip"}, EvalError, "sb3_model= needs env="),
        ({"checkpoint": "{run}", "sb3_model": "{tmp}/model.zip"}, EvalError,
         "give exactly one of checkpoint="),
        ({}, EvalError, "give exactly one of checkpoint="),
        ({"checkpoint": "{run}", "episodes": 0}, EvalError, "episodes must be >= 1, got 0"),
        ({"checkpoint": "{run}", "num_envs": 0}, EvalError, "num_envs must be >= 1, got 0"),
        ({"checkpoint": "{run}", "episodes": 2, "num_envs": 3}, EvalError,
         "num_envs=3 must be <= episodes=2"),
        ({"checkpoint": "{run}", "episodes": 2, "video": True, "video_episodes": 3}, EvalError,
         "video_episodes=3 must be <= episodes=2"),
        ({"checkpoint": "{run}", "export_sb3": "{tmp}/x.zip", "video": True}, EvalError,
         "export_sb3= only exports"),
        # checkpoint= read ./checkpoint.pt of whatever folder the command ran in
        ({"checkpoint": ""}, EvalError, "checkpoint= is empty"),
        ({"sb3_model": " ", "env": "Pendulum-v1"}, EvalError, "sb3_model= is empty"),
        ({"checkpoint": "{run}", "env": ""}, EvalError, "env= is empty"),
        ({"checkpoint": "{run}", "export_sb3": ""}, EvalError, "export_sb3= is empty"),
    ],
)  # fmt: skip
def test_bad_options_rejected_before_any_output(
    bad_files: dict[str, str], tmp_path: Path, overrides: dict, error: type, message: str
) -> None:
    """The same checks in-process (the CLI prints these errors as the one `error:` line)."""
    out = tmp_path / "out" / "report.json"
    fields = {k: v.format(**bad_files) if isinstance(v, str) else v for k, v in overrides.items()}
    with pytest.raises(error) as raised:
        run(EvaluateConfig(**fields, output=str(out)))
    assert message.format(**bad_files) in str(raised.value)
    assert "\n" not in str(raised.value)
    assert not out.parent.exists()


def test_output_never_overwrites_the_model_read(run_dir: Path) -> None:
    checkpoint = run_dir / "checkpoint.pt"
    before = checkpoint.read_bytes()
    with pytest.raises(EvalError, match="would overwrite the model being read"):
        run(EvaluateConfig(checkpoint=str(run_dir), output=str(checkpoint), episodes=1))
    assert checkpoint.read_bytes() == before  # export_sb3: the next test


def test_output_replaces_an_earlier_report_but_no_other_file(run_dir: Path) -> None:
    """output=<run>/summary.json once overwrote the training summary without a word."""
    summary = run_dir / "summary.json"
    before = summary.read_bytes()
    with pytest.raises(EvalError, match="exists and is not an eval report"):
        run(EvaluateConfig(checkpoint=str(run_dir), output=str(summary), episodes=1))
    assert summary.read_bytes() == before
    report = run_dir / "again_report.json"
    first = run(EvaluateConfig(checkpoint=str(run_dir), output=str(report), episodes=1))
    second = run(EvaluateConfig(checkpoint=str(run_dir), output=str(report), episodes=2))
    assert len(first["episode_returns"]) == 1
    assert json.loads(report.read_text())["episode_returns"] == second["episode_returns"]
    report.unlink()  # run_dir is shared by the module's tests


def test_export_never_overwrites_the_zip_read_nor_a_folder(run_dir: Path, tmp_path: Path) -> None:
    """export_sb3=m writes m.zip (as SB3's save does): the guard compares that path, so the zip
    being read survives; a folder at that path is refused before anything is written."""
    model = tmp_path / "m.zip"
    run(EvaluateConfig(checkpoint=str(run_dir), export_sb3=str(model)))
    before = model.read_bytes()
    with pytest.raises(EvalError, match="would overwrite the model being read"):
        run(EvaluateConfig(sb3_model=str(model), env="Pendulum-v1", export_sb3=str(tmp_path / "m")))
    assert model.read_bytes() == before
    (tmp_path / "folder.zip").mkdir()
    for target in ("folder", "folder.zip"):
        with pytest.raises(EvalError, match="a folder"):
            run(EvaluateConfig(checkpoint=str(run_dir), export_sb3=str(tmp_path / target)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.zip", "m.zip"]


def test_checkpoint_and_sb3_zip_given_the_wrong_way_round(run_dir: Path, tmp_path: Path) -> None:
    """Each refusal names the option that reads the file given; a .txt output is named too."""
    model = tmp_path / "m.zip"
    run(EvaluateConfig(checkpoint=str(run_dir), export_sb3=str(model)))
    with pytest.raises(EvalError, match=f"is an SB3 model zip.*sb3_model={model} env="):
        run(EvaluateConfig(checkpoint=str(model)))
    checkpoint = run_dir / "checkpoint.pt"
    with pytest.raises(EvalError, match=f"is a torch checkpoint.*checkpoint={checkpoint}"):
        run(EvaluateConfig(sb3_model=str(checkpoint), env="Pendulum-v1"))
    with pytest.raises(EvalError, match=r"must be a \.json report path"):
        run(EvaluateConfig(checkpoint=str(run_dir), output=str(tmp_path / "report.txt")))


def _handles_sigterm(pid: int) -> bool:
    """Whether the process has installed its SIGTERM handler (/proc's caught-signals mask)."""
    status = Path(f"/proc/{pid}/status").read_text()
    caught = int(
        next(line for line in status.splitlines() if line.startswith("SigCgt:")).split()[1], 16
    )
    return bool(caught & (1 << (signal.SIGTERM - 1)))


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads Linux's /proc")
def test_sigterm_mid_rollout_is_one_line_and_exit_143(run_dir: Path, tmp_path: Path) -> None:
    """A `kill` (or Ctrl-C) during the rollout printed a traceback; now one line, the shell's
    exit status for the signal, and no report."""
    out = tmp_path / "report.json"
    process = subprocess.Popen(
        [sys.executable, str(REPO / "evaluate.py"), f"checkpoint={run_dir}", "episodes=100000",
         f"output={out}"],
        cwd=tmp_path, env=_env(tmp_path), stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not _handles_sigterm(process.pid):
            assert process.poll() is None and time.monotonic() < deadline, "evaluate did not start"
            time.sleep(0.1)
        time.sleep(1.0)  # into the rollout
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 143, stderr[-2000:]
    assert stderr.rstrip().splitlines()[-1] == "interrupted"
    assert "Traceback" not in stderr
    assert not out.exists()


def test_nan_returns_are_an_error_not_a_report(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An env whose rewards turn NaN mid-episode gave a `nan ± nan` report and exit 0."""
    import evaluate as evaluate_module

    real = evaluate_module.evaluate

    def nan_rewards(*args: Any, **kwargs: Any) -> dict[str, Any]:
        report = real(*args, **kwargs)
        return {**report, "episode_returns": [float("nan"), *report["episode_returns"][1:]]}

    monkeypatch.setattr(evaluate_module, "evaluate", nan_rewards)
    out = tmp_path / "report.json"
    with pytest.raises(EvalError, match="1 of 2 episode returns are NaN or inf on Pendulum-v1"):
        run(EvaluateConfig(checkpoint=str(run_dir), output=str(out), episodes=2))
    assert not out.exists()


def test_missing_wandb_warns_and_the_report_stands(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report is written before W&B logging; without wandb that logging only warns."""
    monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` raises ImportError
    out = tmp_path / "report.json"
    config = EvaluateConfig(checkpoint=str(run_dir), output=str(out), episodes=1)
    config.wandb.mode = "offline"
    with pytest.warns(UserWarning, match="wandb cannot be imported"):
        report = run(config)
    assert json.loads(out.read_text())["return_mean"] == report["return_mean"]


def test_report_paths_and_several_videos(run_dir: Path, tmp_path: Path) -> None:
    """output=<dir> writes <dir>/eval_report.json, with video_episodes mp4s in <dir>/videos;
    an SB3 zip's report goes beside it as <name>_eval_report.json (zips share folders)."""
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with one_torch_thread():
        report = run(EvaluateConfig(checkpoint=str(run_dir), output=str(out_dir), episodes=2,
                                    video=True, video_episodes=2))  # fmt: skip
    assert json.loads((out_dir / "eval_report.json").read_text()) == report
    assert sorted(Path(p).name for p in report["videos"]) == [
        "eval-episode-0.mp4",
        "eval-episode-1.mp4",
    ]
    assert all(Path(p).parent == out_dir / "videos" and Path(p).stat().st_size > 0
               for p in report["videos"])  # fmt: skip
    zip_path = tmp_path / "zoo" / "pendulum_sac.zip"
    zip_path.parent.mkdir()
    SAC("MlpPolicy", "Pendulum-v1", policy_kwargs={"net_arch": [8]}, device="cpu").save(zip_path)
    with one_torch_thread():
        run(EvaluateConfig(sb3_model=str(zip_path), env="Pendulum-v1", episodes=1))
    sb3_report = json.loads((zip_path.parent / "pendulum_sac_eval_report.json").read_text())
    assert sb3_report["sb3_model"] == str(zip_path) and sb3_report["checkpoint"] is None


class _UnitActions(gym.ActionWrapper):
    """Declares Box(-1, 1) and passes actions through: a zip saved on it has other bounds."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.action_space = gym.spaces.Box(-1.0, 1.0, env.action_space.shape, np.float32)

    def action(self, action: np.ndarray) -> np.ndarray:
        return action


def test_sb3_zip_with_other_action_bounds_is_refused(tmp_path: Path) -> None:
    """The rollout maps actions onto the env's bounds, SB3 onto the zip's: a zip saved on
    Box(-1, 1) evaluated on Pendulum's [-2, 2] reported another policy's (doubled) actions."""
    zip_path = tmp_path / "unit.zip"
    env = _UnitActions(gym.make("Pendulum-v1"))
    SAC("MlpPolicy", env, policy_kwargs={"net_arch": [8]}, device="cpu").save(zip_path)
    out = tmp_path / "report.json"
    with pytest.raises(EvalError, match=r"acts in \[-1, 1\], Pendulum-v1 in \[-2, 2\]"):
        run(EvaluateConfig(sb3_model=str(zip_path), env="Pendulum-v1", output=str(out)))
    assert not out.exists()
