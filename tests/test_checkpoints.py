"""What a run saves: checkpoint.pt on its schedule (with or without the replay buffer), best.pt
at the best eval, a checkpoint even when the final eval fails; and files that are not
checkpoints, each refused with one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sac_test_support import TINY, refused_run, run_train, tiny_config

from agents.checkpoint import CheckpointError, load_checkpoint
from configs.schema import CheckpointConfig
from runner.tracking import RunLogger
from runner.training import Trainer


def test_checkpoint_every_saves_on_schedule(tmp_path: Path) -> None:
    cfg = tiny_config(checkpoint=CheckpointConfig(every=100))
    trainer = Trainer(cfg, {}, tmp_path)
    saved_steps: dict[int, int] = {}

    def on_step(step: int) -> bool:
        if step in (50, 150, 250):  # read mid-run: the final save overwrites the file
            path = tmp_path / "checkpoint.pt"
            saved_steps[step] = load_checkpoint(tmp_path)["step"] if path.exists() else -1
        return False

    logger = RunLogger(tmp_path, cfg, {})
    try:
        trainer.train([logger], on_step=on_step)
    finally:
        logger.close({})
        trainer.close()
    assert saved_steps == {50: -1, 150: 100, 250: 200}


def test_checkpoint_without_buffer_is_small_and_not_resumable(tmp_path: Path) -> None:
    with_buffer, without = tmp_path / "with", tmp_path / "without"
    run_train(with_buffer, *TINY)
    run_train(without, *TINY, "checkpoint.save_buffer=false")
    assert load_checkpoint(without)["buffer"] is None
    assert load_checkpoint(with_buffer)["buffer"]["size"] == 299  # step 201 only resets
    result = refused_run(tmp_path / "resumed", *TINY, f"resume={without}")
    assert result.returncode == 2 and "holds no replay buffer" in result.stderr


def _eval_returns_by_step(run_dir: Path) -> dict[int, float]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {row["step"]: row["eval/return_mean"] for row in rows if "eval/return_mean" in row}


def test_best_model_is_the_best_eval(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_train(run_dir, *TINY, "eval.every=100", "log_every=100")
    evals = _eval_returns_by_step(run_dir)
    assert sorted(evals) == [100, 200, 300]
    best_step = max(evals, key=evals.__getitem__)
    best = load_checkpoint(run_dir / "best.pt")
    assert best["step"] == best_step and best["eval"]["return_mean"] == evals[best_step]
    saved = load_checkpoint(run_dir)
    assert (saved["best_eval_step"], saved["best_eval_return"]) == (best_step, evals[best_step])


def test_best_model_kept_on_ties_and_resume_restores_rng_and_best(tmp_path: Path) -> None:
    """No update runs (learning_starts = total_steps), so all three evals score the same: the
    first stays the best (a best.pt overwritten at every eval would hold step 300). A resume
    restores that best and the torch and numpy generator states."""
    run_dir = tmp_path / "run"
    run_train(run_dir, *TINY, "eval.every=100", "log_every=100", "learning_starts=300")
    assert len(set(_eval_returns_by_step(run_dir).values())) == 1
    assert load_checkpoint(run_dir / "best.pt")["step"] == 100
    saved = load_checkpoint(run_dir)
    torch.manual_seed(12345)  # not the saved state
    trainer = Trainer(tiny_config(total_steps=400, resume=str(run_dir)), {}, tmp_path / "r")
    try:
        assert torch.equal(torch.get_rng_state(), saved["rng"]["torch"])
        assert trainer.members[0].np_rng.bit_generator.state == saved["rng"]["numpy"]
        assert (trainer.progress.best_eval_step, trainer.progress.best_eval_return) == (
            100,
            saved["eval"]["return_mean"],
        )
    finally:
        trainer.close()


def test_failing_final_eval_still_leaves_the_checkpoint(tmp_path: Path) -> None:
    """The final evaluation (and its video) runs after the loop; an error there used to skip the
    crash save, losing the whole run."""
    saved_config = {"env": {"id": "Pendulum-v1"}}  # what a resume checks the env against
    trainer = Trainer(tiny_config(total_steps=150), saved_config, tmp_path)

    def broken_eval() -> dict:
        raise RuntimeError("eval env broke")

    trainer.members[0].run_eval = broken_eval
    logger = RunLogger(tmp_path, trainer.cfg, {})
    try:
        with pytest.raises(RuntimeError, match="eval env broke"):
            trainer.train([logger])
    finally:
        logger.close({})
        trainer.close()
    saved = load_checkpoint(tmp_path)
    assert saved["step"] == 150 and saved["buffer"]["size"] > 0
    # Resuming it finishes the run: no more steps, the final eval, model files and summary.
    finish_dir = tmp_path / "finish"
    finish_dir.mkdir()
    trainer = Trainer(tiny_config(total_steps=150, resume=str(tmp_path)), {}, finish_dir)
    logger = RunLogger(finish_dir, trainer.cfg, {})
    try:
        (summary,) = trainer.train([logger])
    finally:
        logger.close({})
        trainer.close()
    assert summary["total_steps"] == 150 and summary["updates"] == saved["agent"]["num_updates"]
    assert (finish_dir / "model.pt").exists() and summary["eval_episodes"] == 1


def _garbage_files() -> dict[str, bytes]:
    """Files that are not checkpoints. Each fails inside torch.load in its own way: an
    UnpicklingError, an IndexError from the unpickler's stack (a line of text), an EOFError."""
    rng = np.random.default_rng(0)
    return {
        "bytes": b"definitely not a checkpoint",
        "text": b"root:x:0:0:root:/root:/bin/bash\n",
        "empty": b"",
        **{f"random{i}": rng.integers(0, 256, 64, dtype=np.uint8).tobytes() for i in range(20)},
    }


def test_every_unreadable_file_is_one_checkpoint_error(tmp_path: Path) -> None:
    for name, content in _garbage_files().items():
        path = tmp_path / f"{name}.pt"
        path.write_bytes(content)
        with pytest.raises(CheckpointError) as raised:
            load_checkpoint(path)
        message = str(raised.value)
        assert "is corrupt or not a checkpoint" in message and "\n" not in message, name
        assert "weights_only" not in message, name  # not torch's advice to unpickle unsafely


@pytest.mark.parametrize("content", [b"definitely not a checkpoint", b"root:x:0:0:root:/root\n"])
def test_corrupt_checkpoint_is_reported_and_kept(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(content)
    result = refused_run(tmp_path / "run", *TINY, f"resume={bad}")
    assert result.returncode == 2
    assert "is corrupt or not a checkpoint" in result.stderr
    assert "Traceback" not in result.stderr
    assert bad.read_bytes() == content
