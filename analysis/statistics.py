"""Interval estimates with rliable (Agarwal et al. 2021, "Deep RL at the Edge of the
Statistical Precipice"): IQM, median, mean and optimality gap, each with a 95% stratified
bootstrap confidence interval, and the references that put envs on one normalized scale.

A few seeds per config is the norm in deep RL; the IQM (mean of the middle 50% of runs) is
robust to one diverged seed yet uses more of the data than the median, and the bootstrap
interval says how much the next batch of seeds could move it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

try:
    from rliable import library as rly
    from rliable import metrics
except TypeError as error:  # arch 7 (rliable 1.2 pins arch<8) breaks on import under pandas 3
    raise ImportError(f"rliable cannot be imported ({error}): pip install 'pandas<3'") from error

CONFIDENCE = 0.95
METHOD = "percentile"  # rliable's default bootstrap interval
GAMMA = 1.0  # optimality gap threshold: a normalized score of 1 is the reference return


class Reference(NamedTuple):
    """An env's normalization: 0 is a random policy's return, 1 the reference return."""

    random: float
    reference: float
    source: str


D4RL = "D4RL (Fu et al. 2020) reference scores: a random and an expert (SAC) policy, -v2 envs"
# score_normalized = (return - random) / (reference - random), the convention of D4RL and of
# Atari's human-normalized scores. MuJoCo v5 keeps v2's rewards and episode length (1000).
REFERENCES: dict[str, Reference] = {
    "Pendulum-v1": Reference(
        -1255.5,
        -150.0,
        "random: mean of 200 episodes of uniform random torques (seeds 0-199, gymnasium 1.4); "
        "reference: -150, 'solved', near SB3 zoo's tuned SAC (-157.0 at 20k steps)",
    ),
    "HalfCheetah-v5": Reference(-280.18, 12135.0, D4RL),
    "Hopper-v5": Reference(-20.27, 3234.3, D4RL),
    "Walker2d-v5": Reference(1.63, 4592.3, D4RL),
    "Ant-v5": Reference(-325.6, 3879.7, D4RL),
}


def normalize(scores: np.ndarray, reference: Reference) -> np.ndarray:
    return (scores - reference.random) / (reference.reference - reference.random)


@dataclass(frozen=True)
class Interval:
    point: float
    low: float
    high: float


@dataclass(frozen=True)
class FinalStats:
    """Final-score estimates of one config; `gap` is on normalized scores (None: no reference)."""

    iqm: Interval
    median: Interval
    mean: Interval
    std: float | None  # sample std over runs (ddof 1); None for one run or a cross-env matrix
    gap: Interval | None


def iqm_per_column(scores: np.ndarray) -> np.ndarray:
    """(n, S) -> (S,) IQM at each step: rliable's aggregate_iqm (scipy's trim_mean, 25% cut
    from each end) taken over the runs of each column."""
    n = scores.shape[0]
    cut = int(0.25 * n)
    return np.sort(scores, axis=0)[cut : n - cut].mean(axis=0)


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """rliable's StratifiedBootstrap draws its resamples from NumPy's global generator
    (`np.random.choice`), not from a random_state: seed that, and give its state back after."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def bootstrap(
    scores: np.ndarray, func: Callable[[np.ndarray], np.ndarray], reps: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """rliable's point estimates and (2, ...) 95% intervals of `func` over a (runs, tasks)
    or (runs, steps) matrix, each column a stratum: runs are resampled within each column."""
    with seeded(seed):
        points, intervals = rly.get_interval_estimates(
            {"scores": scores}, func, method=METHOD, reps=reps, confidence_interval_size=CONFIDENCE
        )
    return np.asarray(points["scores"]), np.asarray(intervals["scores"])


def run_median(scores: np.ndarray) -> float:
    """rliable's aggregate_median is the median over tasks of each task's mean score: over envs
    the paper's figure, but on one env it is just the mean. There, the median over runs."""
    if scores.shape[1] == 1:
        return float(np.median(scores))
    return float(metrics.aggregate_median(scores))


def final_stats(
    scores: np.ndarray,
    to_normalized: Callable[[np.ndarray], np.ndarray] | None,
    reps: int,
    seed: int,
) -> FinalStats:
    """IQM, median (see `run_median`) and mean of a (runs, tasks) score matrix, and the
    optimality gap of `to_normalized(scores)` when given; one set of resamples for all."""

    def func(x: np.ndarray) -> np.ndarray:
        values = [metrics.aggregate_iqm(x), run_median(x), metrics.aggregate_mean(x)]
        if to_normalized is not None:
            values.append(metrics.aggregate_optimality_gap(to_normalized(x), gamma=GAMMA))
        return np.array(values)

    points, intervals = bootstrap(scores, func, reps, seed)
    iqm, median, mean, *gap = (
        Interval(float(p), float(lo), float(hi)) for p, lo, hi in zip(points, *intervals)
    )
    runs = scores.shape[0]
    std = float(np.std(scores, ddof=1)) if scores.shape[1] == 1 and runs > 1 else None
    return FinalStats(iqm=iqm, median=median, mean=mean, std=std, gap=gap[0] if gap else None)


def curve_stats(returns: np.ndarray, reps: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, S) eval returns -> the IQM over runs at each step (S,) and its 95% band (2, S)."""
    return bootstrap(returns, iqm_per_column, reps, seed)
