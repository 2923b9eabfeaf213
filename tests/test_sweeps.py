"""Many runs: Hydra's launchers (basic, joblib, submitit's local executor, Ray) run a sweep's
jobs each on its share of the cores, in one W&B group; resume=auto makes a re-run or requeued
job pick up its own work; an Optuna search records each trial's objective and resumes from its
storage."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from omegaconf import OmegaConf
from sac_test_support import (
    REPO,
    TINY,
    last_step,
    one_torch_thread,
    read_wandb_records,
    tiny_config,
)

from agents import SACConfig
from runner.errors import ConfigError
from runner.launchers import (
    JOBLIB,
    RAY,
    SUBMITIT_LOCAL,
    SUBMITIT_SLURM,
    override_tags,
    thread_share,
    usable_cores,
)
from runner.resume import AUTO
from runner.training import Trainer, run_training

# ------------------------------------------------------------------ what a job takes of a machine


@pytest.mark.parametrize(
    ("launcher", "cores", "threads"),
    [
        ({"_target_": JOBLIB, "n_jobs": -1}, 2, 1),  # every core runs a job: one thread each
        ({"_target_": JOBLIB, "n_jobs": -1}, 16, 1),
        ({"_target_": JOBLIB, "n_jobs": 2}, 16, 8),
        ({"_target_": JOBLIB, "n_jobs": 1}, 4, 4),
        ({"_target_": JOBLIB, "n_jobs": -2}, 8, 1),  # 7 jobs at once on 8 cores
        ({"_target_": JOBLIB, "n_jobs": 32}, 8, 1),  # more jobs than cores: never below one
        ({"_target_": SUBMITIT_LOCAL, "cpus_per_task": None}, 8, 1),  # all jobs start at once
        ({"_target_": SUBMITIT_LOCAL, "cpus_per_task": 2}, 8, 2),
        ({"_target_": SUBMITIT_SLURM, "cpus_per_task": None}, 6, 6),  # its own allocation
        ({"_target_": SUBMITIT_SLURM, "cpus_per_task": 4}, 64, 4),
        ({"_target_": RAY, "ray": {"remote": {}}}, 8, 1),
        ({"_target_": RAY, "ray": {"remote": {"num_cpus": 3}}}, 8, 3),
        ({"_target_": "hydra._internal.core_plugins.basic_launcher.BasicLauncher"}, 8, None),
    ],
)
def test_thread_share_never_oversubscribes(launcher: dict, cores: int, threads: int | None):
    assert thread_share(launcher, cores) == threads


def test_override_tags_name_what_a_sweep_varies() -> None:
    long_value = "agent.hidden_sizes=[" + "256," * 20 + "]"
    overrides = ["env=Pendulum-v1", "seed=3", "agent.tau=0.01", "wandb.mode=offline",
                 "+search=pendulum", "resume=auto", long_value]  # fmt: skip
    tags = override_tags(overrides)
    assert tags[:3] == ["env=Pendulum-v1", "agent.tau=0.01", "+search=pendulum"]
    assert len(tags) == 4 and len(tags[3]) == 64  # W&B's limit: cut, not refused


# ------------------------------------------------------------------ sweeps through real launchers


def sweep(sweep_dir: Path, *overrides: str, timeout: float = 300) -> subprocess.Popen:
    """`python train.py --multirun ...` in the background, W&B's files inside the sweep dir."""
    env = {**os.environ, "WANDB_DIR": str(sweep_dir), "WANDB_CACHE_DIR": str(sweep_dir),
           "WANDB_CONFIG_DIR": str(sweep_dir), "WANDB_DATA_DIR": str(sweep_dir)}  # fmt: skip
    return subprocess.Popen(
        [sys.executable, "train.py", "--multirun", *TINY, f"hydra.sweep.dir={sweep_dir}",
         *overrides],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def finish(process: subprocess.Popen, timeout: float = 300) -> str:
    _, stderr = process.communicate(timeout=timeout)
    assert process.returncode == 0, stderr[-3000:]
    return stderr


def job_dirs(sweep_dir: Path) -> list[Path]:
    return sorted(p.parent for p in sweep_dir.glob("*/summary.json"))


def wandb_run_record(run_dir: Path) -> dict[str, Any]:
    (run_file,) = (run_dir / "wandb").glob("offline-run-*/run-*.wandb")
    (record,) = [r for r in read_wandb_records(run_file) if r["type"] == "run"]
    return record["run"]


@pytest.mark.parametrize("launcher", ["joblib", "submitit_local"])
def test_parallel_sweep_jobs_overlap_each_on_its_thread_share(tmp_path: Path, launcher: str):
    """Two seeds through a parallel launcher: both finish in their own run dirs, at the same
    time, each on its share of the cores, as offline W&B runs of one group tagged by what the
    sweep varies."""
    sweep_dir = tmp_path / "seeds"
    finish(sweep(sweep_dir, f"hydra/launcher={launcher}", "seed=0,1", "wandb.mode=offline"))
    dirs = job_dirs(sweep_dir)
    assert [d.name for d in dirs] == ["0_Pendulum-v1_seed0", "1_Pendulum-v1_seed1"]
    summaries = [json.loads((d / "summary.json").read_text()) for d in dirs]
    assert [s["seed"] for s in summaries] == [0, 1]
    assert all(s["total_steps"] == 300 for s in summaries)
    assert summaries[0]["eval_returns"] != summaries[1]["eval_returns"]
    config = OmegaConf.load(sweep_dir / "multirun.yaml").hydra.launcher
    expected = thread_share(OmegaConf.to_container(config), usable_cores())
    assert [s["torch_threads"] for s in summaries] == [expected, expected]
    # Each job's span: its config is written at the start, its summary at the end.
    spans = [
        ((d / ".hydra" / "config.yaml").stat().st_mtime, (d / "summary.json").stat().st_mtime)
        for d in dirs
    ]
    assert spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1], spans  # they overlap
    runs = [wandb_run_record(d) for d in dirs]
    assert [r["run_group"] for r in runs] == ["seeds", "seeds"]
    assert all(r["job_type"] == "train" for r in runs)
    assert "env=Pendulum-v1" in runs[0]["tags"] and not any("seed" in t for t in runs[0]["tags"])


