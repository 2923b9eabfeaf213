"""Every env config composes with Hydra's compose API, builds its env, and typos fail."""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException, HydraException
from omegaconf import OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException, ValidationError
from optional_extras import require_extra

from agents import SACConfig
from configs.schema import TrainConfig
from envs import make_env
from runner.config_store import register_configs
from runner.hydra_errors import job_started, one_line, run_cli

register_configs()  # the typed schema as Hydra's base_config, and the path_safe resolver

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
# Names as Hydra takes them: env=Pendulum-v1, env=dm_control/cheetah-run-v0 (a subfolder).
ENV_FILES = sorted(
    p.relative_to(CONFIG_DIR / "env").with_suffix("").as_posix()
    for p in (CONFIG_DIR / "env").rglob("*.yaml")
    if p.stem != "custom"
)


def compose_config(*overrides: str) -> TrainConfig:
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
        return OmegaConf.to_object(compose(config_name="config", overrides=list(overrides)))


def test_env_files_exist() -> None:
    supported_envs = [
        "Pendulum-v1",
        "MountainCarContinuous-v0",
        "LunarLanderContinuous-v3",
        "BipedalWalker-v3",
        "InvertedPendulum-v5",
        "InvertedDoublePendulum-v5",
        "Reacher-v5",
        "HalfCheetah-v5",
        "Hopper-v5",
        "Walker2d-v5",
        "Ant-v5",
        "Humanoid-v5",
        "dm_control/cheetah-run-v0",
        "dm_control/walker-walk-v0",
        "dm_control/quadruped-run-v0",
        "dm_control/humanoid-walk-v0",
    ]
    assert sorted(supported_envs) == ENV_FILES


def test_default_run_dir_has_no_slash_from_the_env_id() -> None:
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
        cfg = compose(
            config_name="config",
            overrides=["env=dm_control/walker-walk-v0", "seed=3"],
            return_hydra_config=True,
        )
        run_dir = str(cfg.hydra.run.dir)
    assert run_dir.startswith("runs/")
    assert run_dir.endswith("_dm_control-walker-walk-v0_seed3")
    assert run_dir.count("/") == 2  # runs/<date>/<time>_<env>_seed<seed>


@pytest.mark.parametrize("env_name", ENV_FILES)
def test_env_config_composes_and_env_runs(env_name: str) -> None:
    if env_name.startswith("dm_control/"):
        require_extra("dm_control")
    cfg = compose_config(f"env={env_name}")
    assert isinstance(cfg, TrainConfig)
    assert isinstance(cfg.agent, SACConfig)
    assert cfg.env.id == env_name  # files are named after the Gymnasium id they configure
    cfg.agent.validate()
    env = make_env(cfg.env.id, max_episode_steps=cfg.env.max_episode_steps, **cfg.env.kwargs)
    obs, _ = env.reset(seed=0)
    assert obs.dtype == np.float32
    obs, *_ = env.step(env.action_space.sample())
    assert obs.shape == env.observation_space.shape
    env.close()


def test_agent_yaml_matches_schema_defaults() -> None:
    """configs/agent/sac.yaml restates SACConfig's defaults; they must not drift apart."""
    on_disk = OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / "agent" / "sac.yaml"))
    assert on_disk == asdict(SACConfig())


def test_env_file_overrides_agent_and_cli_overrides_env_file() -> None:
    cfg = compose_config("env=Pendulum-v1")
    assert cfg.agent.actor_lr == pytest.approx(1e-3)  # from env/Pendulum-v1.yaml
    assert cfg.total_steps == 20_000
    cfg = compose_config("env=Pendulum-v1", "agent.actor_lr=5e-4", "agent.batch_size=64")
    assert cfg.agent.actor_lr == pytest.approx(5e-4)
    assert cfg.agent.batch_size == 64


def test_top_level_interface_keys() -> None:
    cfg = compose_config()
    for key in ("seed", "total_steps", "num_envs", "device", "learning_starts", "resume"):
        assert hasattr(cfg, key), key
    assert {"every", "episodes"} <= set(asdict(cfg.eval))
    assert {"mode", "project", "entity", "group", "tags"} <= set(asdict(cfg.wandb))
    assert cfg.checkpoint.every >= 0
    assert cfg.wandb.mode == "auto"


