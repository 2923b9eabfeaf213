"""How the loop explores: uniform actions until learning_starts, then the policy, with white or
colored (pink) noise drawn in a documented order; and a warning when no update will run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from sac_test_support import TINY, run_train, tiny_config

from agents import SACAgent, SACConfig
from agents.checkpoint import load_checkpoint
from agents.noise import ColoredNoise
from runner.training import Trainer


def test_run_without_updates_is_warned_about(tmp_path: Path, capsys) -> None:
    for learning_starts, warned in ((100, False), (300, True)):
        cfg = tiny_config(learning_starts=learning_starts)
        Trainer(cfg, {}, tmp_path / str(learning_starts)).close()
        assert ("no gradient update will run" in capsys.readouterr().err) == warned


def test_uniform_warmup_ends_exactly_at_learning_starts(tmp_path: Path) -> None:
    """learning_starts counts env steps over all envs: with 2 envs the vector step at env step
    98 still acts uniformly (numpy's stream), the one at 100 with the policy (torch's)."""
    trainer = Trainer(tiny_config(num_envs=2, learning_starts=100), {}, tmp_path)
    obs = np.zeros((2, 3), dtype=np.float32)
    try:
        for step, uniform in ((0, True), (98, True), (100, False), (102, False)):
            trainer.progress.step = step
            expected = np.random.Generator(np.random.PCG64())
            expected.bit_generator.state = trainer.members[0].np_rng.bit_generator.state
            action = trainer.members[0].act(obs)
            assert action.shape == (2, 1) and action.dtype == np.float32
            drawn = expected.uniform(-1.0, 1.0, (2, 1)).astype(np.float32)
            assert np.array_equal(action, drawn) is uniform, step
            moved = trainer.members[0].np_rng.bit_generator.state != expected.bit_generator.state
            assert moved is not uniform, step  # after a uniform draw both streams advanced
    finally:
        trainer.close()


def test_uniform_warmup_acts_uniformly_before_learning_starts(tmp_path: Path) -> None:
    """Before learning_starts the actions are U(-1, 1) (SB3's and the SAC paper's warm-up), not
    the untrained policy's samples (what `exploration.uniform_warmup=false` stores)."""
    actions = {}
    for warmup in ("true", "false"):
        run_dir = tmp_path / warmup
        run_train(run_dir, *TINY, "learning_starts=300", f"exploration.uniform_warmup={warmup}")
        actions[warmup] = load_checkpoint(run_dir)["buffer"]["storage"]["action"].numpy().ravel()
    uniform = actions["true"]
    assert len(uniform) == 299 and not np.array_equal(uniform, actions["false"])
    assert abs(uniform.mean()) < 0.12 and abs(uniform.std() - 1 / np.sqrt(3)) < 0.06
    assert uniform.min() > -1 and uniform.max() < 1
    assert uniform.min() < -0.95 and uniform.max() > 0.95  # spread over the whole range


def stored_action_lag1(run_dir: Path) -> float:
    buffer = load_checkpoint(run_dir / "checkpoint.pt")["buffer"]
    actions = buffer["storage"]["action"][:, 0].numpy()
    return float(np.corrcoef(actions[:-1], actions[1:])[0, 1])


def test_pink_exploration_noise_correlates_the_actions_taken(tmp_path: Path) -> None:
    """Acting with pink eps from step 0 (no uniform warm-up) stores correlated actions."""
    policy_from_start = ["exploration.uniform_warmup=false", "learning_starts=300"]
    run_train(tmp_path / "white", *TINY, *policy_from_start)
    run_train(tmp_path / "pink", *TINY, *policy_from_start, "exploration.noise_beta=1.0")
    white, pink = stored_action_lag1(tmp_path / "white"), stored_action_lag1(tmp_path / "pink")
    assert pink > 0.5
    assert pink > white + 0.3


def test_each_episode_acts_with_a_fresh_noise_sequence_from_its_start(tmp_path: Path) -> None:
    """Recover eps = (atanh(a) - mu) / sigma from the stored actions of an untrained policy and
    compare with the noise drawn in the documented order: a sequence's position 0 goes to an
    episode's first real action, not to the ignored autoreset step before it."""
    run_dir = tmp_path / "run"
    run_train(run_dir, *TINY, "total_steps=20", "learning_starts=1000", "env.max_episode_steps=3",
              "exploration.uniform_warmup=false", "exploration.noise_beta=1.0")  # fmt: skip
    payload = load_checkpoint(run_dir / "checkpoint.pt")
    storage = payload["buffer"]["storage"]
    agent = SACAgent(3, 1, SACConfig(hidden_sizes=(32, 32)), "cpu")
    agent.load_state_dict(payload["agent"])  # no updates ran: this is the policy that acted
    with torch.no_grad():
        dist = agent.actor(storage["obs"])
        eps = (torch.atanh(storage["action"].double()) - dist.mean) / dist.log_std.exp()
    noise, ended, expected = ColoredNoise(1.0, 1, 1, length=3, seed=[0, 1, 0]), False, []
    for step in range(20):  # 3 steps per episode, then one autoreset step that is not stored
        drawn = noise()[0, 0]
        if step % 4 != 3:
            expected.append(drawn)
        noise.reset(np.array([ended]))
        ended = step % 4 == 2
    assert len(expected) == len(eps) == 15
    np.testing.assert_allclose(eps[:, 0].numpy(), expected, atol=1e-3)