def submitit_task_pids(sweep_dir: Path) -> list[int]:
    """The processes submitit's local executor runs the sweep's jobs in."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            command = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "submitit.core._submit" in command and str(sweep_dir) in command:
            pids.append(int(proc.name))
    return pids


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the job's process in /proc")
def test_submitit_job_sent_the_timeout_signal_is_requeued_and_resumes(tmp_path: Path) -> None:
    """submitit's time-out/preemption signal (SIGUSR2) mid-training: the job checkpoints, the
    executor requeues it, and the requeued job (resume=auto) continues from that checkpoint to
    the end. The same sweep run again then only reports the finished job's summary."""
    sweep_dir = tmp_path / "requeue"
    overrides = ("hydra/launcher=submitit_local", "seed=0", "resume=auto", "total_steps=2000",
                 "log_every=100")  # fmt: skip
    process = sweep(sweep_dir, *overrides)
    run_dir = sweep_dir / "0_Pendulum-v1_seed0"
    deadline = time.monotonic() + 120
    while last_step(run_dir) < 500:  # training is under way
        assert process.poll() is None and time.monotonic() < deadline, "the job never trained"
        time.sleep(0.1)
    (pid,) = submitit_task_pids(sweep_dir)
    os.kill(pid, signal.SIGUSR2)
    finish(process)
    (log,) = (sweep_dir / ".submitit").glob("*/*_0_log.err")
    text = log.read_text()
    assert "stopped to be requeued at step" in text
    stopped_at = int(text.split("stopped to be requeued at step ")[1].split(";")[0])
    assert 500 <= stopped_at < 2000
    assert f"resumed from {run_dir} at step {stopped_at}" in text
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["total_steps"] == 2000 and summary["resumed_from"] == str(run_dir)
    assert summary["updates"] == 2000 - 100  # no update lost or repeated across the requeue
    assert summary["resume_kind"] == "exact"  # the signal waited for the step to end

    metrics = (run_dir / "metrics.jsonl").read_bytes()
    finish(sweep(sweep_dir, *overrides))  # a re-run of the finished sweep: a no-op
    logs = [path.read_text() for path in (sweep_dir / ".submitit").glob("*/*_0_log.err")]
    assert len(logs) == 2  # the job's own log (its stderr) in the re-run's submitit folder
    assert sum(f"{run_dir} already finished at step 2000" in text for text in logs) == 1
    assert (run_dir / "metrics.jsonl").read_bytes() == metrics
    assert json.loads((run_dir / "summary.json").read_text()) == summary


