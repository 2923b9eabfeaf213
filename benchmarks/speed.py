"""Our SAC against Stable-Baselines3 SAC on the same machine, in one invocation (issue 5).

    python benchmarks/speed.py             # full run: benchmarks/RESULTS.md + results.json
    python benchmarks/speed.py --quick     # seconds: Pendulum only, 1 repeat, to a temp dir
    python benchmarks/speed.py --profile   # also profile one of our updates (torch.profiler)

Never run by CI (tests/test_benchmark.py runs only --quick). What it measures, per run:

- steady env-steps/s after learning starts: a window of --steps env steps (each with one
  gradient update) after learning_starts + --warmup steps, in train.py's own training loop
  (`Trainer.train`, W&B disabled; random actions before learning_starts). SB3 runs its own
  `learn()`; a callback takes the same window's timestamps;
- ms per gradient update on a prefilled buffer, sampling included on both sides: ours is
  `agent.update(buffer.sample(256))`, SB3's is `model.train(gradient_steps=K, batch_size=256)`,
  whose loop samples its replay buffer itself;
- env step alone: random actions on the raw `gymnasium.make(env_id)` env;
- peak RSS: `ru_maxrss` of the child process after the training window (each run is a fresh
  subprocess, so nothing carries over between runs).

Runs alternate ours, SB3, ours, SB3, ... (--repeats each). The report takes the median per
metric and the ratio ours/SB3 (for times, SB3/ours: the speedup). Each run also times torch.mm
at the benchmark's shapes, so ms/update can be set against the FLOP floor of one update measured
under the same load, and (ours, on a CPU) replays the matmul calls of one of our updates alone:
how close to the floor any update built on these kernels could come. Time-to-solve and sample
efficiency train Pendulum-v1 for several seeds.

Every measurement runs in a child process (`--child SPEC`) that prints one JSON line; the parent
only orchestrates, so at most one CPU-heavy process runs at a time.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

RESULT_MARK = "BENCH_RESULT "
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

Policy = Callable[[np.ndarray], np.ndarray]  # batched obs -> actions in [-1, 1]


# ------------------------------------------------------------------------- configurations


def ours_config(lr: float = SHARED["lr"], **overrides: Any):
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

    import train  # noqa: F401 - registers the typed schema (base_config) with Hydra

    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base=None):
        cfg = OmegaConf.to_object(compose("config", overrides=["env=Pendulum-v1"]))
    return cfg.agent, cfg.learning_starts


def sb3_kwargs(
    learning_rate: float = SHARED["lr"], learning_starts: int = SHARED["learning_starts"]
) -> dict[str, Any]:
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


# ------------------------------------------------------------------------- FLOP count


def update_flops(
    obs_dim: int, action_dim: int, hidden: list[int], batch: int, num_critics: int = 2
) -> dict[str, float]:
    """Matmul FLOPs of one SAC update (elementwise ops, Adam and sampling are not counted).

    A linear layer in->out on B rows costs 2*B*in*out in the forward pass. Its backward costs
    the same again for the weight gradient (x^T g) and again for the input gradient (g W^T): so
    "bwd = 2x fwd" for a network whose weights train, "bwd = 1x fwd" for a frozen one that only
    passes gradient to its input. Autograd skips an input gradient no one needs, so the first
    layer of a network fed with data (obs, or cat(obs, action) from the buffer) has none; the
    plain 2x rule (`rule_of_thumb`) counts it anyway (~550 MFLOP for Pendulum, as in issue 5).

    1. target (no_grad): actor fwd on next_obs + n target critics fwd;
    2. critic step: n critics fwd + bwd (weight grads; input grads except the first layer);
    3. actor step: actor fwd + n critics fwd with frozen weights + their bwd, input grads only
       (in the first layer only for the action columns: the observation needs none) + actor bwd
       (weight grads; input grads except the first layer). The alpha step has no matmul.

    `tests/test_benchmark.py` checks the total against the matmuls one of our updates runs.
    """

    def layers(dims: list[int]) -> list[float]:
        return [2.0 * batch * d_in * d_out for d_in, d_out in zip(dims[:-1], dims[1:])]

    # mu and log_std heads: two 256->A layers, counted as one 256->2A layer (same FLOPs).
    actor = layers([obs_dim, *hidden, 2 * action_dim])
    critic = [num_critics * f for f in layers([obs_dim + action_dim, *hidden, 1])]
    actor_fwd, critic_fwd = sum(actor), sum(critic)
    target = actor_fwd + critic_fwd
    critic_step = critic_fwd + 2 * critic_fwd - critic[0]
    critic_action_grad = num_critics * 2.0 * batch * hidden[0] * action_dim  # first layer
    critic_input_grads = critic_fwd - critic[0] + critic_action_grad
    actor_step = actor_fwd + critic_fwd + critic_input_grads + 2 * actor_fwd - actor[0]
    total = target + critic_step + actor_step
    rule = target + 3 * critic_fwd + (3 * actor_fwd + 2 * critic_fwd)
    return {
        "target": target,
        "critic_step": critic_step,
        "actor_step": actor_step,
        "total": total,
        "rule_of_thumb": rule,
    }


def matmul_gflops(chunks: int, calls: int, device: str = "cpu") -> dict[str, float]:
    """torch GFLOP/s at the update's shapes (batch 256 x 256x256 weights), at the set threads.

    mm: the forward x @ W; mm_tn: a weight gradient x^T @ g; mm_nt: an input gradient g @ W^T;
    bmm2: the critic ensemble's batched (2, 256, 256) @ (2, 256, 256). Median over chunks.
    """
    import torch

    b, h = SHARED["batch_size"], SHARED["hidden_sizes"][0]
    x, w, g = (torch.randn(*shape, device=device) for shape in ((b, h), (h, h), (b, h)))
    x2, w2 = torch.randn(2, b, h, device=device), torch.randn(2, h, h, device=device)
    sync = torch.cuda.synchronize if device == "cuda" else lambda: None
    cases = {
        "mm": (lambda: torch.mm(x, w), 2.0 * b * h * h),
        "mm_tn": (lambda: torch.mm(x.t(), g), 2.0 * b * h * h),
        "mm_nt": (lambda: torch.mm(g, w.t()), 2.0 * b * h * h),
        "bmm2": (lambda: torch.bmm(x2, w2), 4.0 * b * h * h),
    }
    rates = {}
    for name, (call, flops) in cases.items():
        for _ in range(calls // 4):
            call()
        samples = []
        for _ in range(chunks):
            sync()
            start = time.perf_counter()
            for _ in range(calls):
                call()
            sync()
            samples.append(flops * calls / (time.perf_counter() - start) / 1e9)
        rates[name] = statistics.median(samples)
    return rates


# ------------------------------------------------------------------------- training loops


class Hook:
    """Called after every env step (and its updates) with the env step count and a
    deterministic policy; returning True stops training."""

    def start(self) -> None:
        pass

    def __call__(self, step: int, policy: Policy) -> bool:
        return False


class WindowTimer(Hook):
    """Timestamps at env steps `first` and `last`: (last - first) steps, each with its update."""

    def __init__(self, first: int, last: int) -> None:
        self.first, self.last, self.times = first, last, {}

    def __call__(self, step: int, policy: Policy) -> bool:
        if step in (self.first, self.last):
            self.times[step] = time.perf_counter()
        return False

    @property
    def steps_per_s(self) -> float:
        return (self.last - self.first) / (self.times[self.last] - self.times[self.first])


class SolveClock(Hook):
    """Evaluates every `every` steps; stops at the first mean return >= threshold. Its clock
    counts training only: evaluation time is paused out."""

    def __init__(self, env_id: str, seed: int, every: int, episodes: int) -> None:
        from envs import make_vector_env

        self.eval_envs = make_vector_env(env_id, 1)
        self.seed, self.every, self.episodes = seed, every, episodes
        self.curve: list[dict[str, float]] = []
        self.solved: dict[str, float] | None = None
        self.t0, self.paused = 0.0, 0.0

    def start(self) -> None:
        self.t0 = time.perf_counter()

    def __call__(self, step: int, policy: Policy) -> bool:
        if step % self.every:
            return False
        from evaluate import evaluate

        t = time.perf_counter()
        train_s = t - self.t0 - self.paused
        report = evaluate(policy, self.eval_envs, self.episodes, seed=self.seed + EVAL_SEED_OFFSET)
        self.paused += time.perf_counter() - t
        point = {"step": step, "train_s": train_s, "return_mean": report["return_mean"]}
        self.curve.append(point)
        if report["return_mean"] >= SOLVE_THRESHOLD:
            self.solved = point
            return True
        return False


def ours_train_config(
    env_id: str,
    agent: Any,
    learning_starts: int,
    total_steps: int,
    seed: int,
    device: str,
    compile: bool = False,
) -> Any:
    """train.py's TrainConfig for a benchmark run: W&B off, no progress bar, no evaluation or
    checkpoint inside the run (both are timed separately, or paused out), logs every 1,000
    steps as train.py's default; only the final evaluation and model files at the end."""
    from configs.schema import (
        CheckpointConfig,
        EnvConfig,
        EvalConfig,
        TrainConfig,
        WandbConfig,
    )

    return TrainConfig(
        env=EnvConfig(id=env_id),
        agent=agent,
        eval=EvalConfig(every=0, episodes=1),
        checkpoint=CheckpointConfig(every=0, save_buffer=False),
        wandb=WandbConfig(mode="disabled"),
        seed=seed,
        total_steps=total_steps,
        learning_starts=learning_starts,
        device=device,
        progress=False,
        compile=compile,
    )


