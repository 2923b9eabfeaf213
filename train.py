"""Train SAC on a Gymnasium env: `python train.py env=Pendulum-v1 [key=value ...]`.

The one composition root: Hydra config, envs, agent, replay buffer, W&B, checkpoints. The agent
returns metrics; only this file logs them.
"""

from __future__ import annotations

import os

# Headless rendering default for pygame-ce, set before gymnasium is imported; a user's own
# setting wins. (MUJOCO_GL: envs/factory.py sets egl on display-less Linux.)
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
# wandb mistakes our `agents` package for the OpenAI Agents SDK and advertises Weave (LLM tracing).
os.environ.setdefault("WANDB_DISABLE_WEAVE", "true")

import json  # noqa: E402
import math  # noqa: E402
import netrc  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import hydra  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from hydra.core.config_store import ConfigStore  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from hydra.types import RunMode  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException  # noqa: E402
from tqdm import tqdm  # noqa: E402

from agents import SACAgent  # noqa: E402
from agents.checkpoint import (  # noqa: E402
    FILENAME,
    CheckpointError,
    load_checkpoint,
    resolve_checkpoint_path,
    save_checkpoint,
)
from agents.noise import ColoredNoise  # noqa: E402
from agents.replay_buffer import ReplayBuffer  # noqa: E402
from configs.hydra_errors import job_started, one_line, run_cli  # noqa: E402
from configs.schema import TrainConfig  # noqa: E402
from envs import (  # noqa: E402
    EnvError,
    TransitionTracker,
    env_spaces,
    make_vector_env,
    record_video,
)
from evaluate import evaluate  # noqa: E402

ConfigStore.instance().store(name="base_config", node=TrainConfig)
# Run dirs are named after the env id; ids like dm_control/cheetah-run-v0 hold a slash.
OmegaConf.register_new_resolver(
    "path_safe", lambda text: re.sub(r"[^\w.-]", "-", str(text)), replace=True
)


class ConfigError(ValueError):
    """A config value that composes but makes no sense (e.g. total_steps=0)."""


def validate(cfg: TrainConfig) -> None:
    if cfg.resume is not None and not cfg.resume.strip():  # e.g. resume=$RUN with RUN unset
        raise ConfigError("resume= is empty: give a run dir or checkpoint file, or leave it out")
    for name in ("total_steps", "num_envs", "log_every"):
        if getattr(cfg, name) < 1:
            raise ConfigError(f"{name} must be >= 1, got {getattr(cfg, name)}")
    for name, value in (
        ("learning_starts", cfg.learning_starts),
        ("eval.every", cfg.eval.every),
        ("checkpoint.every", cfg.checkpoint.every),
        ("exploration.noise_beta", cfg.exploration.noise_beta),
    ):
        if value < 0:
            raise ConfigError(f"{name} must be >= 0, got {value}")
    for key in ("max_episode_steps", "render_mode"):  # set by train.py itself
        if key in cfg.env.kwargs:
            where = "env.max_episode_steps" if key == "max_episode_steps" else "eval.video=true"
            raise ConfigError(f"env.kwargs.{key} is not an env kwarg here; use {where}")
    beta = cfg.exploration.noise_beta
    if not math.isfinite(beta):
        raise ConfigError(f"exploration.noise_beta must be finite, got {beta}")
    # torch.manual_seed takes a 64-bit integer and gymnasium a non-negative one; env seeds are
    # the seed (a resume's a hash below 2**32), eval seeds the seed plus eval.seed_offset.
    eval_seed = cfg.seed + cfg.eval.seed_offset
    for name, value in (("seed", cfg.seed), ("seed + eval.seed_offset", eval_seed)):
        if not 0 <= value < 2**62:
            raise ConfigError(f"{name} must be in [0, 2**62), got {value}")
    if cfg.eval.episodes < 1 or cfg.eval.num_envs < 1:
        raise ConfigError("eval.episodes and eval.num_envs must be >= 1")
    if cfg.eval.num_envs > cfg.eval.episodes:
        raise ConfigError(
            f"eval.num_envs={cfg.eval.num_envs} must be <= eval.episodes={cfg.eval.episodes}: "
            "an env beyond the episodes would run uncounted"
        )
    if cfg.torch_threads is not None and cfg.torch_threads < 1:
        raise ConfigError(f"torch_threads must be >= 1, got {cfg.torch_threads}")
    if cfg.device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"device must be auto, cpu or cuda, got {cfg.device!r}")
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device=cuda but no CUDA GPU is available; use device=auto or cpu")
    if cfg.wandb.mode not in ("auto", "online", "offline", "disabled"):
        raise ConfigError(
            f"wandb.mode must be auto, online, offline or disabled, got {cfg.wandb.mode!r}"
        )
    if cfg.wandb.mode != "disabled":
        check_wandb_importable(cfg.wandb.mode)
    try:
        cfg.agent.validate()
    except ValueError as error:
        raise ConfigError(str(error)) from error


