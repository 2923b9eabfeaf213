"""What both implementations train with: identical hyperparameters for the speed and
sample-efficiency comparisons, and each library's own tuned config for time to solve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
IMPLS = ("ours", "sb3")
ENVS = ("Pendulum-v1", "HalfCheetah-v5")

# Identical hyperparameters for the speed and sample-efficiency comparisons. SB3's own defaults
# match all of these except learning_starts (SB3: 100), which is set explicitly below, as is
# everything else, so a change of SB3 defaults cannot change the comparison silently.
SHARED = {
    "hidden_sizes": [256, 256],
    "batch_size": 256,
    "buffer_size": 1_000_000,
    "lr": 3e-4,  # actor, critics and alpha (SB3 has one learning rate for all three)
    "gamma": 0.99,
    "tau": 0.005,
    "utd": 1,  # gradient steps per env step (SB3: train_freq=1, gradient_steps=1)
    "learning_starts": 1000,
    "init_alpha": 1.0,  # SB3 ent_coef="auto" starts at 1.0 (sac.py: init_value = 1.0)
    "target_entropy": "-|A|",  # SB3 target_entropy="auto" is -prod(action shape)
}
# rl-baselines3-zoo's tuned SB3 SAC for Pendulum-v1 (hyperparams/sac.yml: n_timesteps 20000,
# policy MlpPolicy, learning_rate 1e-3; everything else SB3's defaults, so learning_starts 100):
# https://github.com/DLR-RM/rl-baselines3-zoo/blob/master/hyperparams/sac.yml
ZOO_PENDULUM = {"learning_rate": 1e-3, "learning_starts": 100}
SOLVE_THRESHOLD = -200.0
EVAL_SEED_OFFSET = 10_000  # as train.py's eval.seed_offset: eval episodes apart from training


def ours_config(lr: float = SHARED["lr"], **overrides: Any) -> Any:
    """SHARED's hyperparameters as our SACConfig; `overrides` replace any field (e.g. sizes)."""
    from agents import SACConfig

    fields = dict(
        batch_size=SHARED["batch_size"],
        buffer_size=SHARED["buffer_size"],
        gamma=SHARED["gamma"],
        tau=SHARED["tau"],
        actor_lr=lr,
        critic_lr=lr,
        alpha_lr=lr,
        hidden_sizes=list(SHARED["hidden_sizes"]),
        num_critics=2,
        utd=float(SHARED["utd"]),
        init_alpha=SHARED["init_alpha"],
        learn_alpha=True,
        target_entropy=None,
    )
    return SACConfig(**(fields | overrides))


def ours_tuned_pendulum() -> tuple[Any, int]:
    """Our Pendulum-v1 settings as `python train.py env=Pendulum-v1` composes them (Hydra):
    configs/agent/sac.yaml overridden by configs/env/Pendulum-v1.yaml."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from runner.config_store import register_configs

    register_configs()  # the typed schema (base_config) that config.yaml extends
    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base=None):
        cfg = OmegaConf.to_object(compose("config", overrides=["env=Pendulum-v1"]))
    return cfg.agent, cfg.learning_starts


def sb3_kwargs(
    learning_rate: float = SHARED["lr"], learning_starts: int = SHARED["learning_starts"]
) -> dict[str, Any]:
    """SHARED's hyperparameters as keyword arguments of SB3's `SAC("MlpPolicy", env, ...)`."""
    return dict(
        learning_rate=learning_rate,
        buffer_size=SHARED["buffer_size"],
        learning_starts=learning_starts,
        batch_size=SHARED["batch_size"],
        tau=SHARED["tau"],
        gamma=SHARED["gamma"],
        train_freq=SHARED["utd"],
        gradient_steps=1,
        ent_coef=f"auto_{SHARED['init_alpha']}",
        target_entropy="auto",
        policy_kwargs=dict(net_arch=list(SHARED["hidden_sizes"])),
    )
