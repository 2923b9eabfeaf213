"""The arms behind the results page, as a plan file: one line per arm, the arguments of
`returns.py train` (benchmarks/results_plan.txt). `returns.py plan` trains them in the file's
order, skipping finished arms and continuing interrupted ones, so one command (re)makes every
row of docs/results.md; `--list` says where each arm stands without training anything.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from benchmarks.arms import ARMS, ArmSpec, ResultsError, env_budget

PLAN = Path(__file__).with_name("results_plan.txt")


def add_arm_arguments(parser: argparse.ArgumentParser) -> None:
    """What names one arm and how it trains: `returns.py train`'s arguments and a plan line's."""
    parser.add_argument("env", help="a config of configs/env/, e.g. Hopper-v5")
    parser.add_argument("--arm", default="ours", choices=list(ARMS))
    parser.add_argument("--seeds", type=int, default=6, help="seeds 0..N-1 (6)")
    parser.add_argument("--steps", type=int, help="budget (default: the env file's)")
    parser.add_argument("--jobs", type=int, default=2, help="processes at once (2)")
    parser.add_argument(
        "--set", dest="levers", action="append", default=[], metavar="KEY=VALUE",
        help="a lever on top of the arm (repeatable), e.g. agent.n_step=3, or an argument "
        "of the env's gymnasium.make as env.kwargs.KEY=VALUE",
    )  # fmt: skip


class _LineParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # an exception, not exit(2) with usage text
        raise ResultsError(message)


def read_plan(path: Path = PLAN) -> list[tuple[int, ArmSpec]]:
    """Every arm of the plan file with its line number (from 1), its budget the env file's where
    the line gives none; blank lines and '#' comments are skipped. A bad line raises
    ResultsError naming it, before anything trains."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ResultsError(f"cannot read the plan {path}: {error.strerror}") from None
    parser = _LineParser(prog="plan line", add_help=False)
    add_arm_arguments(parser)
    planned = []
    for number, line in enumerate(text.splitlines(), start=1):
        words = shlex.split(line, comments=True)
        if not words:
            continue
        try:
            planned.append((number, arm_spec(parser.parse_args(words))))
        except ResultsError as error:
            raise ResultsError(f"{path.name}:{number}: {error}") from None
    if not planned:
        raise ResultsError(f"the plan {path} names no arm")
    return planned


def arm_spec(args: argparse.Namespace) -> ArmSpec:
    """The arm that `add_arm_arguments`' parsed arguments name."""
    steps = args.steps or env_budget(args.env)
    return ArmSpec(args.env, args.arm, args.seeds, steps, args.jobs, tuple(args.levers))
