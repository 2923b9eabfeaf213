"""Temporally correlated exploration noise for the policy's eps (Eberhard et al., "Pink Noise Is
All You Need: Colored Noise Exploration in Deep Reinforcement Learning", ICLR 2023).

SAC samples a = tanh(mu + sigma * eps) with eps i.i.d. N(0, 1) per step (white noise, beta 0).
Sparse-reward tasks such as MountainCarContinuous need actions that persist for many steps;
replacing eps by a unit-variance sequence with power spectrum ~ 1/f^beta (beta 1: pink) keeps
the per-step marginal N(0, 1) but correlates it in time. Only acting uses it: the update's
log-probabilities still use i.i.d. eps, as in the paper.

Hand-written (the Timmer & Koenig 1995 spectral method, as in the `colorednoise` package, but
normalized to exactly unit variance including the f = 0 term) because it is 20 lines of numpy
and not worth a dependency outside the chosen set.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def powerlaw_noise(
    beta: float, shape: tuple[int, ...], length: int, rng: np.random.Generator
) -> np.ndarray:
    """Unit-variance Gaussian sequences of `length` steps along the last axis, PSD ~ 1/f^beta."""
    freqs = np.fft.rfftfreq(length)
    freqs[0] = 1.0 / length  # the lowest resolvable frequency stands in for f = 0
    # Relative to the lowest frequency, so scale <= 1: (1/length)^(-beta/2) overflows for large
    # beta (beta 300 at length 1000), and the normalization below removes any constant factor.
    scale = (freqs * length) ** (-beta / 2.0)
    real = rng.standard_normal((*shape, len(freqs))) * scale
    imag = rng.standard_normal((*shape, len(freqs))) * scale
    # Variance of y_t = irfft(X)_t: 4 s_k^2 / n^2 per frequency 0 < k < n/2 (2 Re(X_k e^{i..}));
    # the real f = 0 and Nyquist coefficients (scaled by sqrt 2 below) give 2 s_k^2 / n^2.
    coefficient_var = 4.0 * scale**2
    coefficient_var[0] = 2.0 * scale[0] ** 2
    imag[..., 0] = 0.0
    real[..., 0] *= np.sqrt(2.0)
    if length % 2 == 0:  # the Nyquist coefficient of a real signal is real
        coefficient_var[-1] = 2.0 * scale[-1] ** 2
        imag[..., -1] = 0.0
        real[..., -1] *= np.sqrt(2.0)
    sigma = np.sqrt(coefficient_var.sum()) / length  # so that E[y_t^2] = 1 exactly
    return np.fft.irfft(real + 1j * imag, n=length, axis=-1) / sigma


class ColoredNoise:
    """eps for `num_envs` envs x `action_dim` dims, one fresh sequence per env and episode."""

    def __init__(
        self,
        beta: float,
        num_envs: int,
        action_dim: int,
        length: int,
        seed: int | Sequence[int] | None = None,
    ) -> None:
        if length < 2:
            raise ValueError(f"colored noise needs a sequence length >= 2, got {length}")
        self.beta, self.length = beta, length
        self.rng = np.random.default_rng(seed)
        self.buffer = np.empty((num_envs, action_dim, length))
        self.position = np.zeros(num_envs, dtype=np.int64)
        self.reset(np.ones(num_envs, dtype=bool))

    def reset(self, envs: np.ndarray) -> None:
        """Start new sequences for the envs where `envs` (bool mask) is set (episode starts)."""
        count = int(np.count_nonzero(envs))
        if count:
            shape = (count, self.buffer.shape[1])
            self.buffer[envs] = powerlaw_noise(self.beta, shape, self.length, self.rng)
            self.position[envs] = 0

    def __call__(self) -> np.ndarray:
        """The next eps, shape (num_envs, action_dim); a sequence that runs out starts anew."""
        self.reset(self.position >= self.length)
        rows = np.arange(len(self.position))
        eps = self.buffer[rows, :, self.position].astype(np.float32)
        self.position += 1
        return eps

    def state_dict(self) -> dict[str, object]:
        """Where each env is in its sequence, the sequences and the RNG: a resumed run goes on
        with the very eps the uninterrupted one would have drawn."""
        return {
            "rng": self.rng.bit_generator.state,
            "buffer": self.buffer.copy(),
            "position": self.position.copy(),
        }

    def load_state_dict(self, state: dict[str, object]) -> None:
        buffer, position = np.asarray(state["buffer"]), np.asarray(state["position"])
        if buffer.shape != self.buffer.shape or position.shape != self.position.shape:
            raise ValueError(
                f"noise state for {buffer.shape} (envs, action dims, length), this run has "
                f"{self.buffer.shape}"
            )
        self.rng.bit_generator.state = state["rng"]
        self.buffer[...] = buffer
        self.position[...] = position
