"""evaluate.py export_onnx=: onnxruntime's actions equal `SACAgent.predict`'s on observations
from real rollouts (normalized observations; asymmetric action bounds; an SB3 gSDE model), the
metadata describes the env and the checkpoint, examples/onnx_rollout.py gets evaluate.py's
returns, and bad targets are refused with one line and nothing written."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from fake_envs import register_asymmetric_pendulum
from optional_extras import require_extra
from sac_test_support import REPO, TINY, cli_in_process, one_torch_thread, run_train, tiny_config

from agents import SACAgent
from agents.checkpoint import load_checkpoint
from configs.schema import EnvConfig, EvaluateConfig
from evaluate import run
from runner.errors import EvalError
from runner.models import load_checkpoint_agent
from runner.onnx_export import package_version
from runner.tracking import RunLogger
from runner.training import Trainer

require_extra("onnxruntime")
require_extra("onnxscript")
import onnxruntime as ort  # noqa: E402

ASYMMETRIC_ID = register_asymmetric_pendulum()
CLI_ENV = {**{k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"},
           "OMP_NUM_THREADS": "1"}  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    with one_torch_thread():
        yield


@pytest.fixture(scope="module")
def normalized_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny train.py run on Pendulum with agent.normalize_obs=true."""
    run_dir = tmp_path_factory.mktemp("normalized") / "run"
    run_train(run_dir, *TINY, "agent.normalize_obs=true", env={"OMP_NUM_THREADS": "1"})
    return run_dir