def check_wandb_importable(mode: str) -> None:
    """Before the run dir is touched: a missing or broken wandb (any import error, e.g. a
    protobuf mismatch) is one clear line, not a traceback from inside a started run."""
    try:
        import wandb  # noqa: F401 - imported here once; RunLogger uses it
    except Exception as error:  # noqa: BLE001 - every import failure gets the same advice
        raise ConfigError(
            f"wandb.mode={mode} needs wandb, which cannot be imported ({error}): "
            "pip install wandb, or run with wandb.mode=disabled"
        ) from error


# How allocation failures read: torch's CPU allocator raises a plain RuntimeError ("can't
# allocate memory" / "not enough memory"), a CUDA context one "CUDA error: out of memory".
OUT_OF_MEMORY = ("can't allocate memory", "not enough memory", "out of memory")


def memory_error(error: BaseException, setting: str, device: torch.device) -> BaseException:
    """A ConfigError naming `setting` when `error` is an allocation failure (also numpy's
    MemoryError and CUDA's OutOfMemoryError), else `error` itself, to be raised as it was."""
    message = str(error)
    if isinstance(error, (MemoryError, torch.cuda.OutOfMemoryError)) or any(
        phrase in message for phrase in OUT_OF_MEMORY
    ):
        return ConfigError(f"{setting} does not fit in memory on {device}: {first_line(error)}")
    return error


def first_line(error: BaseException) -> str:
    return next((line for line in str(error).splitlines() if line.strip()), type(error).__name__)


def crossed(step: int, previous: int, every: int) -> bool:
    """True when a multiple of `every` lies in (previous, step]; never for every=0."""
    return every > 0 and step // every > previous // every


# ---------------------------------------------------------------------------- logging


# What a run writes into its dir; any of them marks the dir as another run's.
RUN_FILES = (FILENAME, "model.pt", "best.pt", "summary.json", "metrics.jsonl")


def refuse_used_run_dir(run_dir: Path, resume: str | None) -> None:
    """A run dir that holds another run's files is not trained into (its models, summary and
    metrics would be overwritten or mixed), unless this run resumes that dir's checkpoint. Any
    of the files counts: a dir whose large checkpoint.pt was deleted still holds a run."""
    # An empty file is no run's: metrics.jsonl is created before W&B starts, which a Ctrl-C or
    # a failed start can interrupt.
    found = [name for name in RUN_FILES if _nonempty(run_dir / name)]
    if not found:
        return
    existing = run_dir / FILENAME
    if resume and existing.exists():
        try:
            if resolve_checkpoint_path(resume).resolve() == existing.resolve():
                return
        except CheckpointError:
            pass  # reported by load_checkpoint, with its own message
    hint = (
        f"or add resume={run_dir} to continue that run there"
        if existing.exists()
        else f"or move its files away (it has no {FILENAME} to resume)"
    )
    in_sweep = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
    dir_key = "hydra.sweep.dir" if in_sweep else "hydra.run.dir"  # a sweep's job dirs follow it
    raise ConfigError(
        f"{run_dir} already holds a run ({', '.join(found)}); choose another {dir_key} {hint}"
    )


