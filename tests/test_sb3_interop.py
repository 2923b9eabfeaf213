"""SB3 SAC zips <-> our agent: same actions and Q-values, same evaluate_policy returns, export."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from optional_extras import require_extra
from sac_test_support import one_torch_thread
from stable_baselines3 import PPO, SAC, TD3
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv
from torch import nn

from agents import SACAgent, SACConfig
from agents.replay_buffer import Batch
from agents.sb3 import SB3FormatError, load_sb3_sac, read_sb3_sac
from configs.schema import EvaluateConfig
from envs import env_spaces, flatten_state_dict
from evaluate import run
from runner.errors import EvalError
from runner.models import EnvSpec, export_sb3

REPO = Path(__file__).resolve().parents[1]
PENDULUM_LOW, PENDULUM_HIGH = np.array([-2.0]), np.array([2.0])


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    with one_torch_thread():
        yield


@pytest.fixture(scope="module")
def sb3_zip(tmp_path_factory: pytest.TempPathFactory) -> tuple[SAC, Path]:
    """A tiny SB3 SAC after 150 updates: critic and target critic already differ."""
    model = SAC("MlpPolicy", "Pendulum-v1", policy_kwargs={"net_arch": [32, 32]},
                learning_starts=50, batch_size=32, seed=0, device="cpu")  # fmt: skip
    model.learn(200)
    path = tmp_path_factory.mktemp("sb3") / "sac_pendulum.zip"
    model.save(path)
    return model, path


def observations(n: int = 100) -> torch.Tensor:
    """Pendulum-like observations [cos, sin, velocity], spread wider than the env's own."""
    rng = np.random.default_rng(0)
    return torch.as_tensor(rng.uniform([-1, -1, -8], [1, 1, 8], (n, 3)), dtype=torch.float32)


def seeded_env(seed: int) -> DummyVecEnv:
    """The raw env as SB3 uses it; seed() applies to the first reset only, as our evaluate()."""
    envs = DummyVecEnv([lambda: Monitor(gym.make("Pendulum-v1"))])
    envs.seed(seed)
    return envs


@torch.no_grad()
def test_import_matches_sb3_actions_q_values_and_alpha(sb3_zip: tuple[SAC, Path]) -> None:
    model, path = sb3_zip
    agent = load_sb3_sac(path, PENDULUM_LOW, PENDULUM_HIGH)
    obs = observations()
    actions = torch.rand(len(obs), 1) * 2 - 1  # SB3's critics take actions in [-1, 1] too
    torch.testing.assert_close(
        torch.as_tensor(agent.act(obs.numpy(), deterministic=True)),
        model.policy.actor(obs, deterministic=True), atol=1e-5, rtol=0,
    )  # fmt: skip
    mean, log_std, _ = model.actor.get_action_dist_params(obs)
    dist = agent.actor(obs)  # stochastic actions follow the same distribution
    torch.testing.assert_close(dist.mean, mean, atol=1e-5, rtol=0)
    torch.testing.assert_close(dist.log_std, log_std, atol=1e-5, rtol=0)
    for ours, theirs in ((agent.critic, model.policy.critic),
                         (agent.critic_target, model.policy.critic_target)):  # fmt: skip
        expected = torch.cat(theirs(obs, actions), dim=1).T  # (2, B)
        torch.testing.assert_close(ours(obs, actions), expected, atol=1e-5, rtol=0)
    assert not torch.allclose(agent.critic(obs, actions), agent.critic_target(obs, actions))
    assert float(agent.alpha) == pytest.approx(float(model.log_ent_coef.detach().exp()), rel=1e-6)
    assert agent.config.learn_alpha and agent.target_entropy == model.target_entropy == -1.0
    assert (agent.config.gamma, agent.config.tau, agent.config.batch_size) == (0.99, 0.005, 32)
    np.testing.assert_allclose(
        agent.predict(obs.numpy())[0], model.predict(obs.numpy(), deterministic=True)[0],
        atol=1e-5,
    )  # fmt: skip


