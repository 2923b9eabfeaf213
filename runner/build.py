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
    return agent  # compile=true compiles the population's update (runner/training.py)


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


def check_population_memory(cfg: TrainConfig, spaces: EnvSpaces, device: torch.device) -> None:
    """Refuse, before anything is built, a population whose replay buffers cannot all fit: they
    allocate lazily, so an oversized one would otherwise fail hours in, when the buffers fill."""
    widths = ReplayBuffer.field_widths(spaces.obs_dim, spaces.action_dim)
    row_bytes = 4 * sum(widths.values())  # float32
    needed = cfg.population * cfg.agent.buffer_size * row_bytes
    available = available_memory(device)
    if available is not None and needed > available:
        where = "GPU memory" if device.type == "cuda" else "RAM"
        raise ConfigError(
            f"population={cfg.population} x agent.buffer_size={cfg.agent.buffer_size} needs "
            f"{needed / 2**30:.1f} GiB of replay buffers ({needed} bytes), more than the "
            f"{available / 2**30:.1f} GiB of {where} available; lower one of them"
        )


def available_memory(device: torch.device) -> int | None:
    """Free bytes on `device`: the GPU's free memory, or the RAM Linux says is available."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # not Linux: no refusal up front
        return None
    return None