def _finished_at(run_dir: Path) -> int | None:
    """The step of the summary.json a finished run wrote in run_dir, else None."""
    try:
        return int(json.loads((run_dir / "summary.json").read_text())["total_steps"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _nonempty(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0


def has_wandb_credentials() -> bool:
    """An API key in the environment or in ~/.netrc (where `wandb login` stores it)."""
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return True
    host = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai").split("://")[-1].rstrip("/")
    try:
        return netrc.netrc(os.environ.get("NETRC")).authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False


class RunLogger:
    """One `write(step, scalars)` that fans out to metrics.jsonl and, when enabled, W&B.

    A W&B failure mid-run warns once and disables W&B; the local log and training go on.
    """

    def __init__(self, run_dir: Path, cfg: TrainConfig, config_dict: dict[str, Any]) -> None:
        start = time.perf_counter()
        self.local = open(  # noqa: SIM115 - line-buffered: `tail -f` works, a crash loses little
            run_dir / "metrics.jsonl", "a", buffering=1, encoding="utf-8"
        )
        self.wandb_run = None
        mode = cfg.wandb.mode
        if mode == "auto":
            mode = "online" if has_wandb_credentials() else "offline"
            if mode == "offline":
                print("wandb: no API key found, logging offline", file=sys.stderr)
        if mode != "disabled":
            self.wandb_run = self._init_wandb(run_dir, cfg, config_dict, mode)
        if self.wandb_run is not None and self.wandb_run.offline:
            # The run's own folder (wandb/offline-run-<time>-<id>) is what `wandb sync` takes.
            sync_dir = Path(self.wandb_run.dir).parent
            print(f"wandb: upload this run later with `wandb sync {sync_dir}`", file=sys.stderr)
        self.seconds = time.perf_counter() - start  # time spent tracking, reported in the summary

    @staticmethod
    def _init_wandb(run_dir: Path, cfg: TrainConfig, config_dict: dict[str, Any], mode: str):
        import wandb  # validate() checked that it imports

        kwargs = dict(
            project=cfg.wandb.project,
            entity=cfg.wandb.entity,
            group=cfg.wandb.group,
            tags=list(cfg.wandb.tags),
            job_type="train",
            config=config_dict,
            dir=str(run_dir),
            name=f"{cfg.env.id}__sac__seed{cfg.seed}__{time.strftime('%Y%m%d-%H%M%S')}",
        )
        try:
            run = wandb.init(
                mode=mode,
                settings=wandb.Settings(init_timeout=cfg.wandb.init_timeout, silent=True),
                **kwargs,
            )
        except Exception as error:  # noqa: BLE001 - any tracking failure must not stop training
            if mode != "online":
                warnings.warn(f"wandb disabled: {error}", stacklevel=2)
                return None
            warnings.warn(
                f"wandb online init failed ({error}); falling back to offline", stacklevel=2
            )
            try:
                run = wandb.init(mode="offline", settings=wandb.Settings(silent=True), **kwargs)
            except Exception as offline_error:  # noqa: BLE001
                warnings.warn(f"wandb disabled: {offline_error}", stacklevel=2)
                return None
        run.define_metric("global_step")
        run.define_metric("*", step_metric="global_step")  # every chart against env steps
        return run

    def write(self, step: int, scalars: dict[str, float]) -> None:
        start = time.perf_counter()
        self.local.write(json.dumps({"step": step, **scalars}) + "\n")
        self.seconds += time.perf_counter() - start
        if self.wandb_run is not None:
            self._safely(lambda: self.wandb_run.log({"global_step": step, **scalars}))

    def video(self, step: int, key: str, path: Path) -> None:
        if self.wandb_run is not None:
            import wandb

            self._safely(
                lambda: self.wandb_run.log(
                    {"global_step": step, key: wandb.Video(str(path), format="mp4")}
                )
            )

    def model(self, path: Path, name: str, aliases: list[str], metadata: dict[str, Any]) -> None:
        """Log a checkpoint file as a W&B model artifact."""
        if self.wandb_run is not None:
            import wandb

            def log_artifact() -> None:
                artifact = wandb.Artifact(name, type="model", metadata=metadata)
                artifact.add_file(str(path))
                self.wandb_run.log_artifact(artifact, aliases=aliases)

            self._safely(log_artifact)

    def _safely(self, call: Any) -> None:
        start = time.perf_counter()
        try:
            call()
        except Exception as error:  # noqa: BLE001 - tracking must never stop training
            warnings.warn(f"wandb call failed ({error}); W&B logging disabled", stacklevel=3)
            self.wandb_run = None
        self.seconds += time.perf_counter() - start

    def close(self, summary: dict[str, Any]) -> None:
        self.local.close()
        if self.wandb_run is not None:
            try:
                if summary:
                    self.wandb_run.summary.update(
                        {
                            **summary,
                            "eval/final_return_mean": summary["eval_return_mean"],
                            "eval/best_return_mean": summary["best_eval_return_mean"],
                        }
                    )
                self.wandb_run.finish()
            except Exception as error:  # noqa: BLE001
                warnings.warn(f"wandb.finish failed: {error}", stacklevel=2)


# ---------------------------------------------------------------------------- training


def reset_seed(seed: int, step: int, eval_seed: int, spread: int) -> int:
    """The training envs' first reset (sub-env i gets the seed + i): `seed` for a new run.

    A resumed run cannot restore the envs' internal state, so it starts fresh episodes, seeded
    by a hash of (seed, step) apart from the original run's first reset (seed + i) and from
    eval's (eval_seed + i), i < spread; seed + step, as before, replayed the eval episodes after
    a resume at step 10,000. Below 2**32: shimmy's DeepMind Control envs seed a RandomState.
    """
    if step == 0:
        return seed
    attempt = 0
    while True:
        word = np.random.SeedSequence([seed, step, attempt]).generate_state(1)[0]
        candidate = int(word) % (2**32 - spread)  # candidate + i stays below 2**32
        if all(abs(candidate - start) >= spread for start in (seed, eval_seed)):
            return candidate
        attempt += 1


class Trainer:
    """Builds everything from the config, then runs act-store-update with periodic eval."""

    def __init__(self, cfg: TrainConfig, config_dict: dict[str, Any], run_dir: Path) -> None:
        validate(cfg)
        self.cfg, self.config_dict, self.run_dir = cfg, config_dict, run_dir
        refuse_used_run_dir(run_dir, cfg.resume)
        if cfg.learning_starts >= cfg.total_steps:  # legal (data collection), rarely meant
            print(
                f"warning: learning_starts={cfg.learning_starts} >= total_steps="
                f"{cfg.total_steps}: no gradient update will run",
                file=sys.stderr,
            )
        resumed = load_checkpoint(cfg.resume) if cfg.resume else None  # fail before any work
        if cfg.torch_threads is not None:
            # Measured (2-core CPU, 256x256, batch 256): 2 threads 5.4 ms/update, 1 thread 7.3 ms;
            # but parallel runs each using every core slow each other down many times over.
            torch.set_num_threads(cfg.torch_threads)
        torch.manual_seed(cfg.seed)  # the one place the seed is applied
        self.np_rng = np.random.default_rng(cfg.seed)
        self.device = torch.device(
            "cuda"
            if cfg.device == "auto" and torch.cuda.is_available()
            else "cpu"
            if cfg.device == "auto"
            else cfg.device
        )
        env_kwargs = dict(max_episode_steps=cfg.env.max_episode_steps, **cfg.env.kwargs)
        self.spaces = env_spaces(cfg.env.id, **env_kwargs)
        try:
            self.agent = SACAgent(
                self.spaces.obs_dim,
                self.spaces.action_dim,
                cfg.agent,
                self.device,
                self.spaces.action_low,
                self.spaces.action_high,
            )
        except (RuntimeError, MemoryError) as error:
            setting = f"agent.hidden_sizes={list(cfg.agent.hidden_sizes)}"
            raise memory_error(error, setting, self.device)  # noqa: B904 - error is its context
        if cfg.compile:
            self.agent.compile()
        try:
            self.buffer = ReplayBuffer(
                cfg.agent.buffer_size, self.spaces.obs_dim, self.spaces.action_dim, self.device
            )
        except (RuntimeError, MemoryError) as error:
            setting = f"agent.buffer_size={cfg.agent.buffer_size}"
            raise memory_error(error, setting, self.device)  # noqa: B904 - error is its context
        self.step = 0
        self.update_debt = 0.0  # fractional updates owed when utd * num_envs is not whole
        self.last_eval: dict[str, Any] | None = None
        self.last_eval_step = -1
        self.best_eval_return, self.best_eval_step = -float("inf"), -1
        self._interval = (0, time.perf_counter())  # (step, time) of the last train log
        if resumed is not None:
            self._restore(resumed)
            # step == total_steps: a run stopped in its final evaluation; resuming finishes it
            # (final eval, model files, summary) without training further.
            if self.step > cfg.total_steps:
                raise ConfigError(
                    f"the checkpoint is at step {self.step}, beyond total_steps="
                    f"{cfg.total_steps}; set total_steps to {self.step} or more"
                )
            if self.step == cfg.total_steps and _finished_at(run_dir) == self.step:
                # Nothing to finish: rerunning would only overwrite the summary's timings.
                raise ConfigError(
                    f"{run_dir} already finished at step {self.step} (summary.json); "
                    f"set total_steps above {self.step} to train on"
                )
        # Exploration noise: its own stream (apart from np_rng), and a resumed run draws new
        # sequences rather than replaying the first ones.
        try:
            self.noise = self._make_noise()
        except ValueError as error:  # e.g. episodes too short for a colored sequence
            beta = cfg.exploration.noise_beta
            raise ConfigError(f"exploration.noise_beta={beta}: {error}") from error
        # Built last, so that a failure above leaves no env processes behind.
        self.envs = make_vector_env(cfg.env.id, cfg.num_envs, cfg.env.vectorization, **env_kwargs)
        try:
            self.eval_envs = make_vector_env(cfg.env.id, cfg.eval.num_envs, "sync", **env_kwargs)
        except BaseException:
            self.envs.close()
            raise

    def _make_noise(self) -> ColoredNoise | None:
        """Colored acting noise (None for white, noise_beta=0), as a stream of its own."""
        cfg = self.cfg
        return (
            ColoredNoise(
                cfg.exploration.noise_beta,
                cfg.num_envs,
                self.spaces.action_dim,
                # One sequence spans an episode; envs without a gymnasium time limit (DeepMind
                # Control ends its episodes itself, at 1,000 steps) get 1,000.
                self.spaces.max_episode_steps or 1000,
                seed=[cfg.seed, 1, self.step],
            )
            if cfg.exploration.noise_beta > 0
            else None
        )

    # -- checkpoints

    def _restore(self, payload: dict[str, Any]) -> None:
        """Continue a run: agent, optimizers, alpha, replay buffer, RNG states, counters."""
        source = self.cfg.resume
        try:
            saved_env = payload["config"]["env"]["id"]
            if saved_env != self.cfg.env.id:
                env_file = Path(__file__).parent / "configs" / "env" / f"{saved_env}.yaml"
                select = f"env={saved_env}"  # its config file, else the generic one
                if not env_file.is_file():
                    select = f"env=custom env.id={saved_env}"
                raise CheckpointError(
                    f"checkpoint is for env {saved_env}, config says {self.cfg.env.id}; add "
                    f"{select} (and the saved run's other settings, e.g. network sizes)"
                )
            if payload.get("buffer") is None:  # best.pt / model.pt, or save_buffer=false
                raise CheckpointError(
                    f"{source} holds no replay buffer, so training cannot continue from it; "
                    f"resume from a run's checkpoint.pt (saved with checkpoint.save_buffer=true)"
                )
            self.agent.load_state_dict(payload["agent"])
            self.buffer.load_state_dict(payload["buffer"])
            rng = payload["rng"]
            torch.set_rng_state(rng["torch"])
            if rng.get("cuda") is not None and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(rng["cuda"])
            self.np_rng.bit_generator.state = rng["numpy"]
            self.step, self.update_debt = int(payload["step"]), float(payload["update_debt"])
            self.best_eval_return = float(payload.get("best_eval_return", -float("inf")))
            self.best_eval_step = int(payload.get("best_eval_step", -1))
        except CheckpointError:
            raise
        except (KeyError, TypeError, ValueError, RuntimeError) as error:
            raise CheckpointError(f"cannot resume from {source}: {error}") from error
        print(f"resumed from {source} at step {self.step}", file=sys.stderr)

    def save(self, filename: str = FILENAME, with_buffer: bool | None = None) -> Path:
        """Write a checkpoint; `with_buffer=False` gives a small model file (best.pt, model.pt)."""
        if with_buffer is None:
            with_buffer = self.cfg.checkpoint.save_buffer
        payload = {
            "config": self.config_dict,
            "step": self.step,
            "update_debt": self.update_debt,
            "agent": self.agent.state_dict(),
            "buffer": self.buffer.state_dict() if with_buffer else None,
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                "numpy": self.np_rng.bit_generator.state,
            },
            "eval": self.last_eval,
            "best_eval_return": self.best_eval_return,
            "best_eval_step": self.best_eval_step,
        }
        return save_checkpoint(self.run_dir / filename, payload)

    # -- loop

    def run_eval(self) -> dict[str, Any]:
        cfg = self.cfg
        report = evaluate(
            lambda obs: self.agent.act(obs, deterministic=True),
            self.eval_envs,
            cfg.eval.episodes,
            seed=cfg.seed + cfg.eval.seed_offset,
        )
        self.last_eval, self.last_eval_step = report, self.step
        return report

    def _observe(self, obs: np.ndarray) -> None:
        """The agent's observation statistics; a NaN there is the env's fault: an EnvError (one
        `error:` line), as the transition check gives for stored values."""
        try:
            self.agent.observe(obs)
        except ValueError as error:
            raise EnvError(f"the env's observation: {error}") from error

    def _carry_best_model(self) -> None:
        """A run resumed into a new directory starts with the best model so far (the resumed
        checkpoint's best.pt): best.pt is then the best of the whole run, and W&B's `best`
        artifact exists even when no later eval beats it."""
        if not self.cfg.resume:
            return
        source = resolve_checkpoint_path(self.cfg.resume).parent / "best.pt"
        target = self.run_dir / "best.pt"
        if not source.is_file():
            return
        try:
            saved = load_checkpoint(source)
            best_return = float(saved.get("best_eval_return", -math.inf))
            best_step = int(saved.get("best_eval_step", -1))
            same_env = saved["config"]["env"]["id"] == self.cfg.env.id
        except (CheckpointError, KeyError, TypeError, ValueError):  # unreadable: not the best
            return
        if not same_env:  # another run's best.pt beside a checkpoint file given as resume=
            return
        if best_return > self.best_eval_return:
            # A hard kill (SIGKILL, out of memory) saves no checkpoint, so best.pt can be newer
            # than checkpoint.pt: a later, worse eval would have replaced the best model.
            self.best_eval_return, self.best_eval_step = best_return, best_step
        if not target.exists():
            shutil.copy2(source, target)

    def train(
        self, logger: RunLogger, on_step: Callable[[int], bool] | None = None
    ) -> dict[str, Any]:
        """Act, store, update until total_steps; eval, log and checkpoint on their schedules.

        `on_step(step)` runs after each env step's updates and logs; True ends training there,
        as if total_steps were reached (benchmarks/ times windows and solve clocks this way, on
        this very loop rather than a copy of it).
        """
        cfg = self.cfg
        self._carry_best_model()
        tracker = TransitionTracker(cfg.num_envs)
        eval_seed, spread = cfg.seed + cfg.eval.seed_offset, max(cfg.num_envs, cfg.eval.num_envs)
        obs, _ = self.envs.reset(seed=reset_seed(cfg.seed, self.step, eval_seed, spread))
        self._observe(obs)
        ended = np.zeros(cfg.num_envs, dtype=bool)  # which envs' previous step ended an episode
        start_step, start_time = self.step, time.perf_counter()
        self._interval = (self.step, start_time)
        metrics: dict[str, torch.Tensor] = {}
        bar = tqdm(
            total=cfg.total_steps,
            initial=self.step,
            unit="step",
            dynamic_ncols=True,
            disable=None if cfg.progress else True,
        )
        try:
            while self.step < cfg.total_steps:
                action = self._act(obs)
                next_obs, reward, terminated, truncated, info = self.envs.step(action)
                transitions = tracker.step(obs, action, reward, next_obs, terminated, truncated)
                self._observe(next_obs)  # observation statistics learn from training data only
                self.buffer.add(*transitions)
                if self.noise is not None:
                    # Next-step autoreset: the step after an episode's end only resets (its action
                    # is ignored); the new episode's first action takes a new sequence's first eps.
                    self.noise.reset(ended)
                    ended = terminated | truncated
                obs = next_obs
                previous, self.step = self.step, self.step + cfg.num_envs
                bar.update(cfg.num_envs)
                self._log_episodes(info, logger, bar)
                # Per key, the latest value: with actor_update_every > 1 the update of a
                # logging step may be a critic-only one, which has no actor or alpha metrics.
                metrics.update(self._update())
                if crossed(self.step, previous, cfg.log_every):
                    self._log_train(metrics, logger)
                if crossed(self.step, previous, cfg.eval.every):
                    self._log_eval(logger)
                if crossed(self.step, previous, cfg.checkpoint.every):
                    self.save()
                if on_step is not None and on_step(self.step):
                    break
            bar.close()
            wall_time = time.perf_counter() - start_time
            # Inside the try: a failing final eval or video still leaves the checkpoint.
            if self.last_eval_step != self.step:
                self._log_eval(logger)  # the summary always reports the final policy
            checkpoint = self.save()
            self._log_models(logger)
        except BaseException as error:  # Ctrl-C or a crash: keep what was learned, then re-raise
            bar.close()
            what = "interrupted" if isinstance(error, KeyboardInterrupt) else "stopped by an error"
            try:
                print(f"{what} at step {self.step}; checkpoint: {self.save()}", file=sys.stderr)
            except Exception as save_error:  # noqa: BLE001 - report the original error
                print(
                    f"{what} at step {self.step}; checkpoint failed: {save_error}", file=sys.stderr
                )
            raise
        assert self.last_eval is not None
        return {
            "env_id": cfg.env.id,
            "seed": cfg.seed,
            "total_steps": self.step,
            "eval_return_mean": self.last_eval["return_mean"],
            "eval_return_std": self.last_eval["return_std"],
            "eval_episodes": self.last_eval["episodes"],
            "eval_returns": self.last_eval["episode_returns"],
            "best_eval_return_mean": self.best_eval_return,
            "wall_time_s": wall_time,
            "steps_per_second": (self.step - start_step) / wall_time,
            "updates": self.agent.num_updates,
            "resumed_from": cfg.resume,
            "checkpoint": str(checkpoint),
        }

    def _act(self, obs: np.ndarray) -> np.ndarray:
        """Uniform random actions before learning_starts (exploration), then the policy."""
        if self.step < self.cfg.learning_starts and self.cfg.exploration.uniform_warmup:
            shape = (self.cfg.num_envs, self.spaces.action_dim)
            return self.np_rng.uniform(-1.0, 1.0, shape).astype(np.float32)
        return self.agent.act(obs, eps=self.noise() if self.noise is not None else None)

    def _update(self) -> dict[str, torch.Tensor]:
        """Run the gradient updates owed: utd per env step, over all envs (carried fractions).
        Their metrics merged, each key holding its latest value (empty if none ran)."""
        cfg, metrics = self.cfg, {}
        if self.step > cfg.learning_starts and len(self.buffer) > 0:
            self.update_debt += cfg.agent.utd * cfg.num_envs
            while self.update_debt >= 1.0 - 1e-9:  # 10 x 0.1 sums to 0.999...: still owed
                try:
                    metrics |= self.agent.update(self.buffer.sample(cfg.agent.batch_size))
                except (RuntimeError, MemoryError) as error:
                    setting = (  # the step is in the crash line above the error
                        f"agent.batch_size={cfg.agent.batch_size} with "
                        f"agent.hidden_sizes={list(cfg.agent.hidden_sizes)}"
                    )
                    raise memory_error(error, setting, self.device)  # noqa: B904 - as above
                self.update_debt -= 1.0
        return metrics

    def _log_episodes(self, info: dict[str, Any], logger: RunLogger, bar: tqdm) -> None:
        if "episode" not in info:
            return
        for i in np.flatnonzero(info["_episode"]):
            episode_return = float(info["episode"]["r"][i])
            logger.write(
                self.step,
                {
                    "rollout/episode_return": episode_return,
                    "rollout/episode_length": int(info["episode"]["l"][i]),
                },
            )
            bar.set_postfix(ep_return=f"{episode_return:.1f}", refresh=False)

    def _log_train(self, metrics: dict[str, torch.Tensor], logger: RunLogger) -> None:
        now = time.perf_counter()
        interval_step, interval_time = self._interval
        scalars = {f"train/{k}": float(v) for k, v in metrics.items()}  # the only host sync
        scalars["time/steps_per_second"] = (self.step - interval_step) / (now - interval_time)
        scalars["time/updates"] = self.agent.num_updates
        logger.write(self.step, scalars)
        self._interval = (self.step, now)

    def _log_eval(self, logger: RunLogger) -> None:
        cfg = self.cfg
        report = self.run_eval()
        logger.write(
            self.step,
            {
                "eval/return_mean": report["return_mean"],
                "eval/return_std": report["return_std"],
                "eval/length_mean": report["length_mean"],
            },
        )
        if report["return_mean"] > self.best_eval_return:
            self.best_eval_return, self.best_eval_step = report["return_mean"], self.step
            self.save("best.pt", with_buffer=False)
        if cfg.eval.video:
            # Same seed as the first eval episode and a deterministic policy: the same episode.
            (video,) = record_video(
                lambda obs: self.agent.act(obs, deterministic=True),
                cfg.env.id,
                self.run_dir / "videos",
                name_prefix=f"eval-step{self.step}",
                seed=cfg.seed + cfg.eval.seed_offset,
                max_episode_steps=cfg.env.max_episode_steps,
                **cfg.env.kwargs,
            )
            logger.video(self.step, "eval/video", video)
        tqdm.write(
            f"step {self.step}: eval return {report['return_mean']:.1f} "
            f"± {report['return_std']:.1f} over {report['episodes']} "
            f"episode{'s' if report['episodes'] != 1 else ''}",
            file=sys.stderr,
        )

    def _log_models(self, logger: RunLogger) -> None:
        """The final and the best-by-eval model (no replay buffer) as W&B artifacts."""
        assert self.last_eval is not None
        name = f"sac-{self.cfg.env.id.replace('/', '-')}-seed{self.cfg.seed}"
        best = self.run_dir / "best.pt"
        if best.is_file():  # absent only for a resumed checkpoint that came without its best.pt
            logger.model(
                best,
                name,
                ["best"],
                {
                    "env_id": self.cfg.env.id,
                    "step": self.best_eval_step,
                    "eval_return_mean": self.best_eval_return,
                },
            )
        final = self.save("model.pt", with_buffer=False)  # logged last: W&B moves `latest` here
        logger.model(
            final,
            name,
            ["latest", "final"],
            {
                "env_id": self.cfg.env.id,
                "step": self.step,
                "eval_return_mean": self.last_eval["return_mean"],
            },
        )

    def close(self) -> None:
        self.envs.close()
        self.eval_envs.close()


def run(
    cfg: TrainConfig,
    config_dict: dict[str, Any],
    run_dir: Path,
    on_ready: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Train per `cfg`, writing checkpoint, metrics.jsonl and summary.json into `run_dir`.

    `on_ready` runs once every check has passed, before anything is trained or logged (main
    writes `.hydra/` there: a refused run must not write over the files of the run it found).
    """
    trainer = Trainer(cfg, config_dict, run_dir)
    if on_ready is not None:
        try:
            on_ready()
        except BaseException:
            trainer.close()
            raise
    try:
        logger = RunLogger(run_dir, cfg, config_dict)
    except BaseException:
        trainer.close()
        raise
    summary: dict[str, Any] = {}
    try:
        summary = trainer.train(logger)
        summary["tracking_time_s"] = logger.seconds  # W&B init + every log call + the local log
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    finally:
        logger.close(summary)
        trainer.close()
    return summary


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C's KeyboardInterrupt would be, so the same crash save runs;
    the exit status still names the signal (128 + 15, as a shell reports a killed job)."""


def interrupt_on_sigterm(signum: int, frame: Any) -> None:
    """`kill` or a job scheduler's SIGTERM ends a run as Ctrl-C does: checkpoint, then exit."""
    raise Terminated(f"signal {signum}")


def save_hydra_files(run_dir: Path, dict_cfg: DictConfig) -> None:
    """`.hydra/config.yaml`, `hydra.yaml` and `overrides.yaml`, as Hydra writes them (its own
    writing is off: `hydra.output_subdir: null` in configs/config.yaml)."""
    hydra_cfg = HydraConfig.get()
    folder = run_dir / ".hydra"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(OmegaConf.to_yaml(dict_cfg))
    (folder / "hydra.yaml").write_text(OmegaConf.to_yaml({"hydra": hydra_cfg}))
    (folder / "overrides.yaml").write_text(OmegaConf.to_yaml(hydra_cfg.overrides.task))


FAILED_JOBS: list[str] = []  # --multirun: jobs that stopped on bad input, for the exit status


ANSI_COLOR = re.compile(r"\x1b\[[0-9;]*m")  # gymnasium colours its warnings for a terminal


def plain_warnings() -> None:
    """Command-line runs print a warning as one `warning: ...` line (like their `error:` lines),
    not Python's `file:line: UserWarning: ...` plus a source line, and without terminal colour
    codes (they end up in logs); library use is unchanged."""
    warnings.formatwarning = lambda message, *_args, **_kwargs: (
        f"warning: {ANSI_COLOR.sub('', str(message))}\n"
    )


def _bad_input(message: str, run_dir: Path) -> None:
    """One `error:` line; a single run exits 2, a sweep goes on with its other jobs. The run
    directory Hydra made for the job goes too if nothing was written into it (but Hydra's
    still-empty train.log)."""
    print(f"error: {message}", file=sys.stderr)
    contents = list(run_dir.iterdir()) if run_dir.is_dir() else None
    if contents is not None and all(p.name == "train.log" and p.stat().st_size == 0
                                    for p in contents):  # fmt: skip
        for path in contents:
            path.unlink()
        run_dir.rmdir()
    if HydraConfig.get().mode != RunMode.MULTIRUN:
        sys.exit(2)
    FAILED_JOBS.append(f"#{HydraConfig.get().job.num}")


@hydra.main(version_base=None, config_path="configs", config_name="config")
def main(dict_cfg: DictConfig) -> None:
    job_started()  # Hydra composed the config: its own error report applies from here
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    plain_warnings()
    signal.signal(signal.SIGTERM, interrupt_on_sigterm)
    print(f"run directory: {run_dir}", file=sys.stderr)
    try:
        cfg: TrainConfig = OmegaConf.to_object(dict_cfg)
        config_dict = OmegaConf.to_container(dict_cfg, resolve=True)
    except MissingMandatoryValue as error:  # e.g. env=custom without env.id=...
        _bad_input(f"{error.full_key} must be set, e.g. {error.full_key}=<value>", run_dir)
        return
    except OmegaConfBaseException as error:  # e.g. a value interpolating an unknown resolver
        _bad_input(one_line(error), run_dir)
        return
    try:
        summary = run(
            cfg, config_dict, run_dir, on_ready=lambda: save_hydra_files(run_dir, dict_cfg)
        )
    except (ConfigError, EnvError, CheckpointError) as error:
        _bad_input(str(error), run_dir)
        return
    except KeyboardInterrupt as error:  # Ctrl-C or SIGTERM; the loop said where it saved
        sys.exit(128 + (signal.SIGTERM if isinstance(error, Terminated) else signal.SIGINT))
    print(
        f"eval return {summary['eval_return_mean']:.1f} ± {summary['eval_return_std']:.1f}; "
        f"{summary['steps_per_second']:.0f} steps/s; outputs in {run_dir}"
    )
    print(f"evaluate it: python evaluate.py checkpoint={run_dir} episodes=10 video=true")


if __name__ == "__main__":
    run_cli(main)
    if FAILED_JOBS:  # a sweep ran every job; it still fails if one of them did
        jobs = ", ".join(FAILED_JOBS)
        print(f"error: sweep jobs {jobs} failed (their error lines are above)", file=sys.stderr)
        sys.exit(2)
