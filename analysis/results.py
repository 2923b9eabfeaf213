"""Per config: the learning curve and final-score estimates; across envs: the normalized
aggregate of each config run on every env that has a reference. What figures and tables show.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.groups import SEPARATOR, ConfigRuns
from analysis.statistics import (
    REFERENCES,
    FinalStats,
    Reference,
    curve_stats,
    final_stats,
    normalize,
)

CROSS_ENV = "all envs (normalized)"


@dataclass(frozen=True)
class ConfigResult:
    """One config on one env: its runs, IQM curve with 95% band, and final-score estimates."""

    config: ConfigRuns
    curve: np.ndarray  # (S,) IQM over runs at each shared eval step
    band: np.ndarray  # (2, S) its 95% interval
    final: FinalStats
    reference: Reference | None


@dataclass(frozen=True)
class CrossEnvResult:
    """One config's normalized final scores over the envs with a reference, as one matrix."""

    label: str
    library: str
    baseline: bool
    envs: tuple[str, ...]
    runs: int  # runs per env in the (runs, envs) matrix
    final: FinalStats  # every estimate on normalized scores


def config_results(configs: list[ConfigRuns], reps: int, seed: int) -> list[ConfigResult]:
    results = []
    for config in configs:
        reference = REFERENCES.get(config.env_id)
        curve, band = curve_stats(config.returns, reps, seed)
        to_normalized = None if reference is None else (lambda x, r=reference: normalize(x, r))
        final = final_stats(config.final_scores[:, None], to_normalized, reps, seed)
        results.append(ConfigResult(config, curve, band, final, reference))
    return results


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def rectangular(configs: list[ConfigRuns], name: str) -> tuple[list[np.ndarray], str | None]:
    """Final scores of one config on several envs, the same number of runs per env (stratified
    bootstrap needs a (runs, envs) matrix): the seeds every env has, else the first runs by
    seed down to the smallest count. The note says what was left out, if anything."""
    common = set.intersection(*(set(c.seeds) for c in configs)) - {None}
    picked = [[i for i, s in enumerate(c.seeds) if s in common] for c in configs]
    total = sum(len(c.runs) for c in configs)
    if common and len({len(p) for p in picked}) == 1:
        scores = [c.final_scores[p] for c, p in zip(configs, picked)]
        left_out = total - sum(len(p) for p in picked)
        note = f"{name}: the cross-env aggregate uses the {len(picked[0])} seeds every env has "
        return scores, (note + f"({_count(left_out, 'run')} left out)") if left_out else None
    smallest = min(len(c.runs) for c in configs)
    counts = ", ".join(f"{c.env_id} {len(c.runs)}" for c in configs)
    note = (
        f"{name}: runs per env differ ({counts}) and share no seeds: the cross-env aggregate "
        f"takes the first {smallest} of each by seed"
    )
    return [c.final_scores[:smallest] for c in configs], note


def cross_env_results(
    results: list[ConfigResult], reps: int, seed: int
) -> tuple[list[CrossEnvResult], list[str]]:
    """The cross-env aggregate of each config run on every env with a reference (two or more
    such envs), and notes on the configs and runs it leaves out."""
    envs = sorted({r.config.env_id for r in results if r.reference is not None})
    if len(envs) < 2:
        return [], []
    by_config: dict[tuple[bool, str], dict[str, ConfigResult]] = {}
    for result in results:
        if result.reference is not None:
            key = (result.config.baseline, result.config.label)
            by_config.setdefault(key, {})[result.config.env_id] = result
    crossed, notes = [], []
    for (baseline, label), per_env in sorted(by_config.items()):
        if len(per_env) < len(envs):
            missing = ", ".join(e for e in envs if e not in per_env)
            notes.append(f"{label} has no runs on {missing}: left out of the cross-env aggregate")
            continue
        configs = [per_env[env].config for env in envs]
        columns, note = rectangular(configs, f"{CROSS_ENV}{SEPARATOR}{label}")
        notes += [note] if note else []
        normalized = np.stack(
            [normalize(c, per_env[env].reference) for c, env in zip(columns, envs)], axis=1
        )
        final = final_stats(normalized, lambda x: x, reps, seed)
        library, runs = configs[0].library, len(normalized)
        crossed.append(CrossEnvResult(label, library, baseline, tuple(envs), runs, final))
    return crossed, notes


def alignment_notes(configs: list[ConfigRuns]) -> list[str]:
    """One line per config whose runs did not all log the same eval steps."""
    return [
        f"{c.env_id}{SEPARATOR}{c.label}: {_count(c.dropped, 'eval step')} not logged by all "
        f"{len(c.runs)} runs dropped; aligned on {c.steps.size} shared steps up to {c.final_step}"
        for c in configs
        if c.dropped
    ]


def reference_notes(configs: list[ConfigRuns]) -> list[str]:
    """One line per env without a normalization reference."""
    envs = sorted({c.env_id for c in configs} - set(REFERENCES))
    return [
        f"{env} has no reference score (analysis/statistics.py REFERENCES): no optimality gap, "
        "and it is left out of the cross-env aggregate"
        for env in envs
    ]
