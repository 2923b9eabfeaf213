"""Which runs belong together (one env, one config) and the eval steps they all share.

A config is what the --by keys (other than the env, which always splits) say about a run, plus
its library: `agent.actor_lr=0.001`, `SB3 · agent.actor_lr=0.001`, or just `ours` / `SB3`.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from functools import reduce
from typing import Any

import numpy as np

from analysis import AggregateError
from analysis.runs import OUR_LIBRARY, RunLog

ENV_KEYS = ("env", "env.id")  # one panel and one table block per env in any case
MISSING = "n/a"  # a --by key a run's config lacks (a baseline library may not have it)
SEPARATOR = " · "
# How a baseline's `library:` key reads in labels; other names show as written.
LIBRARY_NAMES = {"stable-baselines3": "SB3", "stable_baselines3": "SB3", "sb3": "SB3"}


@dataclass(frozen=True)
class ConfigRuns:
    """The runs of one config on one env, aligned on the eval steps they all logged."""

    env_id: str
    label: str
    library: str
    baseline: bool
    runs: tuple[RunLog, ...]  # sorted by seed, then path
    steps: np.ndarray  # (S,) eval steps every run logged, ascending
    returns: np.ndarray  # (n, S) eval return of run i at steps[j]
    dropped: int  # eval steps some run lacked, left out

    @property
    def final_step(self) -> int:
        return int(self.steps[-1])

    @property
    def final_scores(self) -> np.ndarray:
        """(n,) each run's return at the last step all of them reached."""
        return self.returns[:, -1]

    @property
    def unfinished(self) -> int:
        return sum(not run.finished for run in self.runs)

    @property
    def seeds(self) -> list[int | None]:
        return [run.seed for run in self.runs]


def parse_by(text: str) -> list[str]:
    """`env,agent.actor_lr` -> ["agent.actor_lr"]: the keys that split an env's runs."""
    keys = [key.strip() for key in text.split(",") if key.strip()]
    return list(dict.fromkeys(key for key in keys if key not in ENV_KEYS))


def config_value(config: dict[str, Any], key: str) -> tuple[bool, Any]:
    """(found, value) of a dotted key in a nested config: `agent.actor_lr`."""
    node: Any = config
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def leaf_keys(config: dict[str, Any], prefix: str = "") -> list[str]:
    """Every dotted key of a nested config that holds a value: what --by can name."""
    keys = []
    for name, value in config.items():
        key = f"{prefix}{name}"
        keys += leaf_keys(value, f"{key}.") if isinstance(value, dict) and value else [key]
    return keys


def check_by_keys(keys: list[str], runs: list[RunLog]) -> None:
    """A --by key no run's config has is a typo, not a config of its own: refused, naming the
    closest keys that do exist."""
    for key in keys:
        if any(config_value(run.config, key)[0] for run in runs):
            continue
        known = sorted({k for run in runs for k in leaf_keys(run.config)})
        if not known:
            raise AggregateError(f"unknown --by key {key!r}: no run has a saved config")
        close = difflib.get_close_matches(key, known, n=5, cutoff=0.5)
        shown = close + [k for k in known if k not in close][: 6 - len(close)]
        raise AggregateError(
            f"unknown --by key {key!r}: no run's config has it; keys that exist include "
            f"{', '.join(shown)}"
        )


def format_value(value: Any) -> str:
    """Config values as they read on a command line: 0.001, true, [256, 256]."""
    return value if isinstance(value, str) else json.dumps(value, default=str)  # YAML dates


def config_label(run: RunLog, keys: list[str]) -> str:
    """`agent.actor_lr=0.001`, prefixed by the library for other libraries' runs (and by
    `baseline` for our own baseline runs); `ours` or the library alone with no --by key."""
    parts = []
    for key in keys:
        found, value = config_value(run.config, key)
        parts.append(f"{key}={format_value(value) if found else MISSING}")
    library = LIBRARY_NAMES.get(run.library, run.library)
    if run.library != OUR_LIBRARY:
        prefix = library
    else:
        prefix = "baseline" if run.baseline else ("" if parts else OUR_LIBRARY)
    return SEPARATOR.join(p for p in [prefix, ", ".join(parts)] if p)


def align(env_id: str, label: str, runs: list[RunLog]) -> ConfigRuns:
    """Runs of one config on the eval steps all of them logged: unfinished runs and other eval
    schedules still count, with the steps only some of them have left out."""
    runs = sorted(runs, key=lambda r: (r.seed is None, r.seed or 0, str(r.path)))
    shared = reduce(np.intersect1d, [run.steps for run in runs])
    if shared.size == 0:
        raise AggregateError(
            f"the {len(runs)} runs of {env_id}{SEPARATOR}{label} share no eval step "
            f"(first {runs[0].path}, steps {runs[0].steps[0]}..{runs[0].steps[-1]})"
        )
    every = reduce(np.union1d, [run.steps for run in runs])
    returns = np.stack([run.returns[np.isin(run.steps, shared)] for run in runs])
    first = runs[0]
    return ConfigRuns(
        env_id=env_id,
        label=label,
        library=LIBRARY_NAMES.get(first.library, first.library),
        baseline=first.baseline,
        runs=tuple(runs),
        steps=shared,
        returns=returns,
        dropped=int(every.size - shared.size),
    )


def group_runs(runs: list[RunLog], keys: list[str]) -> list[ConfigRuns]:
    """One ConfigRuns per env and config: envs sorted, then ours before the baselines, each by
    label. A baseline label that an ordinary config also has gets ` (baseline)`."""
    check_by_keys(keys, runs)
    groups: dict[tuple[str, bool, str], list[RunLog]] = {}
    for run in runs:
        groups.setdefault((run.env_id, run.baseline, config_label(run, keys)), []).append(run)
    configs = []
    for env_id, baseline, label in sorted(groups):
        clash = baseline and (env_id, False, label) in groups
        shown = f"{label} (baseline)" if clash else label
        configs.append(align(env_id, shown, groups[env_id, baseline, label]))
    return configs
