"""Colored exploration noise: its spectrum, its per-env episode resets, and how acting uses it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agents import SACAgent, SACConfig
from agents.noise import ColoredNoise, powerlaw_noise


def spectrum_slope(sequences: np.ndarray) -> float:
    """Slope of log power against log frequency, averaged over many sequences."""
    power = np.mean(np.abs(np.fft.rfft(sequences, axis=-1)) ** 2, axis=0)[1:]
    freqs = np.fft.rfftfreq(sequences.shape[-1])[1:]
    return float(np.polyfit(np.log(freqs), np.log(power), 1)[0])


@pytest.mark.parametrize("beta", [0.0, 1.0, 2.0])
def test_power_spectrum_follows_one_over_f_to_the_beta(beta: float) -> None:
    sequences = powerlaw_noise(beta, (500,), 1000, np.random.default_rng(0))
    assert sequences.shape == (500, 1000)
    assert spectrum_slope(sequences) == pytest.approx(-beta, abs=0.1)


@pytest.mark.parametrize("length", [999, 1000])  # odd and even: the Nyquist term differs
@pytest.mark.parametrize("beta", [0.0, 1.0, 2.0])
def test_marginal_has_unit_variance(beta: float, length: int) -> None:
    sequences = powerlaw_noise(beta, (4000,), length, np.random.default_rng(1))
    assert np.mean(sequences**2) == pytest.approx(1.0, abs=0.03)


@pytest.mark.parametrize("length", [16, 17])
def test_short_sequences_have_unit_variance(length: int) -> None:
    """Short episodes (env.max_episode_steps=16) make short sequences, where the Nyquist bin's
    share is large: handled for the wrong parity, the variance was 0.91 / 1.06."""
    sequences = powerlaw_noise(0.0, (20000,), length, np.random.default_rng(2))
    assert np.mean(sequences**2) == pytest.approx(1.0, abs=0.02)


@pytest.mark.parametrize("beta", [300.0, 1000.0])
def test_steep_spectrum_stays_finite_with_unit_variance(beta: float) -> None:
    # All power in the two lowest bins (f = 0 takes the lowest frequency's scale), still N(0, 1).
    sequences = powerlaw_noise(beta, (4000,), 1000, np.random.default_rng(3))
    assert np.isfinite(sequences).all()
    assert np.mean(sequences**2) == pytest.approx(1.0, abs=0.06)
    power = np.abs(np.fft.rfft(sequences, axis=-1)) ** 2
    assert power[:, 2:].sum() < 1e-9 * power[:, :2].sum()


def test_pink_noise_is_correlated_in_time_and_white_is_not() -> None:
    def lag1(beta: float) -> float:
        x = powerlaw_noise(beta, (200,), 1000, np.random.default_rng(2))
        return float(np.corrcoef(x[:, :-1].ravel(), x[:, 1:].ravel())[0, 1])

    assert abs(lag1(0.0)) < 0.02
    assert lag1(1.0) > 0.5


def test_sequences_run_per_env_and_restart_only_where_reset() -> None:
    noise = ColoredNoise(1.0, num_envs=3, action_dim=2, length=8, seed=0)
    first = noise.buffer.copy()
    steps = [noise() for _ in range(3)]
    assert all(step.shape == (3, 2) and step.dtype == np.float32 for step in steps)
    np.testing.assert_allclose(np.stack(steps, -1), first[:, :, :3], rtol=1e-6)
    noise.reset(np.array([False, True, False]))  # env 1's episode ended
    after = noise()
    np.testing.assert_allclose(after[[0, 2]], first[[0, 2], :, 3], rtol=1e-6)  # continued
    assert not np.allclose(after[1], first[1, :, 0])  # a new sequence, from its start
    assert noise.position.tolist() == [4, 1, 4]
    for _ in range(4):
        noise()
    assert noise.position.tolist() == [8, 5, 8]
    noise()  # envs 0 and 2 ran out of sequence: they start a new one
    assert noise.position.tolist() == [1, 6, 1]


def test_short_sequences_are_refused() -> None:
    with pytest.raises(ValueError, match="length >= 2"):
        ColoredNoise(1.0, 1, 1, length=1)


def test_act_squashes_the_given_eps() -> None:
    torch.manual_seed(0)
    agent = SACAgent(3, 2, SACConfig(hidden_sizes=(16, 16)), "cpu")
    obs = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    mode = agent.act(obs, deterministic=True)
    np.testing.assert_allclose(agent.act(obs, eps=np.zeros((4, 2))), mode, atol=1e-6)
    with torch.no_grad():
        dist = agent.actor(torch.as_tensor(obs))
        eps = np.full((4, 2), 0.7, dtype=np.float32)
        expected = torch.tanh(dist.mean + dist.log_std.exp() * 0.7).numpy()
    np.testing.assert_allclose(agent.act(obs, eps=eps), expected, atol=1e-6)
    with pytest.raises(ValueError, match="eps has shape"):
        agent.act(obs, eps=np.zeros(2))  # one eps for all envs is a mistake, not a broadcast