@pytest.fixture(scope="module")
def asymmetric_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny run in-process on Pendulum with torques in [-1, 3] (registered here only)."""
    run_dir = tmp_path_factory.mktemp("asymmetric")
    cfg = tiny_config(env=EnvConfig(id=ASYMMETRIC_ID))
    trainer = Trainer(cfg, dataclasses.asdict(cfg), run_dir)
    logger = RunLogger(run_dir, cfg, {})
    try:
        trainer.train([logger])
    finally:
        logger.close({})
        trainer.close()
    return run_dir


def session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def rollout_observations(agent: SACAgent, env_id: str, count: int = 1200) -> np.ndarray:
    """Observations the policy meets: stochastic rollouts (wider than deterministic ones)."""
    env = gym.make(env_id)
    observations, (obs, _) = [], env.reset(seed=1)
    torch.manual_seed(1)
    while len(observations) < count:
        observations.append(obs)
        obs, _, terminated, truncated, _ = env.step(agent.predict(obs, deterministic=False)[0])
        if terminated or truncated:
            obs, _ = env.reset()
    env.close()
    return np.asarray(observations, dtype=np.float32)


@pytest.mark.parametrize("run_name", ["normalized_run", "asymmetric_run"])
def test_onnxruntime_actions_equal_predict(
    run_name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    run_dir = request.getfixturevalue(run_name)
    path = tmp_path / "policy.onnx"
    assert run(EvaluateConfig(checkpoint=str(run_dir), export_onnx=str(path))) == {
        "export_onnx": str(path)
    }
    agent, spec, _, _ = load_checkpoint_agent(str(run_dir))
    policy = session(path)
    (obs_input,), (action_output,) = policy.get_inputs(), policy.get_outputs()
    assert (obs_input.name, obs_input.shape) == ("obs", ["batch", 3])
    assert obs_input.type == action_output.type == "tensor(float)"
    assert (action_output.name, action_output.shape) == ("action", ["batch", 1])

    obs = rollout_observations(agent, spec.id)
    expected = agent.predict(obs, deterministic=True)[0]
    (actions,) = policy.run(["action"], {"obs": obs})  # one batch of 1,200
    assert actions.dtype == np.float32 and actions.shape == (len(obs), 1)
    np.testing.assert_allclose(actions, expected, atol=1e-5, rtol=0)
    one_by_one = np.concatenate([policy.run(["action"], {"obs": o[None]})[0] for o in obs[:100]])
    np.testing.assert_allclose(one_by_one, expected[:100], atol=1e-5, rtol=0)
    assert np.all(actions >= agent.action_low) and np.all(actions <= agent.action_high)
    if run_name == "asymmetric_run":  # the bounds are the env's, not [-1, 1] or [-2, 2]
        np.testing.assert_array_equal(agent.action_low, [-1.0])
        np.testing.assert_array_equal(agent.action_high, [3.0])
    else:
        assert agent.obs_norm is not None and agent.obs_norm.count > 100


def test_metadata_names_env_spaces_version_and_checkpoint(
    normalized_run: Path, tmp_path: Path
) -> None:
    path = tmp_path / "policy.onnx"
    run(EvaluateConfig(checkpoint=str(normalized_run), export_onnx=str(path)))
    metadata = session(path).get_modelmeta().custom_metadata_map
    payload = load_checkpoint(normalized_run)
    assert metadata["format"] == "sac-onnx-policy" and metadata["env_id"] == "Pendulum-v1"
    assert json.loads(metadata["observation_space"]) == {
        "shape": [3], "dtype": "float32", "low": [-1.0, -1.0, -8.0], "high": [1.0, 1.0, 8.0]
    }  # fmt: skip
    assert json.loads(metadata["action_space"]) == {
        "shape": [1], "dtype": "float32", "low": [-2.0], "high": [2.0]
    }  # fmt: skip
    assert json.loads(metadata["env_kwargs"]) == {}
    assert metadata["package_version"] == package_version() != "unknown"
    assert json.loads(metadata["step"]) == payload["step"] == 300
    assert json.loads(metadata["eval_return_mean"]) == payload["eval"]["return_mean"]
    assert json.loads(metadata["normalize_obs"]) is True
    assert json.loads(metadata["deterministic"]) is True
    assert metadata["source"] == str(normalized_run / "checkpoint.pt")


def test_stochastic_graph_takes_eps(normalized_run: Path, tmp_path: Path) -> None:
    """deterministic=false exports a = tanh(μ + σ ε) with ε as a second input."""
    path = tmp_path / "stochastic.onnx"
    run(EvaluateConfig(checkpoint=str(normalized_run), export_onnx=str(path), deterministic=False))
    policy = session(path)
    assert [i.name for i in policy.get_inputs()] == ["obs", "eps"]
    agent, _, _, _ = load_checkpoint_agent(str(normalized_run))
    obs = rollout_observations(agent, "Pendulum-v1", count=200)
    eps = np.random.default_rng(0).standard_normal((len(obs), 1)).astype(np.float32)
    unit = agent.act(obs, deterministic=False, eps=eps)
    expected = agent.action_low + 0.5 * (unit + 1.0) * (agent.action_high - agent.action_low)
    (actions,) = policy.run(["action"], {"obs": obs, "eps": eps})
    np.testing.assert_allclose(actions, expected, atol=1e-5, rtol=0)
    (mean_actions,) = policy.run(["action"], {"obs": obs, "eps": np.zeros_like(eps)})
    np.testing.assert_allclose(mean_actions, agent.predict(obs)[0], atol=1e-5, rtol=0)
    metadata = policy.get_modelmeta().custom_metadata_map
    assert json.loads(metadata["deterministic"]) is False


def test_example_returns_equal_evaluate_py(normalized_run: Path, tmp_path: Path) -> None:
    """The CLI's export, run by examples/onnx_rollout.py (onnxruntime and numpy), gives the
    returns evaluate.py reports for the same seed and episodes."""
    path = tmp_path / "policy.onnx"
    exported = subprocess.run(
        [sys.executable, "evaluate.py", f"checkpoint={normalized_run}", f"export_onnx={path}"],
        cwd=REPO, env=CLI_ENV, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr[-3000:]
    assert f"exported ONNX policy to {path}" in exported.stdout
    assert exported.stderr == ""  # the exporter's own warnings are kept out
    example = subprocess.run(
        [sys.executable, "examples/onnx_rollout.py", str(path), "--episodes", "3", "--seed", "7"],
        cwd=REPO, env=CLI_ENV, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert example.returncode == 0, example.stderr[-3000:]
    returns = [float(r) for r in re.findall(r"episode \d+: return (\S+),", example.stdout)]
    report = run(EvaluateConfig(checkpoint=str(normalized_run), episodes=3, seed=7,
                                output=str(tmp_path / "report.json")))  # fmt: skip
    assert len(returns) == 3
    np.testing.assert_allclose(returns, report["episode_returns"], rtol=1e-6)
    assert f"mean return {np.mean(report['episode_returns']):.2f}" in example.stdout


def test_an_earlier_export_is_replaced(normalized_run: Path, tmp_path: Path) -> None:
    path = tmp_path / "policy.onnx"
    run(EvaluateConfig(checkpoint=str(normalized_run), export_onnx=str(path)))
    run(EvaluateConfig(checkpoint=str(normalized_run), export_onnx=str(path), deterministic=False))
    assert [i.name for i in session(path).get_inputs()] == ["obs", "eps"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["policy.onnx"]  # no temp file left


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("a_file/policy.onnx", "cannot be written: {tmp}/a_file is a file, not a folder"),
        ("kept.onnx", "{tmp}/kept.onnx exists and is not an ONNX policy export"),
        ("folder.onnx", "export_onnx={tmp}/folder.onnx is a folder"),
        ("policy.txt", "must be an .onnx path"),
    ],
)
def test_bad_targets_are_refused_before_writing(
    normalized_run: Path, tmp_path: Path, target: str, message: str
) -> None:
    (tmp_path / "a_file").write_text("kept")
    (tmp_path / "kept.onnx").write_text("kept")
    (tmp_path / "folder.onnx").mkdir()
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(EvalError) as raised:
        run(EvaluateConfig(checkpoint=str(normalized_run), export_onnx=str(tmp_path / target)))
    assert message.format(tmp=tmp_path) in str(raised.value) and "\n" not in str(raised.value)
    assert sorted(tmp_path.rglob("*")) == before
    assert (tmp_path / "a_file").read_text() == (tmp_path / "kept.onnx").read_text() == "kept"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["checkpoint={tmp}/corrupt.pt"], "{tmp}/corrupt.pt is corrupt or not a checkpoint"),
        (["checkpoint={run}", "export_onnx={tmp}/kept.onnx"],
         "{tmp}/kept.onnx exists and is not an ONNX policy export"),
        (["checkpoint={run}", "export_onnx={tmp}/out.onnx", "video=true"],
         "export_onnx= only exports"),
    ],
)  # fmt: skip
def test_cli_refusals_are_one_line_and_exit_2(
    normalized_run: Path, tmp_path: Path, overrides: list[str], message: str
) -> None:
    (tmp_path / "corrupt.pt").write_bytes(b"not a checkpoint")
    (tmp_path / "kept.onnx").write_text("kept")
    given = [o.format(tmp=tmp_path, run=normalized_run) for o in overrides]
    if not any(o.startswith("export_onnx=") for o in given):
        given.append(f"export_onnx={tmp_path}/out.onnx")
    code, _, stderr = cli_in_process("evaluate", *given, cwd=tmp_path)
    assert code == 2, stderr
    error_lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and "Traceback" not in stderr
    assert message.format(tmp=tmp_path) in error_lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corrupt.pt", "kept.onnx"]
    assert (tmp_path / "kept.onnx").read_text() == "kept"


def test_sb3_gsde_model_exports_with_its_mean_clip(tmp_path: Path) -> None:
    """An SB3 gSDE zip's graph clips μ to [-2, 2] before tanh, as SB3's actor does (its bias
    is raised here so that many means lie beyond the clip), and acts as SB3's predict."""
    from stable_baselines3 import SAC

    model = SAC("MlpPolicy", "Pendulum-v1", use_sde=True, policy_kwargs={"net_arch": [16, 16]},
                seed=0, device="cpu")  # fmt: skip
    with torch.no_grad():
        model.actor.mu[0].bias += 2.5
    model.save(tmp_path / "gsde.zip")
    path = tmp_path / "gsde.onnx"
    run(EvaluateConfig(sb3_model=str(tmp_path / "gsde.zip"), env="Pendulum-v1",
                       export_onnx=str(path)))  # fmt: skip
    env, observations = gym.make("Pendulum-v1"), []
    obs, _ = env.reset(seed=0)
    while len(observations) < 1000:
        observations.append(obs)
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            obs, _ = env.reset()
    obs = np.asarray(observations, dtype=np.float32)
    with torch.no_grad():
        means = model.actor.mu[0](model.actor.latent_pi(torch.as_tensor(obs)))
    assert (means.abs() > 2).float().mean() > 0.2  # the clip is at work
    (actions,) = session(path).run(["action"], {"obs": obs})
    np.testing.assert_allclose(actions, model.predict(obs, deterministic=True)[0], atol=1e-5)
    metadata = session(path).get_modelmeta().custom_metadata_map
    assert json.loads(metadata["step"]) == 0 and json.loads(metadata["eval_return_mean"]) is None
    noisy = EvaluateConfig(sb3_model=str(tmp_path / "gsde.zip"), env="Pendulum-v1",
                           export_onnx=str(tmp_path / "x.onnx"), deterministic=False)  # fmt: skip
    with pytest.raises(EvalError, match="deterministic=false is not supported for an SB3 gSDE"):
        run(noisy)
    assert not (tmp_path / "x.onnx").exists()


def test_missing_exporter_or_two_exports_refused_first(
    normalized_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without onnxscript torch's exporter fails deep inside; here the reason is one line."""
    both = EvaluateConfig(checkpoint=str(normalized_run), export_onnx=str(tmp_path / "p.onnx"),
                          export_sb3=str(tmp_path / "p.zip"))  # fmt: skip
    with pytest.raises(EvalError, match="give one of export_sb3= or export_onnx="):
        run(both)
    find_spec = importlib.util.find_spec

    def without_onnxscript(name: str, *args: object) -> object:
        return None if name == "onnxscript" else find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", without_onnxscript)
    with pytest.raises(EvalError, match="export_onnx= needs onnxscript: pip install onnx"):
        run(EvaluateConfig(checkpoint=str(normalized_run), export_onnx=str(tmp_path / "p.onnx")))
    assert list(tmp_path.iterdir()) == []