def test_fixed_ent_coef_and_three_critics(tmp_path: Path) -> None:
    model = SAC("MlpPolicy", "Pendulum-v1", ent_coef=0.2, device="cpu",
                policy_kwargs={"net_arch": [8], "n_critics": 3})  # fmt: skip
    model.save(tmp_path / "fixed.zip")
    agent = load_sb3_sac(tmp_path / "fixed.zip")
    assert agent.config.num_critics == 3 and not agent.config.learn_alpha
    assert float(agent.alpha) == pytest.approx(0.2)
    obs, actions = observations(), torch.zeros(100, 1)
    with torch.no_grad():
        expected = torch.cat(model.policy.critic(obs, actions), dim=1).T  # (3, B)
        torch.testing.assert_close(agent.critic(obs, actions), expected, atol=1e-5, rtol=0)


def run_evaluate(*overrides: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """`python evaluate.py <overrides>` on one thread."""
    return subprocess.run(
        [sys.executable, str(REPO / "evaluate.py"), *overrides],
        cwd=cwd, capture_output=True, text=True, timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip


def evaluate_zip(path: Path, out: Path) -> None:
    """`python evaluate.py sb3_model=<path> env=Pendulum-v1 episodes=5 seed=0`, report at out."""
    result = run_evaluate(f"sb3_model={path}", "env=Pendulum-v1", "episodes=5", "seed=0",
                          f"output={out}")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]


def test_evaluate_policy_parity(sb3_zip: tuple[SAC, Path], tmp_path: Path) -> None:
    """SB3's evaluate_policy on the SB3 model and on our imported agent, and evaluate.py on the
    zip, see the same 5 episodes from the same seed."""
    model, path = sb3_zip
    sb3_returns, _ = evaluate_policy(model, seeded_env(0), n_eval_episodes=5,
                                     deterministic=True, return_episode_rewards=True)  # fmt: skip
    agent = load_sb3_sac(path, PENDULUM_LOW, PENDULUM_HIGH)
    our_returns, _ = evaluate_policy(agent, seeded_env(0), n_eval_episodes=5,
                                     deterministic=True, return_episode_rewards=True)  # fmt: skip
    np.testing.assert_allclose(our_returns, sb3_returns, rtol=1e-6)

    out = tmp_path / "report.json"
    evaluate_zip(path, out)
    report = json.loads(out.read_text())
    assert report["sb3_model"] == str(path) and report["episode_lengths"] == [200] * 5
    # Monitor rounds episode returns to 6 decimals; SB3 keeps rewards as float32.
    np.testing.assert_allclose(report["episode_returns"], sb3_returns, rtol=1e-6)
    assert report["return_mean"] == pytest.approx(np.mean(sb3_returns), rel=1e-6)


def test_export_loads_in_sb3_with_same_actions(tmp_path: Path) -> None:
    torch.manual_seed(0)
    agent = SACAgent(3, 1, SACConfig(hidden_sizes=[16, 16], num_critics=3, init_alpha=0.3),
                     action_low=PENDULUM_LOW, action_high=PENDULUM_HIGH)  # fmt: skip
    path = export_sb3(agent, EnvSpec("Pendulum-v1"), tmp_path / "exported")
    assert path == tmp_path / "exported.zip" and not list(tmp_path.glob("*.tmp*"))
    model = SAC.load(path, device="cpu")
    obs, actions = observations(), torch.rand(100, 1) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(
            model.policy.actor(obs, deterministic=True),
            torch.as_tensor(agent.act(obs.numpy(), deterministic=True)), atol=1e-5, rtol=0,
        )  # fmt: skip
        expected = torch.cat(model.policy.critic_target(obs, actions), dim=1).T
        torch.testing.assert_close(agent.critic_target(obs, actions), expected, atol=1e-5, rtol=0)
    np.testing.assert_allclose(model.predict(obs.numpy(), deterministic=True)[0],
                               agent.predict(obs.numpy())[0], atol=1e-5)  # fmt: skip
    assert float(model.log_ent_coef.detach().exp()) == pytest.approx(0.3, rel=1e-6)
    # And back: importing the export gives the original weights.
    back = load_sb3_sac(path)
    for name, value in agent.critic.state_dict().items():
        torch.testing.assert_close(back.critic.state_dict()[name], value, atol=0, rtol=0)


def test_export_of_a_dict_observation_env_takes_its_flattened_observations(tmp_path: Path) -> None:
    """DeepMind Control's dict observations are flattened in training; the export raised SB3's
    MultiInputPolicy ValueError (a traceback) instead of writing a zip over the flat Box."""
    require_extra("dm_control")
    env_id = "dm_control/cartpole-swingup-v0"
    spaces = env_spaces(env_id)
    torch.manual_seed(0)
    agent = SACAgent(spaces.obs_dim, spaces.action_dim, SACConfig(hidden_sizes=[16, 16]),
                     action_low=spaces.action_low, action_high=spaces.action_high)  # fmt: skip
    model = SAC.load(export_sb3(agent, EnvSpec(env_id), tmp_path / "cartpole"), device="cpu")
    assert model.observation_space.shape == (spaces.obs_dim,)
    env = flatten_state_dict(gym.make(env_id))
    obs, _ = env.reset(seed=0)
    env.close()
    np.testing.assert_allclose(model.predict(obs, deterministic=True)[0],
                               agent.predict(obs)[0], atol=1e-5)  # fmt: skip


@pytest.mark.parametrize("learn_alpha", [True, False], ids=["learned alpha", "fixed alpha"])
def test_export_after_updates_keeps_both_critics_heads_and_hyperparameters(
    tmp_path: Path, learn_alpha: bool
) -> None:
    """After a few updates critic and critic_target differ: each must land in its own SB3 slot.
    Hyperparameters away from SB3's defaults must arrive as set; mu and log_std heads too."""
    torch.manual_seed(0)
    config = SACConfig(hidden_sizes=[16, 16], num_critics=2, batch_size=16, gamma=0.9, tau=0.3,
                       actor_lr=2e-3, critic_lr=2e-3, alpha_lr=2e-3, init_alpha=0.25,
                       learn_alpha=learn_alpha, target_entropy=-0.4)  # fmt: skip
    agent = SACAgent(3, 1, config, action_low=PENDULUM_LOW, action_high=PENDULUM_HIGH)
    g = torch.Generator().manual_seed(1)
    for _ in range(3):
        agent.update(Batch(torch.randn(16, 3, generator=g), torch.rand(16, 1, generator=g) * 2 - 1,
                           torch.randn(16, generator=g), torch.randn(16, 3, generator=g),
                           torch.zeros(16)))  # fmt: skip
    obs, actions = observations(), torch.rand(100, 1) * 2 - 1
    with torch.no_grad():  # the setup itself: a swap of the two critics would show
        assert (agent.critic(obs, actions) - agent.critic_target(obs, actions)).abs().max() > 1e-3
    alpha = float(agent.alpha)
    assert (alpha != pytest.approx(0.25, rel=1e-4)) is learn_alpha  # alpha moved only if learned

    path = export_sb3(agent, EnvSpec("Pendulum-v1"), tmp_path / "updated.zip")
    model = SAC.load(path, device="cpu")
    with torch.no_grad():
        for ours, theirs in ((agent.critic, model.policy.critic),
                             (agent.critic_target, model.policy.critic_target)):  # fmt: skip
            expected = torch.cat(theirs(obs, actions), dim=1).T  # (2, B)
            torch.testing.assert_close(ours(obs, actions), expected, atol=1e-6, rtol=0)
        # Both heads, not just tanh(mu): SB3 clamps the raw log-std head output, ours squashes
        # it with tanh, so the raw head outputs are what must agree.
        mean, _, _ = model.actor.get_action_dist_params(obs)
        torch.testing.assert_close(mean, agent.actor(obs).mean, atol=1e-6, rtol=0)
        torch.testing.assert_close(
            model.actor.log_std(model.actor.latent_pi(obs)),
            agent.actor.log_std(agent.actor.trunk(obs)), atol=1e-6, rtol=0,
        )  # fmt: skip
    assert (model.gamma, model.tau, model.batch_size) == (0.9, 0.3, 16)
    assert model.learning_rate == 2e-3 and model.target_entropy == pytest.approx(-0.4)
    if learn_alpha:
        assert model.ent_coef == f"auto_{alpha}"
        assert float(model.log_ent_coef.detach().exp()) == pytest.approx(alpha, rel=1e-6)
    else:
        assert model.ent_coef == pytest.approx(0.25) and model.log_ent_coef is None
        assert float(model.ent_coef_tensor) == pytest.approx(0.25)
    back = load_sb3_sac(path)  # and our import reads the same settings back
    assert (back.config.gamma, back.config.tau, back.config.learn_alpha) == (0.9, 0.3, learn_alpha)
    assert float(back.alpha) == pytest.approx(alpha, rel=1e-6)


def _td3(path: Path) -> None:
    TD3("MlpPolicy", "Pendulum-v1", policy_kwargs={"net_arch": [8]}, device="cpu").save(path)


def _ppo(path: Path) -> None:
    PPO("MlpPolicy", "Pendulum-v1", policy_kwargs={"net_arch": [8]}, device="cpu").save(path)


def _sac(path: Path, **kwargs) -> None:
    SAC("MlpPolicy", "Pendulum-v1", device="cpu", **kwargs).save(path)


def _truncated(path: Path) -> None:
    _sac(path, policy_kwargs={"net_arch": [8]})
    path.write_bytes(path.read_bytes()[:2000])


def _text_policy(path: Path) -> None:
    """A zip whose policy.pth is a line of text: torch's unpickler fails with an IndexError."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("policy.pth", "root:x:0:0:root:/root:/bin/bash\n")


class _MatrixObsEnv(gym.Env):
    """Observations of shape (2, 3): SB3's MlpPolicy flattens them, our agent does not."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (2, 3), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros((2, 3), np.float32), {}

    def step(self, action):
        return np.zeros((2, 3), np.float32), 0.0, False, False, {}


def _matrix_obs(path: Path) -> None:
    SAC("MlpPolicy", _MatrixObsEnv(), policy_kwargs={"net_arch": [8]}, device="cpu").save(path)


def _no_policy(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("data", "{}")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_td3, "is not an SB3 SAC model: its policy is stable_baselines3.td3.policies.TD3Policy"),
        (_ppo, "is not an SB3 SAC model: its policy is "
               "stable_baselines3.common.policies.ActorCriticPolicy"),
        (lambda p: _sac(p, policy_kwargs={"net_arch": [8], "activation_fn": nn.Tanh}),
         "only the default ReLU activation is supported"),
        (lambda p: _sac(p, policy_kwargs={"net_arch": {"pi": [8], "qf": [16]}}),
         "actor net_arch [8] differs from critic net_arch [16]"),
        (_truncated, "is corrupt or not an SB3 model zip"),
        (lambda p: p.write_bytes(b"not a zip"), "is corrupt or not an SB3 model zip"),
        (_no_policy, "is not an SB3 model zip: it has no policy.pth"),
        (_text_policy, "is corrupt or not an SB3 model zip"),
        (_matrix_obs, "its observations have shape (2, 3)"),
    ],
)  # fmt: skip
def test_rejects_what_is_not_an_sb3_sac_mlp(tmp_path: Path, make, message: str) -> None:
    path = tmp_path / "model.zip"
    make(path)
    with pytest.raises(SB3FormatError) as raised:
        read_sb3_sac(path)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_cli_rejects_td3_zip_with_one_line(tmp_path: Path) -> None:
    _td3(tmp_path / "td3.zip")
    out = tmp_path / "report.json"
    result = run_evaluate(f"sb3_model={tmp_path / 'td3.zip'}", "env=Pendulum-v1",
                          f"output={out}", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 2
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and "Traceback" not in result.stderr
    assert "td3.zip is not an SB3 SAC model" in error_lines[0]
    assert not out.exists()


def test_bounds_default_to_the_zips_action_space(sb3_zip: tuple[SAC, Path]) -> None:
    """Without bounds given, predict acted in [-1, 1]: half of SB3's action on Pendulum."""
    model, path = sb3_zip
    agent = load_sb3_sac(path)
    np.testing.assert_array_equal(agent.action_low, PENDULUM_LOW)
    np.testing.assert_array_equal(agent.action_high, PENDULUM_HIGH)
    obs = observations().numpy()
    np.testing.assert_allclose(agent.predict(obs, deterministic=True)[0],
                               model.predict(obs, deterministic=True)[0], atol=1e-5)  # fmt: skip


def test_imported_agent_survives_state_dict_round_trip(sb3_zip: tuple[SAC, Path]) -> None:
    """A saved imported agent reloads with SB3's log-std clamp, not our tanh squash: the same
    stochastic actions under the same seed (they differed by up to 1.9 before)."""
    _, path = sb3_zip
    agent = load_sb3_sac(path)
    state = agent.state_dict()
    again = SACAgent(state["obs_dim"], state["action_dim"], SACConfig(**state["config"]),
                     action_low=PENDULUM_LOW, action_high=PENDULUM_HIGH)  # fmt: skip
    again.load_state_dict(state)
    assert type(again.actor) is type(agent.actor)
    obs = observations().numpy()
    torch.manual_seed(3)
    expected = agent.predict(obs, deterministic=False)[0]
    torch.manual_seed(3)
    np.testing.assert_array_equal(again.predict(obs, deterministic=False)[0], expected)


def test_export_of_a_normalizing_agent_is_refused(tmp_path: Path) -> None:
    """SB3's MlpPolicy has no input normalization: the export would act differently."""
    agent = SACAgent(3, 1, SACConfig(hidden_sizes=[8], normalize_obs=True))
    agent.observe(observations().numpy())
    with pytest.raises(EvalError, match="normalize_obs=true cannot be exported"):
        export_sb3(agent, EnvSpec("Pendulum-v1"), tmp_path / "model.zip")
    assert not (tmp_path / "model.zip").exists()


@pytest.mark.parametrize(
    "overrides, words",
    [
        (dict(critic_layer_norm=True), "critic_layer_norm=true cannot be exported"),
        (dict(critic_quantiles=5), "quantile critics"),
    ],
)
def test_export_of_critics_sb3_has_not_is_refused(
    overrides: dict, words: str, tmp_path: Path
) -> None:
    """SB3's SAC critics have no LayerNorm and one output: their Q-values would differ."""
    agent = SACAgent(3, 1, SACConfig(hidden_sizes=[8], **overrides))
    with pytest.raises(EvalError, match=words):
        export_sb3(agent, EnvSpec("Pendulum-v1"), tmp_path / "model.zip")
    assert not (tmp_path / "model.zip").exists()


@pytest.fixture(scope="module")
def gsde_zip(tmp_path_factory: pytest.TempPathFactory) -> tuple[SAC, Path]:
    """A tiny SB3 SAC trained with gSDE (use_sde=True), as rl-baselines3-zoo trains Pendulum."""
    model = SAC("MlpPolicy", "Pendulum-v1", use_sde=True, policy_kwargs={"net_arch": [32, 32]},
                learning_starts=50, batch_size=32, seed=0, device="cpu")  # fmt: skip
    model.learn(200)
    path = tmp_path_factory.mktemp("gsde") / "sac_gsde_pendulum.zip"
    model.save(path)
    return model, path


def test_gsde_model_evaluates_as_in_sb3(gsde_zip: tuple[SAC, Path], tmp_path: Path) -> None:
    """evaluate.py on a gSDE zip reports SB3's evaluate_policy returns on the same seeds; the
    noise's log σ matrix is kept and goes back into an SB3 export."""
    model, path = gsde_zip
    sb3_returns, _ = evaluate_policy(model, seeded_env(0), n_eval_episodes=5,
                                     deterministic=True, return_episode_rewards=True)  # fmt: skip
    out = tmp_path / "report.json"
    evaluate_zip(path, out)
    np.testing.assert_allclose(json.loads(out.read_text())["episode_returns"], sb3_returns,
                               rtol=1e-6)  # fmt: skip

    agent = load_sb3_sac(path)
    assert agent.config.mean_clip == 2.0  # SB3's default clip_mean
    torch.testing.assert_close(agent.sde_log_std, model.actor.log_std.detach(), atol=0, rtol=0)
    back = SAC.load(export_sb3(agent, EnvSpec("Pendulum-v1"), tmp_path / "back"), device="cpu")
    assert back.use_sde and back.actor.clip_mean == 2.0
    torch.testing.assert_close(back.actor.log_std, model.actor.log_std, atol=0, rtol=0)
    obs = observations().numpy()
    np.testing.assert_allclose(back.predict(obs, deterministic=True)[0],
                               model.predict(obs, deterministic=True)[0], atol=1e-6)  # fmt: skip


@pytest.mark.parametrize("clip_mean", [2.0, 0.5, 0.0], ids=["default", "0.5", "no clip"])
def test_gsde_mean_clip_is_reproduced(tmp_path: Path, clip_mean: float) -> None:
    """SB3's gSDE actor clips μ with Hardtanh(-clip_mean, clip_mean) before tanh (none for
    clip_mean=0); with means beyond the clip, ignoring it would give other actions."""
    model = SAC("MlpPolicy", "Pendulum-v1", use_sde=True, device="cpu", seed=0,
                policy_kwargs={"net_arch": [16], "clip_mean": clip_mean})  # fmt: skip
    mu = model.actor.mu[0] if clip_mean > 0 else model.actor.mu
    with torch.no_grad():
        mu.bias += 2.5  # means of about 2.5 ± 1
    model.save(tmp_path / "gsde.zip")
    agent = load_sb3_sac(tmp_path / "gsde.zip")
    assert agent.config.mean_clip == (clip_mean or None)
    obs = observations()
    expected = model.predict(obs.numpy(), deterministic=True)[0]
    np.testing.assert_allclose(agent.predict(obs.numpy())[0], expected, atol=1e-6)
    with torch.no_grad():
        unclipped = np.tanh(mu(model.actor.latent_pi(obs)).numpy()) * 2.0
    assert bool(np.abs(unclipped - expected).max() > 0.01) is (clip_mean > 0)


def test_gsde_stochastic_rollouts_are_refused(gsde_zip: tuple[SAC, Path], tmp_path: Path) -> None:
    """SB3 draws gSDE's noise matrix once per rollout (and a loaded model keeps the one drawn
    at construction): not reproduced, so refused with one line, in the CLI and in `act`."""
    _, path = gsde_zip
    out = tmp_path / "report.json"
    result = run_evaluate(f"sb3_model={path}", "env=Pendulum-v1", "deterministic=false",
                          f"output={out}")  # fmt: skip
    assert result.returncode == 2
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert error_lines == [
        "error: deterministic=false is not supported for an SB3 gSDE model: its "
        "state-dependent noise is not reproduced"
    ]  # fmt: skip
    assert "Traceback" not in result.stderr and not out.exists()
    agent = load_sb3_sac(path)
    with pytest.raises(ValueError, match="stochastic actions are not supported for an SB3 gSDE"):
        agent.act(observations().numpy(), deterministic=False)
    again = SACAgent(3, 1, SACConfig(**agent.state_dict()["config"]))  # the state keeps it all
    again.load_state_dict(agent.state_dict())
    torch.testing.assert_close(again.sde_log_std, agent.sde_log_std, atol=0, rtol=0)
    obs = observations().numpy()
    np.testing.assert_array_equal(again.act(obs, True), agent.act(obs, True))


@pytest.mark.parametrize("env_id", ["Pendulum-v1", "MountainCarContinuous-v0"])
def test_zoo_gsde_models_evaluate_as_in_sb3(env_id: str, tmp_path: Path) -> None:
    """rl-baselines3-zoo's trained SAC agents, both gSDE (DLR-RM/rl-trained-agents, MIT,
    sac/<env>_1/<env>.zip at cd35bde), saved by SB3 0.x (tensors.pth) and 1.0 (a None
    log_ent_coef beside a fixed ent_coef): evaluate.py reports evaluate_policy's returns."""
    path = REPO / "tests" / "data" / f"zoo_sac_{env_id}.zip"
    env = gym.make(env_id)
    # Their pickled spaces and schedules need the gym and Python of 2020: given instead, as the
    # zoo itself loads old models.
    custom_objects = {"learning_rate": 0.0, "lr_schedule": lambda _: 0.0,
                      "observation_space": env.observation_space,
                      "action_space": env.action_space}  # fmt: skip
    model = SAC.load(path, device="cpu", custom_objects=custom_objects)
    envs = DummyVecEnv([lambda: Monitor(gym.make(env_id))])
    envs.seed(0)
    sb3_returns, sb3_lengths = evaluate_policy(model, envs, n_eval_episodes=5, deterministic=True,
                                               return_episode_rewards=True)  # fmt: skip
    report = run(EvaluateConfig(sb3_model=str(path), env=env_id, episodes=5, seed=0,
                                output=str(tmp_path / "report.json")))  # fmt: skip
    np.testing.assert_allclose(report["episode_returns"], sb3_returns, rtol=1e-6)
    assert report["episode_lengths"] == sb3_lengths
    assert report["return_mean"] > (-200 if env_id == "Pendulum-v1" else 90)  # trained agents


def test_our_evaluate_names_the_sb3_vec_env_it_cannot_run() -> None:
    from envs import evaluate

    envs = seeded_env(0)
    with pytest.raises(TypeError, match="needs a gymnasium vector env, got DummyVecEnv"):
        evaluate(lambda obs: np.zeros((1, 1), np.float32), envs, 2)
