"""Our SAC update against SB3's, the reference implementation: the same weights (our agent
exported to an SB3 zip), the same batches and the same Gaussian noise, three updates each; every
parameter, target and the temperature agree. A learning gap between the two at equal settings
is then not in the update's math.

Equal settings need our actor's SB3-compatible log σ (a hard clamp to [-20, 2], as imported SB3
models use; our default squashes log σ smoothly into [-5, 2]). SB3 adds 1e-6 inside its
log(1 - tanh(u)^2), which ours computes exactly: hence a tolerance, not bit equality."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from agents import SACAgent, SACConfig
from agents.replay_buffer import Batch
from agents.sb3 import agent_to_sb3_state
from runner.models import EnvSpec, export_sb3

sb3 = pytest.importorskip("stable_baselines3")
from stable_baselines3.common.logger import configure  # noqa: E402
from stable_baselines3.common.type_aliases import ReplayBufferSamples  # noqa: E402

OBS_DIM, ACTION_DIM, BATCH = 3, 1, 16


def _batches(count: int) -> list[Batch]:
    rng = np.random.default_rng(0)

    def rows(width: int) -> torch.Tensor:
        return torch.as_tensor(rng.normal(size=(BATCH, width)), dtype=torch.float32)

    return [
        Batch(
            rows(OBS_DIM),
            torch.rand(BATCH, ACTION_DIM) * 2 - 1,
            rows(1)[:, 0],
            rows(OBS_DIM),
            torch.as_tensor(rng.random(BATCH) < 0.2, dtype=torch.float32),
        )  # fmt: skip
        for _ in range(count)
    ]


def test_three_updates_equal_sb3s_on_the_same_batches_and_noise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch.manual_seed(0)
    config = SACConfig(
        hidden_sizes=[16, 16], batch_size=BATCH, clamp_log_std=True, log_std_min=-20.0,
        log_std_max=2.0, update_backend="autograd", init_alpha=0.5,
    )  # fmt: skip
    agent = SACAgent(OBS_DIM, ACTION_DIM, config, action_low=[-2.0], action_high=[2.0])
    path = export_sb3(agent, EnvSpec("Pendulum-v1"), tmp_path / "sb3")
    model = sb3.SAC.load(path, device="cpu")
    model.set_logger(configure(None, []))
    batches = _batches(3)
    before = {key: value.clone() for key, value in agent_to_sb3_state(agent).items()}
    noise = [(torch.randn(BATCH, ACTION_DIM), torch.randn(BATCH, ACTION_DIM)) for _ in batches]

    # Ours draws next_obs's eps first (the critic's target), then obs's (the actor step).
    ours = [eps for obs_eps, next_eps in noise for eps in (next_eps, obs_eps)]
    with monkeypatch.context() as patch:
        patch.setattr(torch, "randn_like", lambda like: ours.pop(0))
        for batch in batches:
            agent.update(batch)

    # SB3 draws obs's first (its actor and temperature losses), then next_obs's.
    theirs = [eps for obs_eps, next_eps in noise for eps in (obs_eps, next_eps)]
    samples = iter(
        ReplayBufferSamples(b.obs, b.action, b.next_obs, b.terminated[:, None], b.reward[:, None])
        for b in batches
    )
    with monkeypatch.context() as patch:
        patch.setattr(
            torch.distributions.Normal,
            "rsample",
            lambda self, *_: self.loc + theirs.pop(0) * self.scale,
        )
        patch.setattr(model.replay_buffer, "sample", lambda *_args, **_kwargs: next(samples))
        model.train(gradient_steps=len(batches), batch_size=BATCH)

    expected = model.policy.state_dict()
    got = agent_to_sb3_state(agent)
    compared = [key for key in got if key in expected]
    assert len(compared) >= 12  # actor trunk and heads, both critics and both targets
    # The steps taken, so that a target's small move (tau times the critic's) counts in full;
    # atol: float32 rounding of a difference of weights near 0.5.
    for key in compared:
        torch.testing.assert_close(
            got[key] - before[key], expected[key] - before[key], rtol=1e-2, atol=2e-7, msg=key
        )
    torch.testing.assert_close(
        agent.log_alpha.detach(), model.log_ent_coef.detach().reshape(()), rtol=1e-4, atol=1e-6
    )
    # Adam's early steps hardly depend on a scalar gradient's size: compare the last one itself.
    torch.testing.assert_close(
        agent.log_alpha.grad, model.log_ent_coef.grad.reshape(()), rtol=1e-3, atol=1e-6
    )
    # The updates moved every weight compared: equal untouched copies would prove nothing.
    moved = [key for key in compared if not torch.allclose(got[key], before[key])]
    assert moved == compared
    assert not torch.allclose(agent.log_alpha.detach(), torch.tensor(float(np.log(0.5))))
