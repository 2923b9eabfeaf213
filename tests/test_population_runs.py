"""`python train.py population=K`: K members in one process, each with a run dir of its own that
evaluate.py, the SB3 export and aggregate.py take as any run's; resume, a diverged member, and
the refusals of what cannot run."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pytest
import torch
from sac_test_support import (
    REPO,
    TINY,
    one_torch_thread,
    run_train,
    sigterm_at,
    tiny_config,
    train_main_in_process,
)

from agents import SACConfig
from agents.checkpoint import CheckpointError, load_checkpoint, resolve_checkpoint_path
from configs.schema import EvalConfig, ExplorationConfig
from runner.process import Terminated
from runner.resume import AUTO, resume_sources
from runner.tracking import RunLogger
from runner.training import Trainer, run_training

RUN = [*TINY, "torch_threads=1", "progress=false", "num_envs=2", "eval.every=150"]


def _params(path: Path) -> dict[str, torch.Tensor]:
    agent = load_checkpoint(path)["agent"]
    return {f"{net}.{k}": v for net in ("actor", "critic") for k, v in agent[net].items()}


def _rows(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "time/steps_per_second"}
            for line in lines]  # fmt: skip


@pytest.fixture(scope="module")
def population_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("population") / "run"
    run_train(run_dir, *RUN, "population=3", "seed=5", "wandb.mode=offline")
    return run_dir


def test_each_member_writes_the_files_of_a_single_run(population_dir: Path) -> None:
    population = json.loads((population_dir / "population.json").read_text())
    assert population["seeds"] == [5, 6, 7] and population["population"] == 3
    finals = []
    for k, seed in enumerate((5, 6, 7)):
        member = population_dir / f"member-{k}"
        for name in ("summary.json", "model.pt", "best.pt", "checkpoint.pt", "metrics.jsonl"):
            assert (member / name).is_file(), f"member-{k}/{name}"
        summary = json.loads((member / "summary.json").read_text())
        assert summary["seed"] == seed and summary["total_steps"] == 300
        assert load_checkpoint(member / "model.pt")["config"]["seed"] == seed
        assert "seed: " + str(seed) in (member / ".hydra" / "config.yaml").read_text()
        finals.append(summary["eval_return_mean"])
        # one W&B run per member, all in the population's group
        (run_file,) = (member / "wandb").glob("offline-run-*/run-*.wandb")
        assert run_file.stat().st_size > 0
    assert population["eval_return_mean"] == pytest.approx(sum(finals) / 3)
    assert len({round(f, 6) for f in finals}) == 3  # three seeds, three different results


def test_a_member_is_the_single_run_with_its_seed(population_dir: Path, tmp_path: Path) -> None:
    """Member 1 (seed 6) against `seed=6` alone: the same transitions up to learning_starts,
    bit for bit (its envs, warm-up actions and streams are that run's), and after 200 updates
    the same parameters to float32 rounding (a batched matmul may sum in another order)."""
    single = tmp_path / "single"
    run_train(single, *RUN, "seed=6")
    member = population_dir / "member-1"
    dirs = (single, member, population_dir / "member-0")
    alone, own, other = (load_checkpoint(d)["buffer"]["storage"] for d in dirs)
    for field in ("obs", "action", "reward", "next_obs", "terminated"):
        # the 100 transitions stored before learning_starts=100 (50 steps of 2 envs)
        assert torch.equal(alone[field][:100], own[field][:100]), field
    assert not torch.equal(own["obs"][:100], other["obs"][:100])  # another member, other data
    expected, got = _params(single / "model.pt"), _params(member / "model.pt")
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], atol=2e-4, rtol=1e-3, msg=key)


def test_a_member_dir_is_a_run_to_evaluate_and_export(population_dir: Path, tmp_path: Path) -> None:
    member = population_dir / "member-2"
    zip_path = tmp_path / "member.zip"
    result = subprocess.run(
        [sys.executable, "evaluate.py", f"checkpoint={member}", f"export_sb3={zip_path}"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert zip_path.stat().st_size > 0
    with pytest.raises(CheckpointError, match=r"a population's dir: each member's run dir is"):
        resolve_checkpoint_path(population_dir)  # what checkpoint=<the population's dir> says


def _population_config(population: int = 2):
    return tiny_config(
        population=population,
        agent=SACConfig(hidden_sizes=[32, 32], batch_size=32, normalize_obs=True),
        total_steps=400,
        num_envs=2,
        eval=EvalConfig(every=200, episodes=1),
        log_every=50,
        exploration=ExplorationConfig(noise_beta=1.0),
    )


def test_a_population_stopped_by_sigterm_resumes_bit_exactly(tmp_path: Path) -> None:
    """SIGTERM at step 200 of 400, then resume=auto: every member ends as in the straight run,
    and resume=auto on the finished population only reports its population.json."""
    cfg = _population_config()
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    with one_torch_thread():
        run_training(cfg, asdict(cfg), straight)
        trainer = Trainer(cfg, asdict(cfg), stopped)
        with pytest.raises(Terminated):
            _train_members(trainer, sigterm_at(200))
        assert load_checkpoint(stopped / "member-1")["step"] == 200
        # as a requeued cluster job does: resume=auto finds each member's checkpoint
        resumed = run_training(replace(cfg, resume=AUTO), asdict(cfg), stopped)
        again = run_training(replace(cfg, resume=AUTO), asdict(cfg), stopped)  # finished: no-op
    assert resumed["seeds"] == [0, 1] and again == json.loads(
        (stopped / "population.json").read_text()
    )
    explicit = resume_sources(str(stopped), tmp_path / "elsewhere", asdict(cfg), 2)
    assert explicit == [str(stopped / "member-0"), str(stopped / "member-1")]
    for k in range(2):
        expected, got = (
            _params(straight / f"member-{k}/model.pt"),
            _params(stopped / f"member-{k}/model.pt"),
        )
        for key in expected:
            assert torch.equal(expected[key], got[key]), f"member {k}: {key}"
        assert _rows(straight / f"member-{k}") == _rows(stopped / f"member-{k}")
        summary = json.loads((stopped / f"member-{k}/summary.json").read_text())
        assert summary["resume_kind"] == "exact"


def _train_members(trainer: Trainer, on_step) -> list[dict[str, Any]]:
    """A Trainer's run, each member logging into its own dir; the members' summaries."""
    loggers = []
    try:
        for member in trainer.members:
            member.run_dir.mkdir(parents=True, exist_ok=True)
            loggers.append(RunLogger(member.run_dir, member.cfg, {}))
        return trainer.train(loggers, on_step)
    finally:
        for logger in loggers:
            logger.close({})
        trainer.close()


def test_a_diverged_member_is_reported_and_the_others_go_on(tmp_path: Path, capsys) -> None:
    cfg = _population_config(population=4)
    trainer = Trainer(cfg, asdict(cfg), tmp_path)

    def poison_members(step: int) -> bool:
        poisoned = {150: 3, 250: 1}.get(step)  # member 3 before the first evaluation (at 200)
        if poisoned is not None:
            with torch.no_grad():
                trainer.members[poisoned].agent.actor.mu.weight.fill_(float("nan"))
        return False

    with one_torch_thread():
        summaries = _train_members(trainer, poison_members)
    err = capsys.readouterr().err
    assert "member 1 (seed 1) diverged at step 250" in err
    assert "member 3 (seed 3) diverged at step 150" in err
    assert summaries[1]["diverged_at_step"] == 250 and summaries[3]["diverged_at_step"] == 150
    assert math.isnan(summaries[3]["eval_return_mean"])  # no evaluation before it diverged
    for k in (0, 2):
        assert "diverged_at_step" not in summaries[k] and summaries[k]["total_steps"] == 400
        params = _params(tmp_path / f"member-{k}/model.pt")
        assert all(torch.isfinite(v).all() for v in params.values()), f"member {k}"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["population=100000", "agent.buffer_size=100000000"],
         "population=100000 x agent.buffer_size=100000000 needs"),
        (["population=2", "agent.update_backend=autograd"],
         "population=2 needs agent.update_backend=manual"),
        (["population=0"], "population must be >= 1, got 0"),
        (["population=2", "resume=/nonexistent/checkpoint.pt"],
         "population=2 resumes from a population's run dir"),
    ],
)  # fmt: skip
def test_what_cannot_run_is_refused_in_one_line(
    tmp_path: Path, overrides: list[str], message: str
) -> None:
    run_dir = tmp_path / "run"
    code, stderr = train_main_in_process(run_dir, *TINY, *overrides)
    assert code == 2, stderr[-2000:]
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], stderr[-2000:]
    assert "Traceback" not in stderr
    assert not run_dir.exists() or not any(run_dir.rglob("*.pt"))
