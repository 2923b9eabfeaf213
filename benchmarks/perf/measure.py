"""Timings, each a function of its settings: the raw env step, ms per update on a prefilled
buffer (ours eager or compiled, SB3's `train()`), and an update's matmul calls replayed alone."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .flops import Layout, MatmulCall
from .settings import SHARED, ours_config, sb3_kwargs


def env_step_us(env_id: str, steps: int, seed: int) -> float:
    """Microseconds per step of the raw env under uniform random actions (resets included)."""
    import gymnasium as gym

    env = gym.make(env_id)
    env.action_space.seed(seed)
    actions = [env.action_space.sample() for _ in range(steps)]
    env.reset(seed=seed)
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    elapsed = time.perf_counter() - start
    env.close()
    return elapsed / steps * 1e6


def random_transitions(n: int, obs_dim: int, action_dim: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "obs": rng.standard_normal((n, obs_dim), dtype=np.float32),
        "action": rng.uniform(-1, 1, (n, action_dim)).astype(np.float32),
        "reward": rng.standard_normal(n, dtype=np.float32),
        "next_obs": rng.standard_normal((n, obs_dim), dtype=np.float32),
        "terminated": (rng.random(n) < 0.01).astype(np.float32),
    }


def chunked_ms(
    run: Callable[[int], None], warmup: int, updates: int, chunks: int, device: str = "cpu"
) -> list[float]:
    """ms per update in each of `chunks` timed chunks, after `warmup` untimed updates."""
    import torch

    sync = torch.cuda.synchronize if device == "cuda" else lambda: None  # GPU work is async
    run(warmup)
    per_chunk = max(1, updates // chunks)
    samples = []
    for _ in range(chunks):
        sync()
        start = time.perf_counter()
        run(per_chunk)
        sync()
        samples.append((time.perf_counter() - start) / per_chunk * 1e3)
    return samples


def ours_prefilled(env_id: str, prefill: int, seed: int, device: str = "cpu", **overrides: Any):
    import torch

    from agents import SACAgent
    from agents.replay_buffer import ReplayBuffer
    from envs import env_spaces

    torch.manual_seed(seed)
    spaces = env_spaces(env_id)
    config = ours_config(**overrides)
    agent = SACAgent(spaces.obs_dim, spaces.action_dim, config, device)
    buffer = ReplayBuffer(config.buffer_size, spaces.obs_dim, spaces.action_dim, device)
    data = random_transitions(prefill, spaces.obs_dim, spaces.action_dim, seed)
    buffer.add(data["obs"], data["action"], data["reward"], data["next_obs"], data["terminated"])
    return agent, buffer


def timed_updates(
    agent: Any, buffer: Any, warmup: int, updates: int, chunks: int, device: str = "cpu"
) -> list[float]:
    """chunked_ms of `agent.update(buffer.sample(batch_size))`."""
    batch_size = agent.config.batch_size

    def run(n: int) -> None:
        for _ in range(n):
            agent.update(buffer.sample(batch_size))

    return chunked_ms(run, warmup, updates, chunks, device)


def ours_update_ms(
    env_id: str,
    prefill: int,
    warmup: int,
    updates: int,
    chunks: int,
    seed: int,
    device: str = "cpu",
    **overrides: Any,
) -> list[float]:
    agent, buffer = ours_prefilled(env_id, prefill, seed, device, **overrides)
    return timed_updates(agent, buffer, warmup, updates, chunks, device)


def matmuls_only_ms(
    calls: list[MatmulCall], warmup: int, updates: int, chunks: int, device: str = "cpu"
) -> list[float]:
    """chunked_ms of the recorded matmul calls replayed alone, in order, on preallocated random
    operands of the same shapes and strides: what an update would take if every other op
    (activations, their backward, Adam, sampling, Polyak) and its dispatch cost nothing, with
    its operands kept warm in the cache: about what any update built on these kernels needs."""
    import torch

    def operand(arg: Any) -> Any:
        if not isinstance(arg, Layout):
            return arg
        size = 1 + sum((n - 1) * step for n, step in zip(arg.shape, arg.stride))
        storage = torch.randn(size, device=device)  # stride-0 (expanded) args share elements
        return torch.as_strided(storage, arg.shape, arg.stride)

    replay = [(func, [operand(a) for a in args]) for func, args in calls]

    def run(n: int) -> None:
        for _ in range(n):
            for func, args in replay:
                func(*args)

    return chunked_ms(run, warmup, updates, chunks, device)


def ours_compiled_update_ms(
    env_id: str, prefill: int, warmup: int, updates: int, chunks: int, seed: int
) -> tuple[float, list[float]]:
    """compile=true: seconds of the first compiled update (the compile), then ms per update as
    ours_update_ms."""
    agent, buffer = ours_prefilled(env_id, prefill, seed)
    for _ in range(2):  # the first update goes through optimizer.step() (Adam's state init)
        agent.update(buffer.sample(agent.config.batch_size))
    agent.compile()
    start = time.perf_counter()
    agent.update(buffer.sample(agent.config.batch_size))
    compile_s = time.perf_counter() - start
    return compile_s, timed_updates(agent, buffer, warmup, updates, chunks)


def sb3_update_ms(
    env_id: str,
    prefill: int,
    warmup: int,
    updates: int,
    chunks: int,
    seed: int,
    device: str = "cpu",
) -> list[float]:
    import gymnasium as gym
    from stable_baselines3 import SAC
    from stable_baselines3.common.logger import Logger

    model = SAC("MlpPolicy", gym.make(env_id), seed=seed, device=device, verbose=0, **sb3_kwargs())
    model.set_logger(Logger(folder=None, output_formats=[]))  # train() records; nothing written
    rb = model.replay_buffer
    obs_dim, action_dim = rb.obs_shape[0], rb.action_dim
    data = random_transitions(prefill, obs_dim, action_dim, seed)
    rb.observations[:prefill, 0] = data["obs"]
    rb.next_observations[:prefill, 0] = data["next_obs"]
    rb.actions[:prefill, 0] = data["action"]  # SB3 stores actions scaled to [-1, 1], as we do
    rb.rewards[:prefill, 0] = data["reward"]
    rb.dones[:prefill, 0] = data["terminated"]
    rb.pos, rb.full = prefill % rb.buffer_size, prefill >= rb.buffer_size

    def run(n: int) -> None:
        model.train(gradient_steps=n, batch_size=SHARED["batch_size"])  # samples inside

    return chunked_ms(run, warmup, updates, chunks, device)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB
