"""What an arm of the results table is: the overrides it adds to an env file (the paper's
settings, levers given with `--set`), its dir name, and the settings its runs must have been
trained with. benchmarks/returns.py trains arms and tables them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RUNS = REPO / "runs" / "results"

ARMS = {  # arm -> (label in tables and figures, library, its settings' arm)
    "ours": ("ours", "ours", "ours"),
    "paper": ("ours, paper settings", "ours", "paper"),
    "sb3": ("SB3", "sb3", "ours"),
    "sb3-paper": ("SB3, paper settings", "sb3", "paper"),
}


class ResultsError(Exception):
    """Bad input: reported as one `error:` line, exit status 2."""


@dataclasses.dataclass(frozen=True)
class ArmSpec:
    """One arm to train: an env, an arm of ARMS with levers on top (Hydra overrides), seeds
    0..seeds-1 split between `jobs` processes, at a budget of env steps."""

    env: str
    arm: str
    seeds: int
    steps: int
    jobs: int = 2
    levers: tuple[str, ...] = ()

    @property
    def library(self) -> str:
        return ARMS[self.arm][1]


def compose(env: str, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """train.py's config for `env=<env>` and the overrides, as plain data (sb3_runs' composition,
    which SB3 arms train from too)."""
    from benchmarks.sb3_runs import compose_config
    from runner.errors import ConfigError

    if not (REPO / "configs" / "env" / f"{env}.yaml").exists():
        raise ResultsError(f"cannot compose env={env}: configs/env/{env}.yaml does not exist")
    try:
        return compose_config(env, list(overrides))[1]
    except ConfigError as error:
        raise ResultsError(f"cannot compose env={env}: {error}") from error


def env_budget(env: str) -> int:
    """The env file's total_steps."""
    return int(compose(env)["total_steps"])


def _override_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ",".join(_override_value(v) for v in value) + "]"
    return str(value)


def paper_overrides(env: str) -> list[str]:
    """The agent settings the env file changes, set back to the SAC paper's (agent/sac.yaml)."""
    from agents.config import SACConfig

    paper = dataclasses.asdict(SACConfig())
    agent = compose(env)["agent"]
    return [f"agent.{k}={_override_value(v)}" for k, v in paper.items() if agent.get(k) != v]


def arm_overrides(env: str, arm: str) -> list[str]:
    """What the arm adds to `env=<env>`; refuses `paper` arms that would equal `ours`."""
    if arm not in ARMS:
        raise ResultsError(f"unknown arm {arm!r}: one of {', '.join(ARMS)}")
    if ARMS[arm][2] == "ours":
        return []
    overrides = paper_overrides(env)
    if not overrides:
        raise ResultsError(
            f"configs/env/{env}.yaml keeps the paper's agent settings: arm {arm} would repeat "
            f"{arm.replace('paper', '').rstrip('-') or 'ours'}"
        )
    return overrides


# Settings a lever may not change: which env, and what says which run or how it is logged.
_NOT_A_LEVER = ("env", "hydra", "seed", "population", "total_steps", "resume")
# ...but the env's gymnasium.make arguments are levers, e.g. which quantities the observation
# holds (Ant-v5's contact forces: env.kwargs.include_cfrc_ext_in_observation=false). One that
# changes the reward (a cost weight) makes the arm's returns incomparable with the other rows';
# the arm's name, which the table shows, says what was set.
_ENV_KWARGS = "env.kwargs."


def check_levers(levers: Sequence[str]) -> list[str]:
    """`--set` values as Hydra overrides; a ResultsError for one that is not KEY=VALUE, names
    what an arm fixes otherwise, or cannot be part of a dir name. An env.kwargs key is added
    with Hydra's `++` (set whether or not the env file names it)."""
    from runner.resume import FREE_TO_CHANGE

    overrides = []
    for lever in levers:
        key, equals, value = lever.partition("=")
        if not equals or not key or not value:
            raise ResultsError(f"--set {lever!r}: expected KEY=VALUE, e.g. agent.n_step=3")
        if "/" in lever or "+" in lever:
            raise ResultsError(f"--set {lever!r}: '/' and '+' cannot be part of an arm dir's name")
        if key.startswith(_ENV_KWARGS) and len(key) > len(_ENV_KWARGS):
            overrides.append(f"++{lever}")
            continue
        if key.split(".")[0] in _NOT_A_LEVER or key.startswith(FREE_TO_CHANGE):
            raise ResultsError(
                f"--set {lever!r}: {key} is not a lever (the env, budget, seeds and logging are "
                f"the arm's own; the env's make arguments are, as {_ENV_KWARGS}KEY=VALUE)"
            )
        overrides.append(lever)
    return overrides


def arm_name(arm: str, levers: Sequence[str] = ()) -> str:
    """The arm dir's name: the arm, and its levers after '+'."""
    return "+".join([arm, *levers])


def parse_arm_name(name: str) -> tuple[str, list[str]]:
    arm, *levers = name.split("+")
    return arm, levers


def arm_dir(
    env: str, steps: int, arm: str, root: Path | None = None, levers: Sequence[str] = ()
) -> Path:
    return (root or RUNS) / env.replace("/", "-") / f"steps{steps}" / arm_name(arm, levers)


# Keys that say which run of an arm this is, not what the arm trains.
_RUN_IDENTITY = ("seed", "population")


def run_settings(config: dict[str, Any]) -> dict[str, Any]:
    """What an arm's meaning fixes: every setting of train.py's schema but the run's identity and
    those a continued run may change (runner.resume.FREE_TO_CHANGE: budget, threads, logging).
    A key added to the schema since the run trained reads as its default, which is what the
    run trained with; keys of other libraries' configs (`library:`) are not settings."""
    from omegaconf import OmegaConf

    from configs.schema import TrainConfig
    from runner.resume import FREE_TO_CHANGE, flat_config

    defaults = flat_config(OmegaConf.to_container(OmegaConf.structured(TrainConfig)))
    given = flat_config(config)
    settings = {}
    for key, default in defaults.items():
        if key.startswith((*FREE_TO_CHANGE, *_RUN_IDENTITY)):
            continue
        # a mapping (env.kwargs) flattens into its own keys when it is not empty
        inside = {k: v for k, v in given.items() if k.startswith(f"{key}.")}
        settings[key] = inside or given.get(key, default)
    for switch, value, inert in _INERT:
        if settings.get(switch) == value:
            settings[inert] = None  # never read by the run: whatever it was, it trained the same
    return settings


# (switch, its value, the setting that value makes inert): without quantile critics the number
# dropped is never read, so an env file that turns TQC on keeps its plain runs comparable.
_INERT = (("agent.critic_quantiles", 0, "agent.quantiles_dropped"),)


def setting_differences(run: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    return [f"{key}: {run[key]!r} there, {expected[key]!r} now"
            for key in sorted(expected) if run[key] != expected[key]]  # fmt: skip


def expected_settings(env: str, steps: int, arm: str, levers: Sequence[str] = ()) -> dict[str, Any]:
    overrides = [f"total_steps={steps}", *arm_overrides(env, arm), *check_levers(levers)]
    return run_settings(compose(env, overrides))