@pytest.mark.skipif(
    subprocess.run([sys.executable, "-c", "import hydra_plugins.hydra_ray_launcher"]).returncode,
    reason="hydra-ray-launcher is not installed (pip install -e '.[ray]')",
)
def test_ray_launcher_runs_the_sweep_on_a_local_ray_instance(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "ray"
    stderr = finish(sweep(sweep_dir, "hydra/launcher=ray", "seed=0,1"))
    assert "Started a local Ray instance" in stderr
    summaries = [json.loads((d / "summary.json").read_text()) for d in job_dirs(sweep_dir)]
    assert [s["seed"] for s in summaries] == [0, 1]
    assert [s["torch_threads"] for s in summaries] == [1, 1]  # Ray's default task: one CPU


def test_optuna_search_records_objectives_and_resumes_from_its_storage(tmp_path: Path) -> None:
    """The example search at a tiny budget: each trial's objective is the mean of its last
    evaluations (summary.json), Optuna's study holds it, and a second invocation adds trials
    to the same study."""
    optuna = pytest.importorskip("optuna")
    storage = tmp_path / "study.db"
    common = ("+search=pendulum", f"hydra.sweeper.storage=sqlite:///{storage}",
              "eval.every=100", "eval.objective_evals=2", "hydra.sweeper.n_jobs=1")  # fmt: skip
    finish(sweep(tmp_path / "first", *common, "hydra.sweeper.n_trials=2"))
    finish(sweep(tmp_path / "second", *common, "hydra.sweeper.n_trials=1"))
    study = optuna.load_study(study_name="pendulum-lr-tau", storage=f"sqlite:///{storage}")
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3
    trial_dirs = job_dirs(tmp_path / "first") + job_dirs(tmp_path / "second")
    for trial, run_dir in zip(study.trials, trial_dirs):
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["eval_recent_count"] == 2
        evals = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
        last_two = [row["eval/return_mean"] for row in evals if "eval/return_mean" in row][-2:]
        assert trial.value == pytest.approx(sum(last_two) / 2)
        assert summary["eval_return_recent_mean"] == pytest.approx(trial.value)
        config = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
        assert config.agent.tau == pytest.approx(trial.params["agent.tau"])


# ------------------------------------------------------------------ resume=auto, in-process


def config_dict(cfg) -> dict[str, Any]:
    return OmegaConf.to_container(OmegaConf.structured(cfg))


def save_started_config(run_dir: Path, cfg) -> None:
    """What train.py writes once a run starts: the settings resume=auto compares against."""
    (run_dir / ".hydra").mkdir(parents=True, exist_ok=True)
    OmegaConf.save(OmegaConf.structured(cfg), run_dir / ".hydra" / "config.yaml")


def test_resume_auto_starts_fresh_continues_a_killed_run_and_skips_a_finished_one(tmp_path):
    cfg = tiny_config(resume=AUTO)
    run_dir = tmp_path / "job"
    run_dir.mkdir()
    with one_torch_thread():
        # A job stopped at step 150 (Ctrl-C, SIGTERM, a preemption): its checkpoint stays.
        save_started_config(run_dir, cfg)
        trainer = Trainer(replace(cfg, resume=None), config_dict(cfg), run_dir)

        def stop_at_150(step: int) -> bool:
            if step >= 150:
                raise KeyboardInterrupt
            return False

        with pytest.raises(KeyboardInterrupt):
            trainer.train([_NullLogger()], on_step=stop_at_150)
        trainer.close()
        assert not (run_dir / "summary.json").exists()

        summary = run_training(cfg, config_dict(cfg), run_dir)  # the re-run picks it up
        assert summary["resumed_from"] == str(run_dir)
        assert summary["total_steps"] == 300 and summary["updates"] == 300 - 100
        written = {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir() if p.is_file()}

        again = run_training(cfg, config_dict(cfg), run_dir)  # finished: nothing to do
        assert again == json.loads((run_dir / "summary.json").read_text())
        assert {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir() if p.is_file()} == written

        (tmp_path / "new").mkdir()  # as Hydra makes it
        fresh = run_training(cfg, config_dict(cfg), tmp_path / "new")  # no checkpoint: fresh
        assert fresh["resumed_from"] is None and fresh["total_steps"] == 300

        longer = tiny_config(resume=AUTO, total_steps=400)  # a larger budget trains on
        assert run_training(longer, config_dict(longer), run_dir)["total_steps"] == 400


def test_resume_auto_refuses_a_run_dir_of_other_settings(tmp_path: Path) -> None:
    run_dir = tmp_path / "job"
    (run_dir).mkdir()
    save_started_config(run_dir, tiny_config())
    (run_dir / "checkpoint.pt").write_bytes(b"not read: the settings differ first")
    cfg = tiny_config(resume=AUTO, agent=SACConfig(hidden_sizes=[32, 32], batch_size=32, tau=0.01))
    with pytest.raises(ConfigError, match=r"agent.tau: 0.005 there, 0.01 here"):
        run_training(cfg, config_dict(cfg), run_dir)


class _NullLogger:
    """The logger's interface, for a Trainer driven in-process."""

    seconds = 0.0

    def write(self, step: int, scalars: dict) -> None:
        pass

    def video(self, *args: Any) -> None:
        pass

    def model(self, *args: Any) -> None:
        pass