@pytest.mark.parametrize(
    "override", ["agent.batch_sizee=3", "totl_steps=10", "eval.evry=5", "wandb.projct=x"]
)
def test_misspelled_key_fails(override: str) -> None:
    with pytest.raises((ConfigCompositionException, ConfigKeyError)):
        compose_config(override)


def test_wrongly_typed_value_fails() -> None:
    with pytest.raises((ConfigCompositionException, ValidationError)):
        compose_config("agent.batch_size=lots")


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            ["env=pendulum"],
            [
                "no env config 'pendulum' (configs/env/pendulum.yaml does not exist)",
                "did you mean Pendulum-v1?",
                "HalfCheetah-v5, Hopper-v5",
                "dm_control/walker-walk-v0",  # Hydra's own list leaves out the subfolder
                "env=custom env.id=<Gymnasium id>",
            ],
        ),
        (["env=dm_control/cheetah"], ["did you mean dm_control/cheetah-run-v0?"]),
        (
            ["agent.batch_size=lots"],
            [
                "Error merging override agent.batch_size=lots: "
                "Value 'lots' of type 'str' could not be converted to Integer"
            ],
        ),
        (["totl_steps=10"], ["Key 'totl_steps' not in 'TrainConfig'", "use +totl_steps=10"]),
        (["agent.actor_lr=[1,"], ["cannot parse the override 'agent.actor_lr=[1,'"]),
    ],
)
def test_composition_errors_read_as_one_line(overrides: list[str], expected: list[str]) -> None:
    """What train.py and evaluate.py print for what Hydra refuses (runner/hydra_errors.py):
    one line that keeps the facts of Hydra's several-line message and its cause."""
    with pytest.raises((HydraException, OmegaConfBaseException)) as caught:
        compose_config(*overrides)
    line = one_line(caught.value)
    assert "\n" not in line and "full_key" not in line
    for text in expected:
        assert text in line


@pytest.mark.parametrize("users_value", [None, "0"])
def test_run_cli_words_errors_before_the_job_and_gives_the_variable_back(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], users_value: str | None
) -> None:
    """run_cli holds HYDRA_FULL_ERROR at 1 (so Hydra raises) until the job starts; an error
    raised before is one line and exit 2; the user's own value comes back either way."""
    if users_value is None:
        monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    else:
        monkeypatch.setenv("HYDRA_FULL_ERROR", users_value)

    def composing() -> None:
        assert os.environ["HYDRA_FULL_ERROR"] == "1"
        raise ConfigCompositionException("Could not override 'x'.\nTo append use +x=1")

    with pytest.raises(SystemExit) as exited:
        run_cli(composing)
    assert exited.value.code == 2
    assert capsys.readouterr().err == "error: Could not override 'x'; To append use +x=1\n"
    assert os.environ.get("HYDRA_FULL_ERROR") == users_value

    def job() -> None:
        job_started()
        assert os.environ.get("HYDRA_FULL_ERROR") == users_value  # children see the user's
        raise ConfigCompositionException("raised by the job's own code")

    with pytest.raises(ConfigCompositionException):  # not turned into a one-line exit
        run_cli(job)
    assert os.environ.get("HYDRA_FULL_ERROR") == users_value


def test_run_cli_leaves_hydras_traceback_to_a_user_who_asks(monkeypatch) -> None:
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")

    def composing() -> None:
        raise ConfigCompositionException("bad override")

    with pytest.raises(ConfigCompositionException):
        run_cli(composing)
    assert os.environ["HYDRA_FULL_ERROR"] == "1"


def test_custom_env_file_takes_any_id() -> None:
    cfg = compose_config("env=custom", "env.id=MountainCarContinuous-v0")
    assert cfg.env.id == "MountainCarContinuous-v0"
    assert cfg.agent.actor_lr == pytest.approx(SACConfig().actor_lr)
    assert cfg.total_steps == TrainConfig().total_steps
