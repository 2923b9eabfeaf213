"""The parts of a training run built from its config: device, agent, replay buffer and
exploration noise. An allocation that does not fit is a ConfigError naming the setting."""

from __future__ import annotations

import torch

from agents import SACAgent
from agents.noise import ColoredNoise
from agents.replay_buffer import ReplayBuffer
from configs.schema import TrainConfig
from envs import EnvSpaces
from runner.errors import ConfigError, memory_error


def choose_device(setting: str) -> torch.device:
    """device=auto: CUDA when there is a GPU, else the CPU. Chosen once, for the whole run."""
    auto = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(auto if setting == "auto" else setting)


def build_agent(cfg: TrainConfig, spaces: EnvSpaces, device: torch.device) -> SACAgent:
    try:
        agent = SACAgent(
            spaces.obs_dim, spaces.action_dim, cfg.agent, device, spaces.action_low,
            spaces.action_high,
        )  # fmt: skip
    except (RuntimeError, MemoryError) as error:
        setting = f"agent.hidden_sizes={list(cfg.agent.hidden_sizes)}"
        raise memory_error(error, setting, device)  # noqa: B904 - error is its context
    if cfg.compile:
        agent.compile()
    return agent


def build_buffer(cfg: TrainConfig, spaces: EnvSpaces, device: torch.device) -> ReplayBuffer:
    try:
        return ReplayBuffer(cfg.agent.buffer_size, spaces.obs_dim, spaces.action_dim, device)
    except (RuntimeError, MemoryError) as error:
        setting = f"agent.buffer_size={cfg.agent.buffer_size}"
        raise memory_error(error, setting, device)  # noqa: B904 - error is its context


def build_noise(cfg: TrainConfig, spaces: EnvSpaces, step: int) -> ColoredNoise | None:
    """Colored acting noise (None for white, noise_beta=0), as a stream of its own (apart from
    the uniform warm-up's), seeded by the step so a resumed run draws new sequences rather than
    replaying the first ones."""
    if cfg.exploration.noise_beta <= 0:
        return None
    try:
        return ColoredNoise(
            cfg.exploration.noise_beta,
            cfg.num_envs,
            spaces.action_dim,
            # One sequence spans an episode; envs without a gymnasium time limit (DeepMind
            # Control ends its episodes itself, at 1,000 steps) get 1,000.
            spaces.max_episode_steps or 1000,
            seed=[cfg.seed, 1, step],
        )
    except ValueError as error:  # e.g. episodes too short for a colored sequence
        beta = cfg.exploration.noise_beta
        raise ConfigError(f"exploration.noise_beta={beta}: {error}") from error
