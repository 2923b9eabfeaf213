"""What several test modules share: train.py as a subprocess on a tiny config (and that config
as a TrainConfig, for a Trainer in-process), reading W&B's offline run files, one torch thread."""

from __future__ import annotations

import contextlib
import io
import json
import os
import runpy
import signal
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from agents import SACConfig
from agents.replay_buffer import Batch
from configs.schema import EnvConfig, EvalConfig, TrainConfig, WandbConfig

REPO = Path(__file__).resolve().parents[1]
TINY = [  # a few hundred steps of a small agent: seconds, not minutes
    "env=Pendulum-v1",
    "total_steps=300",
    "learning_starts=100",
    "eval.every=0",
    "eval.episodes=2",
    "agent.hidden_sizes=[32,32]",
    "agent.batch_size=32",
    "wandb.mode=disabled",
]


def examples(count: int) -> int:
    """A property's example count in CI, times PROPERTY_EXAMPLES_SCALE when that is set (a
    longer local run: PROPERTY_EXAMPLES_SCALE=10 python -m pytest tests/test_*properties.py)."""
    return count * int(os.environ.get("PROPERTY_EXAMPLES_SCALE", "1"))


def random_batch(obs_dim: int, action_dim: int, seed: int, batch_size: int = 32) -> Batch:
    """A batch of transitions drawn from its own generator: the same `seed`, the same batch."""
    g = torch.Generator().manual_seed(seed)
    return Batch(
        obs=torch.randn(batch_size, obs_dim, generator=g) * 2.0,
        action=torch.rand(batch_size, action_dim, generator=g) * 2.0 - 1.0,
        reward=torch.randn(batch_size, generator=g),
        next_obs=torch.randn(batch_size, obs_dim, generator=g) * 2.0,
        terminated=(torch.rand(batch_size, generator=g) < 0.3).float(),
    )


def sigterm_at(stop_step: int) -> Callable[[int], bool]:
    """An `on_step` hook that sends this process SIGTERM after step `stop_step`."""

    def hook(step: int) -> bool:
        if step == stop_step:
            os.kill(os.getpid(), signal.SIGTERM)
        return False

    return hook


def run_train(
    run_dir: Path,
    *overrides: str,
    check: bool = True,
    env: dict[str, str] | None = None,
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess:
    """`python train.py hydra.run.dir=<run_dir> <overrides>`, W&B's files beside the run dir;
    with `check`, a nonzero exit fails the test with the end of its stderr; `preexec_fn` runs
    in the child before train.py (e.g. to set a resource limit)."""
    env = {
        **os.environ,
        "WANDB_DIR": str(run_dir.parent),
        "WANDB_CACHE_DIR": str(run_dir.parent),
        "WANDB_CONFIG_DIR": str(run_dir.parent),
        "WANDB_DATA_DIR": str(run_dir.parent),
        **(env or {}),
    }
    result = subprocess.run(
        [sys.executable, "train.py", f"hydra.run.dir={run_dir}", *overrides],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=preexec_fn,
    )
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def tiny_config(**changes: object) -> TrainConfig:
    """TINY as a TrainConfig, for a Trainer in-process."""
    fields = dict(
        env=EnvConfig(id="Pendulum-v1"),
        agent=SACConfig(hidden_sizes=[32, 32], batch_size=32),
        eval=EvalConfig(every=0, episodes=1),
        wandb=WandbConfig(mode="disabled"),
        total_steps=300,
        learning_starts=100,
        progress=False,
    )
    return TrainConfig(**(fields | changes))


def train_in_process(
    cfg: TrainConfig, run_dir: Path, on_step: Callable[[int], bool] | None = None
) -> dict[str, Any]:
    """A Trainer's run into `run_dir` (created), its config saved in the checkpoints as
    train.py saves the composed one; returns the summary."""
    from runner.tracking import RunLogger  # here: the rest of this module needs no runner
    from runner.training import Trainer

    run_dir.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(cfg, asdict(cfg), run_dir)
    logger = RunLogger(run_dir, cfg, {})
    try:
        return trainer.train([logger], on_step)[0]
    finally:
        logger.close({})
        trainer.close()


def read_wandb_records(run_file: Path) -> list[dict[str, Any]]:
    """Every record of an offline `run-*.wandb` log, decoded by wandb's own inspector."""
    result = subprocess.run(
        [sys.executable, "-m", "wandb", "leet", "inspect", "--json", str(run_file)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def wandb_summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The run's summary as W&B shows it: every summary update merged in order."""
    summary: dict[str, Any] = {}
    for record in records:
        if record["type"] == "summary":
            summary.update(record["summary"].get("update", {}))
    return summary


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Tiny nets gain nothing from more threads (and on a shared CPU lose much); in-process runs
    compared bit for bit with a subprocess's (OMP_NUM_THREADS=1) need the same thread count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def train_main_in_process(run_dir: Path, *overrides: str) -> tuple[int, str]:
    """train.py's own entry point, in this process (hundreds of subprocesses would not fit):
    its exit code and stderr."""
    result = refused_run(run_dir, *overrides)
    return result.returncode, result.stderr


def refused_run(run_dir: Path, *overrides: str) -> subprocess.CompletedProcess:
    """run_train's result for a run that train.py refuses before it trains, from its entry point
    in this process: the refusal is the same, without the seconds of a new interpreter."""
    code, stdout, stderr = cli_in_process("train", f"hydra.run.dir={run_dir}", *overrides)
    return subprocess.CompletedProcess(["train.py", *overrides], code, stdout, stderr)


def cli_in_process(script: str, *overrides: str, cwd: Path = REPO) -> tuple[int, str, str]:
    """`python <script>.py <overrides>` from `cwd` through the script's own entry point
    (its `__main__` block), in this process: exit code, stdout, stderr. It spares a test the ~5 s an
    interpreter takes to import torch; the tests of what only a real process shows (signals,
    exit on a broken install) run the command itself. Hydra's logging setup is left out (its
    handlers would keep this test's streams), and what main sets for the process (the SIGTERM
    handler, the warning format) is put back."""
    path = str(REPO / f"{script}.py")
    argv, out, err = sys.argv, io.StringIO(), io.StringIO()
    sigterm, formatwarning = signal.getsignal(signal.SIGTERM), warnings.formatwarning
    sys.argv = [path, "hydra/job_logging=none", "hydra/hydra_logging=none", *overrides]
    try:
        with (
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
            contextlib.chdir(cwd),
        ):
            try:
                runpy.run_path(path, run_name="__main__")  # as `python <script>.py` does
                code = 0
            except SystemExit as error:
                code = error.code if isinstance(error.code, int) else 1
    finally:
        sys.argv = argv
        signal.signal(signal.SIGTERM, sigterm)
        warnings.formatwarning = formatwarning
    return code, out.getvalue(), err.getvalue()


def last_step(run_dir: Path) -> int:
    """The last step a run logged to its metrics.jsonl (0 before its first line)."""
    try:
        lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    except OSError:
        return 0
    return max((json.loads(line)["step"] for line in lines if line.endswith("}")), default=0)