def train_ours(
    env_id: str,
    config: Any,
    learning_starts: int,
    total_steps: int,
    seed: int,
    hook: Hook,
    device: str = "cpu",
    compile: bool = False,
) -> tuple[Any, Policy]:
    """train.py's own `Trainer.train` (one env, W&B disabled; `ours_train_config`), with `hook`
    called after every env step: what is timed is the loop users run, not a copy of it."""
    import train

    cfg = ours_train_config(env_id, config, learning_starts, total_steps, seed, device, compile)
    run_dir = Path(tempfile.mkdtemp(prefix="sac-bench-run-"))
    trainer = train.Trainer(cfg, {}, run_dir)

    def policy(obs: np.ndarray) -> np.ndarray:
        return trainer.agent.act(obs, deterministic=True)

    try:
        logger = train.RunLogger(run_dir, cfg, {})
        try:
            hook.start()
            trainer.train(logger, on_step=lambda step: hook(step, policy))
        finally:
            logger.close({})
    finally:
        trainer.close()
        shutil.rmtree(run_dir, ignore_errors=True)
    return trainer.agent, policy


def train_sb3(
    env_id: str,
    kwargs: dict[str, Any],
    total_steps: int,
    seed: int,
    hook: Hook,
    device: str = "cpu",
) -> tuple[Any, Policy]:
    """SB3's own `learn()`; a callback hands the hook each env step. SB3 calls callbacks after
    the env step and before that step's `train()`, so a window [a, b] holds b - a steps and
    b - a updates, as ours does."""
    import gymnasium as gym
    import torch
    from stable_baselines3 import SAC
    from stable_baselines3.common.callbacks import BaseCallback

    model = SAC("MlpPolicy", gym.make(env_id), seed=seed, device=device, verbose=0, **kwargs)

    def policy(obs: np.ndarray) -> np.ndarray:  # SB3's squashed deterministic action, in [-1, 1]
        with torch.no_grad():
            obs_t = torch.as_tensor(obs, dtype=torch.float32, device=model.device)
            return model.actor(obs_t, deterministic=True).cpu().numpy()

    class Callback(BaseCallback):
        def _on_step(self) -> bool:
            return not hook(self.num_timesteps, policy)

    hook.start()
    model.learn(total_timesteps=total_steps, callback=Callback(), progress_bar=False)
    return model, policy


# ------------------------------------------------------------------------- measurements


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


class Layout(NamedTuple):
    """A tensor argument's shape and strides, as recorded from one update."""

    shape: tuple[int, ...]
    stride: tuple[int, ...]


MatmulCall = tuple[Any, list[Any]]  # (aten op, its args: a Layout per tensor)


def record_update_matmuls(agent: Any, batch: Any) -> list[MatmulCall]:
    """The matmul calls (`mm`, `addmm`, `bmm`, `baddbmm`) that `agent.update(batch)` runs, in
    order, seen below autograd and our manual backward alike (a TorchDispatchMode)."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    aten = torch.ops.aten
    matmuls = {aten.mm.default, aten.addmm.default, aten.bmm.default, aten.baddbmm.default}
    calls: list[MatmulCall] = []

    class Recorder(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func in matmuls:
                layouts = [
                    Layout(tuple(a.shape), a.stride()) if isinstance(a, torch.Tensor) else a
                    for a in args
                ]
                calls.append((func, layouts))
            return func(*args, **(kwargs or {}))

    with Recorder():
        agent.update(batch)
    return calls


def matmul_call_flops(call: MatmulCall) -> float:
    """2 * M * K * N (times the batch of a bmm) of one recorded call; the last two tensor
    arguments are the factors (addmm and baddbmm take the bias first)."""
    lhs, rhs = [a.shape for a in call[1] if isinstance(a, Layout)][-2:]
    return 2.0 * float(np.prod(lhs)) * rhs[-1]


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


def child_speed(spec: dict[str, Any]) -> dict[str, Any]:
    import torch

    env_id, impl, seed = spec["env_id"], spec["impl"], spec["seed"]
    device = spec.get("device", "cpu")
    out: dict[str, Any] = {
        "env_id": env_id,
        "impl": impl,
        "seed": seed,
        "threads": torch.get_num_threads(),
    }
    out["env_step_us"] = env_step_us(env_id, spec["env_steps"], seed)
    first = SHARED["learning_starts"] + spec["warmup"]
    timer = WindowTimer(first, first + spec["steps"])
    if impl == "ours":
        config = ours_config()
        train_ours(
            env_id, config, SHARED["learning_starts"], timer.last, seed, timer, device=device
        )
    else:
        train_sb3(env_id, sb3_kwargs(), timer.last, seed, timer, device=device)
    out["steps_per_s"] = timer.steps_per_s
    out["peak_rss_mb"] = peak_rss_mb()  # the training run's peak, before the prefill below
    args = (env_id, spec["prefill"], spec["update_warmup"], spec["updates"], spec["chunks"], seed)
    samples = ours_update_ms(*args, device) if impl == "ours" else sb3_update_ms(*args, device)
    out["ms_per_update"] = statistics.median(samples)
    out["ms_per_update_chunks"] = samples
    if impl == "ours" and device == "cpu" and spec.get("compiled", True):
        compile_s, compiled = ours_compiled_update_ms(*args)
        out["compile_s"], out["ms_per_update_compiled"] = compile_s, statistics.median(compiled)
    if impl == "ours" and device == "cuda":  # what the CUDA graph saves, same process
        eager = ours_update_ms(*args, device, cuda_graphs=False)
        out["ms_per_update_no_cuda_graph"] = statistics.median(eager)
    if impl == "ours" and device == "cpu":  # a CUDA graph's replay hides its ops from a mode
        agent, buffer = ours_prefilled(env_id, spec["prefill"], seed)
        calls = record_update_matmuls(agent, buffer.sample(agent.config.batch_size))
        out["matmul_calls_per_update"] = len(calls)
        out["recorded_matmul_flops"] = sum(matmul_call_flops(call) for call in calls)
        replayed = matmuls_only_ms(calls, spec["update_warmup"], spec["updates"], spec["chunks"])
        out["ms_matmuls_only"] = statistics.median(replayed)
    # Measured after the update timings, under the same load, for the FLOP floor.
    out["matmul_gflops"] = matmul_gflops(spec["chunks"], spec["matmul_calls"], device)
    out["rss_after_prefill_mb"] = peak_rss_mb()
    return out


def child_solve(spec: dict[str, Any]) -> dict[str, Any]:
    """Train with each implementation's own tuned Pendulum config until solved or capped."""
    env_id, impl, seed = spec["env_id"], spec["impl"], spec["seed"]
    clock = SolveClock(env_id, seed, spec["eval_every"], spec["eval_episodes"])
    if impl == "ours":
        config, learning_starts = ours_tuned_pendulum()
        train_ours(
            env_id,
            config,
            learning_starts,
            spec["max_steps"],
            seed,
            clock,
            device=spec.get("device", "cpu"),
        )
    else:
        kwargs = sb3_kwargs(**ZOO_PENDULUM)
        train_sb3(env_id, kwargs, spec["max_steps"], seed, clock, device=spec.get("device", "cpu"))
    return {
        "env_id": env_id,
        "impl": impl,
        "seed": seed,
        "solved": clock.solved,
        "curve": clock.curve,
    }


def child_final_return(spec: dict[str, Any]) -> dict[str, Any]:
    """Train `steps` env steps at the shared hyperparameters; evaluate the final policy."""
    from envs import make_vector_env
    from evaluate import evaluate

    env_id, impl, seed, steps = spec["env_id"], spec["impl"], spec["seed"], spec["steps"]
    start = time.perf_counter()
    if impl == "ours":
        _, policy = train_ours(
            env_id,
            ours_config(spec["lr"]),
            SHARED["learning_starts"],
            steps,
            seed,
            Hook(),
            device=spec.get("device", "cpu"),
        )
    else:
        kwargs = sb3_kwargs(spec["lr"])
        _, policy = train_sb3(env_id, kwargs, steps, seed, Hook(), device=spec.get("device", "cpu"))
    wall = time.perf_counter() - start
    report = evaluate(
        policy, make_vector_env(env_id, 1), spec["eval_episodes"], seed=seed + EVAL_SEED_OFFSET
    )
    return {
        "env_id": env_id,
        "impl": impl,
        "seed": seed,
        "steps": steps,
        "train_s": wall,
        "return_mean": report["return_mean"],
        "return_std": report["return_std"],
    }


def child_profile(spec: dict[str, Any]) -> dict[str, Any]:
    """torch.profiler over a few of our updates on a prefilled buffer: top ops by self CPU."""
    from torch.profiler import ProfilerActivity, profile

    agent, buffer = ours_prefilled(spec["env_id"], spec["prefill"], 0)
    batch_size, n = agent.config.batch_size, spec["updates"]
    for _ in range(spec["warmup"]):
        agent.update(buffer.sample(batch_size))
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(n):
            agent.update(buffer.sample(batch_size))
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total_us = sum(e.self_cpu_time_total for e in events)
    top = [
        {
            "op": e.key,
            "self_ms_per_update": e.self_cpu_time_total / n / 1e3,
            "self_pct": 100.0 * e.self_cpu_time_total / total_us,
            "calls_per_update": e.count / n,
        }
        for e in events[: spec["rows"]]
    ]
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=spec["rows"])
    return {
        "env_id": spec["env_id"],
        "updates": n,
        "self_cpu_ms_per_update": total_us / n / 1e3,
        "top": top,
        "table": table,
    }


CHILDREN = {
    "speed": child_speed,
    "solve": child_solve,
    "final_return": child_final_return,
    "profile": child_profile,
}


def child_main(spec: dict[str, Any]) -> None:
    import torch

    torch.set_num_threads(spec["threads"])  # deliberate, identical for ours and SB3
    result = CHILDREN[spec["task"]](spec)
    print(RESULT_MARK + json.dumps(result), flush=True)


# ------------------------------------------------------------------------- orchestration


def run_child(spec: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
    """One fresh process per run (so peak RSS is that run's); returns its JSON line."""
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(spec["threads"]),
        "MKL_NUM_THREADS": str(spec["threads"]),
        "SDL_VIDEODRIVER": "dummy",
    }
    proc = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK) :])
    raise RuntimeError(
        f"child {spec['task']} {spec.get('impl', '')} {spec['env_id']} failed "
        f"(exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    )


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def machine_info(threads: int, device: str = "cpu") -> dict[str, Any]:
    import gymnasium
    import stable_baselines3
    import torch

    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor() or "unknown"
    try:
        import mujoco

        mujoco_version = mujoco.__version__
    except ImportError:
        mujoco_version = None
    return {
        "cpu_model": model,
        "device": device,
        "gpu": torch.cuda.get_device_name() if device == "cuda" else None,
        "cpu_count": os.cpu_count(),
        "threads": threads,
        "torch": torch.__version__,
        "torch_num_threads_default": torch.get_num_threads(),
        "stable_baselines3": stable_baselines3.__version__,
        "gymnasium": gymnasium.__version__,
        "mujoco": mujoco_version,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "loadavg_start": list(os.getloadavg()),
    }


def median_or_none(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


SPEED_METRICS = {  # metric -> (label, ratio kind: "ours/sb3" or "sb3/ours" for times)
    "steps_per_s": ("env-steps/s, steady (after learning_starts)", "ours/sb3"),
    "ms_per_update": ("ms per update (prefilled buffer, sampling included)", "sb3/ours"),
    "env_step_us": ("raw env step alone (µs, random actions)", "sb3/ours"),
    "peak_rss_mb": ("peak RSS of the training run (MiB)", "ours/sb3"),
    "floor_ratio": ("ms/update ÷ FLOP floor", "ours/sb3"),
}


def summarize(runs: list[dict[str, Any]], envs: list[str]) -> tuple[dict, dict]:
    from envs import env_spaces

    summary, flops = {}, {}
    for env_id in envs:
        spaces = env_spaces(env_id)
        count = update_flops(
            spaces.obs_dim, spaces.action_dim, SHARED["hidden_sizes"], SHARED["batch_size"]
        )
        per_impl: dict[str, dict[str, list[float]]] = {impl: {} for impl in IMPLS}
        for run in (r for r in runs if r["env_id"] == env_id):
            floor_ms = count["total"] / (run["matmul_gflops"]["mm"] * 1e9) * 1e3
            run["floor_ms"] = floor_ms
            run["floor_ratio"] = run["ms_per_update"] / floor_ms
            if "ms_matmuls_only" in run:
                run["matmuls_only_floor_ratio"] = run["ms_matmuls_only"] / floor_ms
                for key in ("ms_matmuls_only", "matmuls_only_floor_ratio"):
                    per_impl[run["impl"]].setdefault(key, []).append(run[key])
            for metric in (*SPEED_METRICS, "floor_ms"):
                per_impl[run["impl"]].setdefault(metric, []).append(run[metric])
            per_impl[run["impl"]].setdefault("gflops_mm", []).append(run["matmul_gflops"]["mm"])
        env_summary = {}
        for metric, (_, kind) in SPEED_METRICS.items():
            ours = median_or_none(per_impl["ours"].get(metric, []))
            sb3 = median_or_none(per_impl["sb3"].get(metric, []))
            ratio = None
            if ours and sb3:
                ratio = ours / sb3 if kind == "ours/sb3" else sb3 / ours
            env_summary[metric] = {
                "ours": ours,
                "sb3": sb3,
                "ratio": ratio,
                "ratio_kind": kind,
                "ours_runs": per_impl["ours"].get(metric, []),
                "sb3_runs": per_impl["sb3"].get(metric, []),
            }
        summary[env_id] = env_summary
        gflops = median_or_none(
            per_impl["ours"].get("gflops_mm", []) + per_impl["sb3"].get("gflops_mm", [])
        )
        floor_ms = count["total"] / (gflops * 1e9) * 1e3 if gflops else None
        flops[env_id] = {
            "obs_dim": spaces.obs_dim,
            "action_dim": spaces.action_dim,
            "flops": count,
            "gflops_mm_median": gflops,
            "floor_ms_median": floor_ms,
            "ours_ms_matmuls_only": median_or_none(per_impl["ours"].get("ms_matmuls_only", [])),
            "ours_matmuls_only_floor_ratio": median_or_none(
                per_impl["ours"].get("matmuls_only_floor_ratio", [])
            ),
        }
    return summary, flops


def summarize_pairs(results: list[dict[str, Any]], value: Callable[[dict], float | None]) -> dict:
    per_impl = {impl: [value(r) for r in results if r["impl"] == impl] for impl in IMPLS}
    return {
        impl: {
            "per_seed": vals,
            "median": statistics.median(v if v is not None else float("inf") for v in vals)
            if vals
            else None,
        }
        for impl, vals in per_impl.items()
    }


# ------------------------------------------------------------------------- report


def fmt(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if value == float("inf"):
        return "not solved"
    return f"{value:,.{digits}f}"


def render_markdown(results: dict[str, Any]) -> str:
    m, s = results["machine"], results["settings"]
    first = SHARED["learning_starts"] + s["warmup"]
    lines = [
        "# Speed: our SAC vs Stable-Baselines3 SAC",
        "",
        f"Generated by `python benchmarks/speed.py {' '.join(s['argv'])}` on {m['date']}."
        + (" **Quick mode: tiny step counts, indicative only.**" if s["quick"] else "")
        + (
            f" Report re-rendered from its results.json on {results['rerendered']} by that "
            "day's speed.py (`--render`: its FLOP count, tables and text; the runs' measurements "
            "unchanged)."
            if results.get("rerendered")
            else ""
        ),
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu_model']}, {m['cpu_count']} logical cores",
        *(
            [f"- GPU: {m['gpu']}: both implementations train on it (`--device cuda`)"]
            if m.get("gpu")
            else []
        ),
        f"- torch {m['torch']}, torch threads used: {m['threads']} (set with "
        f"`torch.set_num_threads` and OMP/MKL_NUM_THREADS in every child, ours and SB3 alike)",
        f"- stable-baselines3 {m['stable_baselines3']}, gymnasium {m['gymnasium']}, "
        f"mujoco {m['mujoco']}, numpy {m['numpy']}, Python {m['python']}",
        f"- load average (1/5/15 min) at start {m['loadavg_start']}, at end "
        f"{m.get('loadavg_end')}: other jobs on the machine inflate every time alike",
        "",
        "## Method",
        "",
        f"Identical hyperparameters: {json.dumps(SHARED)}. SB3: `SAC('MlpPolicy', env, "
        f"**{json.dumps(sb3_kwargs())})` (SB3's default learning_starts is 100: set to 1000). "
        "One network detail differs: our actor bounds log σ to [-5, 2] with a tanh (CleanRL's "
        "form), SB3 clamps it to [-20, 2]; the FLOPs are the same.",
        f"{s['repeats']} alternating repeats (ours, SB3, ours, SB3, ...), each a fresh process; "
        f"medians. Steady env-steps/s: env steps {first}..{first + s['steps']}"
        " (one gradient update each), ours in train.py's own loop (`Trainer.train`, W&B "
        "disabled), SB3 in its `learn()`. ms/update: median over "
        f"{s['chunks']} chunks of {s['updates'] // s['chunks']} updates on a buffer prefilled with "
        f"{s['prefill']:,} random transitions, after {s['update_warmup']} warm-up updates; "
        "sampling included for both. Ratios: ours/SB3, and SB3/ours (speedup) for times.",
        "",
        *render_speed(results),
        *render_solve(results),
        *render_sample_efficiency(results),
        *render_profile(results),
    ]
    return "\n".join(lines).rstrip() + "\n"


def render_speed(results: dict[str, Any]) -> list[str]:
    """Per-env speed tables and the FLOP floor; one line when no speed runs were asked for."""
    if not results["runs"]:
        return ["## Speed", "", "Skipped (--repeats 0).", ""]
    lines: list[str] = []
    for env_id, metrics in results["summary"].items():
        lines += [
            f"## {env_id}",
            "",
            "| metric | ours | SB3 | ratio | ours per run | SB3 per run |",
            "|---|---:|---:|---:|---|---|",
        ]
        for metric, (label, kind) in SPEED_METRICS.items():
            row = metrics[metric]
            ratio = "n/a" if row["ratio"] is None else f"{row['ratio']:.2f}× ({kind})"
            runs_o = ", ".join(fmt(v) for v in row["ours_runs"])
            runs_s = ", ".join(fmt(v) for v in row["sb3_runs"])
            lines.append(
                f"| {label} | {fmt(row['ours'])} | {fmt(row['sb3'])} | {ratio} | "
                f"{runs_o} | {runs_s} |"
            )
        eager = [
            r["ms_per_update_no_cuda_graph"]
            for r in results["runs"]
            if r["env_id"] == env_id and "ms_per_update_no_cuda_graph" in r
        ]
        if eager:
            lines.append(
                f"| ms per update, ours without CUDA graphs (`agent.cuda_graphs=false`) | "
                f"{fmt(statistics.median(eager))} | | | {', '.join(fmt(v) for v in eager)} | |"
            )
        compiled = [r for r in results["runs"] if r["env_id"] == env_id and "compile_s" in r]
        if compiled:
            ms = [r["ms_per_update_compiled"] for r in compiled]
            secs = [r["compile_s"] for r in compiled]
            lines.append(
                f"| ms per update, ours with `compile=true` (compile s: "
                f"{', '.join(fmt(v) for v in secs)}) | {fmt(statistics.median(ms))} | | | "
                f"{', '.join(fmt(v) for v in ms)} | |"
            )
        lines.append("")
    lines += [
        "## FLOP floor",
        "",
        "Matmul FLOPs of one update (batch 256; see `update_flops` for the counting: target "
        "forward, critic fwd+bwd, actor fwd + frozen-critic fwd/input-grad bwd + actor bwd; "
        "input gradients of data-fed first layers are not needed and not counted). "
        "GFLOP/s: `torch.mm` of (256×256)@(256×256) at the threads used, measured in every "
        "run after its update timings (median). Floor = FLOPs ÷ GFLOP/s. Ours' matmuls "
        "alone: the matmul calls of one of our updates (recorded below autograd with a "
        "TorchDispatchMode) replayed in order, back to back, on preallocated operands of the "
        "same shapes, every other op left out: the update if everything but its matmuls were "
        "free (CPU runs only).",
        "",
        "| env | obs, act | MFLOP/update (2× rule) | mm GFLOP/s | floor ms | ours ms "
        "| ours ÷ floor | ours' matmuls alone ms | ÷ floor | SB3 ms | SB3 ÷ floor |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for env_id, f in results["flops"].items():
        row = results["summary"][env_id]
        lines.append(
            f"| {env_id} | {f['obs_dim']}, {f['action_dim']} | {f['flops']['total'] / 1e6:.1f} "
            f"({f['flops']['rule_of_thumb'] / 1e6:.1f}) | {fmt(f['gflops_mm_median'])} | "
            f"{fmt(f['floor_ms_median'], 2)} | {fmt(row['ms_per_update']['ours'], 2)} | "
            f"{fmt(row['floor_ratio']['ours'], 2)} | {fmt(f.get('ours_ms_matmuls_only'), 2)} | "
            f"{fmt(f.get('ours_matmuls_only_floor_ratio'), 2)} | "
            f"{fmt(row['ms_per_update']['sb3'], 2)} | {fmt(row['floor_ratio']['sb3'], 2)} |"
        )
    rates = [r["matmul_gflops"] for r in results["runs"]]
    if rates:
        lines += [
            "",
            "Other shapes (GFLOP/s, median over runs): "
            + ", ".join(f"{k} {statistics.median(r[k] for r in rates):.1f}" for k in rates[0])
            + ".",
        ]
    return [*lines, ""]


def render_solve(results: dict[str, Any]) -> list[str]:
    solve = results.get("solve")
    if not solve:
        return ["## Time to solve Pendulum-v1", "", "Skipped (--skip-solve).", ""]
    s = results["settings"]
    lines = [
        "## Time to solve Pendulum-v1",
        "",
        f"Wall-clock training seconds to the first deterministic eval return ≥ "
        f"{SOLVE_THRESHOLD:.0f} ({s['eval_episodes']} episodes every {s['eval_every']:,} "
        f"steps, eval time excluded, cap {s['solve_max_steps']:,} steps). Each with its own "
        "tuned config: ours configs/agent/sac.yaml + configs/env/Pendulum-v1.yaml; SB3 "
        f"rl-baselines3-zoo hyperparams/sac.yml Pendulum-v1 ({json.dumps(ZOO_PENDULUM)}, "
        "learning_starts = SB3's default).",
        "",
        "| seed | ours s (step) | SB3 s (step) |",
        "|---|---|---|",
    ]
    for seed in s["solve_seeds_list"]:
        cells = []
        for impl in IMPLS:
            run = next(r for r in solve["runs"] if r["impl"] == impl and r["seed"] == seed)
            p = run["solved"]
            cells.append("not solved" if p is None else f"{p['train_s']:.1f} ({p['step']:,})")
        lines.append(f"| {seed} | {cells[0]} | {cells[1]} |")
    o, b = solve["summary"]["ours"]["median"], solve["summary"]["sb3"]["median"]
    speedup = b / o if o and b and o != float("inf") and b != float("inf") else None
    lines += [
        "",
        f"Median: ours {fmt(o)} s, SB3 {fmt(b)} s; SB3/ours = {fmt(speedup, 2)}× faster to solve.",
        "",
    ]
    return lines


def render_sample_efficiency(results: dict[str, Any]) -> list[str]:
    se = results.get("sample_efficiency")
    if not se:
        return ["## Sample efficiency", "", "Skipped (--skip-sample-efficiency).", ""]
    s = results["settings"]
    lines = [
        "## Sample efficiency (Pendulum-v1)",
        "",
        f"Final deterministic eval return ({s['eval_episodes']} episodes) after "
        f"{s['se_steps']:,} env steps, identical hyperparameters (lr {s['se_lr']}).",
        "",
        "| seed | ours | SB3 |",
        "|---|---:|---:|",
    ]
    for seed in s["se_seeds_list"]:
        cells = [
            next(r for r in se["runs"] if r["impl"] == impl and r["seed"] == seed) for impl in IMPLS
        ]
        lines.append(f"| {seed} | {cells[0]['return_mean']:.1f} | {cells[1]['return_mean']:.1f} |")
    o, b = se["summary"]["ours"], se["summary"]["sb3"]
    lines += [
        "",
        f"Mean over seeds: ours {statistics.mean(o['per_seed']):.1f}, SB3 "
        f"{statistics.mean(b['per_seed']):.1f} (medians {o['median']:.1f}, "
        f"{b['median']:.1f}).",
        "",
    ]
    return lines


def render_profile(results: dict[str, Any]) -> list[str]:
    profiles = results.get("profile")
    if not profiles:
        return []
    lines = ["## Profile of one of our updates (torch.profiler, self CPU time)", ""]
    for p in profiles:
        lines += [
            f"### {p['env_id']} sizes: {p['self_cpu_ms_per_update']:.2f} ms self CPU per "
            f"update (profiler overhead included), {p['updates']} updates",
            "",
            "| op | self ms/update | % | calls/update |",
            "|---|---:|---:|---:|",
        ]
        lines += [
            f"| `{t['op']}` | {t['self_ms_per_update']:.3f} | {t['self_pct']:.1f} | "
            f"{t['calls_per_update']:.0f} |"
            for t in p["top"]
        ]
        lines.append("")
    return lines


# ------------------------------------------------------------------------- main


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="seconds: Pendulum, 1 repeat, tiny counts")
    p.add_argument(
        "--output",
        type=Path,
        help="directory for RESULTS.md + results.json "
        "(default benchmarks/, or a temp dir with --quick)",
    )
    p.add_argument("--repeats", type=int, default=3, help="runs per implementation and env")
    p.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="where both implementations train (cuda: ours replays CUDA graphs)",
    )
    p.add_argument("--envs", nargs="+", help=f"default {' '.join(ENVS)}; Pendulum-v1 with --quick")
    p.add_argument(
        "--threads",
        type=int,
        help="torch threads for ours and SB3 alike (default: "
        "os.cpu_count(); 1 with --quick, which must stay fast on a shared machine)",
    )
    p.add_argument("--steps", type=int, default=2000, help="timed env steps after learning starts")
    p.add_argument("--warmup", type=int, default=100, help="untimed steps after learning_starts")
    p.add_argument("--env-steps", type=int, default=5000, help="raw env steps timed")
    p.add_argument("--prefill", type=int, default=100_000, help="random transitions in the buffer")
    p.add_argument("--updates", type=int, default=500, help="timed updates on the prefilled buffer")
    p.add_argument("--update-warmup", type=int, default=20)
    p.add_argument("--chunks", type=int, default=10, help="timing chunks (median taken)")
    p.add_argument("--matmul-calls", type=int, default=200, help="torch.mm calls per chunk")
    p.add_argument("--skip-solve", action="store_true")
    p.add_argument("--solve-seeds", type=int, default=3)
    p.add_argument("--solve-max-steps", type=int, default=20_000)
    p.add_argument("--eval-every", type=int, default=1000)
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--skip-sample-efficiency", action="store_true")
    p.add_argument("--se-seeds", type=int, default=3)
    p.add_argument("--se-steps", type=int, default=20_000)
    p.add_argument("--se-lr", type=float, default=SHARED["lr"])
    p.add_argument(
        "--profile",
        action="store_true",
        help="profile our update, Pendulum and "
        "HalfCheetah sizes; print the top ops by self CPU time",
    )
    p.add_argument("--profile-updates", type=int, default=20)
    p.add_argument("--profile-rows", type=int, default=15)
    p.add_argument(
        "--render",
        type=Path,
        metavar="RESULTS_JSON",
        help="measure nothing: summarize a results.json again (this version's FLOP count and "
        "report) and write results.json + RESULTS.md to --output (default: beside it)",
    )
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.repeats, args.steps, args.warmup = 1, 150, 10
        args.envs = args.envs or ["Pendulum-v1"]
        args.env_steps, args.prefill, args.updates, args.update_warmup = 500, 5000, 30, 3
        args.chunks, args.matmul_calls, args.profile_updates = 3, 50, 5
        args.skip_solve = args.skip_sample_efficiency = True
    args.envs = args.envs or list(ENVS)
    if args.threads is None:
        # With other jobs on the cores, a 2-thread OpenMP region stalls whenever one of its
        # threads is descheduled (seen here: 16 ms updates turning into 500 ms ones); one thread
        # keeps the smoke run short and steady. Measurements should name their threads anyway.
        args.threads = 1 if args.quick else os.cpu_count()
    return args


def speed_runs(args: argparse.Namespace, base: dict[str, Any]) -> list[dict[str, Any]]:
    runs = []
    for repeat in range(args.repeats):
        for env_id in args.envs:
            for impl in IMPLS:  # A/B alternation: ours, SB3, ours, SB3, ...
                spec = {
                    **base,
                    "task": "speed",
                    "env_id": env_id,
                    "impl": impl,
                    "seed": repeat,
                    "steps": args.steps,
                    "warmup": args.warmup,
                    "env_steps": args.env_steps,
                    "prefill": args.prefill,
                    "updates": args.updates,
                    "update_warmup": args.update_warmup,
                    "chunks": args.chunks,
                    "matmul_calls": args.matmul_calls,
                    "compiled": not args.quick,
                }
                run = run_child(spec)
                runs.append(run)
                log(
                    f"[speed {repeat + 1}/{args.repeats}] {env_id:15s} {impl:4s}: "
                    f"{run['steps_per_s']:7.1f} steps/s, {run['ms_per_update']:6.2f} ms/update, "
                    f"env {run['env_step_us']:6.1f} µs, RSS {run['peak_rss_mb']:6.0f} MiB, "
                    f"mm {run['matmul_gflops']['mm']:.0f} GFLOP/s"
                )
    return runs


def seeded_pairs(
    task: str,
    seeds: int,
    extra: dict[str, Any],
    base: dict[str, Any],
    describe: Callable[[dict], str],
) -> list[dict[str, Any]]:
    out = []
    for seed in range(seeds):
        for impl in IMPLS:
            result = run_child(
                {**base, **extra, "task": task, "env_id": "Pendulum-v1", "impl": impl, "seed": seed}
            )
            out.append(result)
            log(f"[{task} seed {seed}] {impl:4s}: {describe(result)}")
    return out


def write_results(results: dict[str, Any], out_dir: Path) -> str:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    markdown = render_markdown(results)
    (out_dir / "RESULTS.md").write_text(markdown)
    return markdown


def rerender(results_json: Path, out_dir: Path) -> None:
    """The report of earlier measurements with this version's summary (e.g. a corrected FLOP
    count): the runs' own figures are kept as measured; the header says when it was redone."""
    results = json.loads(results_json.read_text())
    results["summary"], results["flops"] = summarize(results["runs"], results["settings"]["envs"])
    results["rerendered"] = datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds"
    )
    write_results(results, out_dir)
    log(f"re-rendered {results_json} into {out_dir / 'RESULTS.md'} and {out_dir / 'results.json'}")


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    if args.child:
        child_main(json.loads(args.child))
        return
    if args.render:
        rerender(args.render, args.output or args.render.parent)
        return
    started = time.perf_counter()
    out_dir = args.output or (
        Path(tempfile.mkdtemp(prefix="sac-speed-")) if args.quick else REPO / "benchmarks"
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    base = {"threads": args.threads, "device": args.device}
    results: dict[str, Any] = {"machine": machine_info(args.threads, args.device)}
    results["settings"] = {
        **{
            k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "child"
        },
        "argv": argv,
        "shared_hyperparameters": SHARED,
        "sb3_kwargs": sb3_kwargs(),
        "sb3_zoo_pendulum": ZOO_PENDULUM,
        "solve_seeds_list": list(range(args.solve_seeds)),
        "se_seeds_list": list(range(args.se_seeds)),
    }
    results["runs"] = speed_runs(args, base)
    results["summary"], results["flops"] = summarize(results["runs"], args.envs)

    if args.profile:
        results["profile"] = []
        for env_id in ENVS:
            spec = {
                **base,
                "task": "profile",
                "env_id": env_id,
                "prefill": 10_000,
                "warmup": 5,
                "updates": args.profile_updates,
                "rows": args.profile_rows,
            }
            try:
                p = run_child(spec)
            except RuntimeError as error:  # e.g. MuJoCo missing: profile what we can
                log(f"[profile] {env_id} skipped: {str(error).splitlines()[0]}")
                continue
            results["profile"].append(p)
            log(
                f"[profile] {env_id}: {p['self_cpu_ms_per_update']:.2f} ms self CPU per update\n"
                + p["table"]
            )

    if not args.skip_solve:
        extra = {
            "eval_every": args.eval_every,
            "eval_episodes": args.eval_episodes,
            "max_steps": args.solve_max_steps,
        }
        runs = seeded_pairs(
            "solve",
            args.solve_seeds,
            extra,
            base,
            lambda r: (
                "not solved"
                if r["solved"] is None
                else f"{r['solved']['train_s']:.1f} s at step {r['solved']['step']}"
            ),
        )
        results["solve"] = {
            "runs": runs,
            "summary": summarize_pairs(
                runs, lambda r: None if r["solved"] is None else r["solved"]["train_s"]
            ),
        }

    if not args.skip_sample_efficiency:
        extra = {"steps": args.se_steps, "lr": args.se_lr, "eval_episodes": args.eval_episodes}
        runs = seeded_pairs(
            "final_return",
            args.se_seeds,
            extra,
            base,
            lambda r: f"return {r['return_mean']:.1f} in {r['train_s']:.0f} s",
        )
        results["sample_efficiency"] = {
            "runs": runs,
            "summary": summarize_pairs(runs, lambda r: r["return_mean"]),
        }

    results["machine"]["loadavg_end"] = list(os.getloadavg())
    results["wall_s"] = time.perf_counter() - started
    markdown = write_results(results, out_dir)
    print(markdown)
    log(
        f"wrote {out_dir / 'RESULTS.md'} and {out_dir / 'results.json'} "
        f"in {results['wall_s']:.0f} s"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
