"""Published SAC figures per env, with their sources: the results table's reference column.

Metrics differ between sources (one agent vs seeds, final vs best return) and env versions too:
the figures are for orientation, and each names its budget so that a row can say how much of
it it trained.
"""

from __future__ import annotations

import re
from typing import NamedTuple

# Where the published figures come from (repository @ commit, file).
SOURCES = {
    "zoo": "rl-baselines3-zoo benchmark.md @0088472: one agent, deterministic eval",
    "cleanrl": "CleanRL docs/rl-algorithms/sac.md @08d1c01: training return",
    "tianshou-max": "Tianshou examples/mujoco/README.md @0c0424e: best within 1M, 10 seeds",
    "tianshou-100k": "Tianshou examples/mujoco/benchmark/<env>-v3/sac/test_rew_10seeds.csv "
    "@39acf20: mean ± std of 10 seeds. Its env_step starts after the 10k random warm-up steps "
    "(tianshou/trainer/offpolicy.py counts from 0 once training starts), so its row 90k is "
    "100k env steps and 90k updates, as ours at 100k, and its row 100k is 110k env steps; its "
    "mujoco_sac.py (@fc251ab) trains actor and critics at lr 1e-3 with alpha fixed at 0.2",
    "tdmpc2": "nicklashansen/tdmpc2 results/sac/<task>.csv @add30b5/@88095e7: SAC from "
    "state, 3 seeds, mean ± std computed here",
}
# Published SAC figures: (figure with its budget and env version, source). Metrics differ between
# sources (one agent vs seeds, final vs best) and env versions too: orientation, not a contest.
REFERENCES = {
    "Pendulum-v1": ("−157.0 ± 88.7 at 20k", "zoo"),
    "MountainCarContinuous-v0": ("94.7 ± 1.1 at 50k, with gSDE", "zoo"),
    "LunarLanderContinuous-v3": ("260.4 ± 65.5 at 500k, v2", "zoo"),
    "BipedalWalker-v3": ("297.7 ± 33.1 at 500k", "zoo"),
    "InvertedPendulum-v5": ("909.4 ± 55.7 at 1M, v4 (1000 is the maximum)", "cleanrl"),
    "InvertedDoublePendulum-v5": ("9359.5 ± 0.4 within 1M, v2", "tianshou-max"),
    "Reacher-v5": ("−2.6 ± 0.2 within 1M, v2", "tianshou-max"),
    "HalfCheetah-v5": ("6212.8 ± 437.2 at 100k (6514.6 ± 514.2 at 110k), v3", "tianshou-100k"),
    "Hopper-v5": ("1765.9 ± 1035.9 at 100k (2613.5 ± 990.8 at 110k), v3", "tianshou-100k"),
    "Walker2d-v5": ("843.5 ± 707.1 at 100k (1305.2 ± 795.1 at 110k), v3", "tianshou-100k"),
    "Ant-v5": ("901.2 ± 295.8 at 100k (1019.8 ± 449.9 at 110k), v3", "tianshou-100k"),
    "Humanoid-v5": ("6232.3 ± 279.9 at 2M, v3", "zoo"),
    "dm_control/cheetah-run-v0": ("310.1 ± 53.3 at 100k", "tdmpc2"),
    "dm_control/walker-walk-v0": ("708.2 ± 166.8 at 100k", "tdmpc2"),
    "dm_control/quadruped-run-v0": ("50.5 ± 12.4 at 100k", "tdmpc2"),
    "dm_control/humanoid-walk-v0": ("2.0 ± 0.4 at 1M", "tdmpc2"),
}


def reference_budget(figure: str) -> int | None:
    """The env steps a published figure was reached in: "… at 500k, v2" -> 500000."""
    match = re.search(r"(?:at|within) ([\d.]+)([kM])", figure)
    if match is None:
        return None
    return round(float(match.group(1)) * {"k": 1e3, "M": 1e6}[match.group(2)])


class ReferencePoint(NamedTuple):
    """A published figure as a point of a learning curve: mean ± std at env steps."""

    steps: int
    mean: float
    std: float
    source: str


def reference_point(env: str) -> ReferencePoint | None:
    """The env's published figure when it is a mean ± std at a stated budget ("at 100k");
    None for a best-within figure or an env without one."""
    if env not in REFERENCES:
        return None
    figure, source = REFERENCES[env]
    number = r"([−-]?[\d.]+)"
    match = re.match(rf"{number} ± {number} at ([\d.]+)([kM])", figure)
    if match is None:
        return None
    mean, std, budget, unit = match.groups()
    steps = round(float(budget) * {"k": 1e3, "M": 1e6}[unit])
    return ReferencePoint(steps, float(mean.replace("−", "-")), float(std), source)


def reference_cell(env: str, steps: int) -> str:
    """The published figure, and how far below its budget ours stopped (when it did)."""
    if env not in REFERENCES:
        return "—"
    figure, source = REFERENCES[env]
    cell = f"{figure} [{source}]"
    budget = reference_budget(figure)
    if budget is not None and steps < budget:
        cell += f"; this row trained {steps / budget:.0%} of that budget"
    return cell
