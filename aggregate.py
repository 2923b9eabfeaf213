"""Turn many training runs into learning curves and a results table with rliable:

    python aggregate.py runs/multirun/2026-12-06_12-00-00
    python aggregate.py runs/multirun/A runs/multirun/B --by env,agent.actor_lr --out results/lr
    python aggregate.py runs/multirun/A --baseline runs/sb3 --reps 2000 --seed 0

Each given dir is searched for run dirs (any dir holding a metrics.jsonl; a given dir may be one
run). Runs are grouped per env and per config (the --by keys of their saved config, and their
library); runs given with --baseline are drawn as reference lines. Only local files are read,
never W&B. Writes curves.png, final.png, results.md and results.csv into --out (default:
<dir>/aggregate for one dir, ./aggregate for several) and prints the table. Bad input stops with
one `error: ...` line and exit status 2, before anything is written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analysis import AggregateError
from analysis.report import build_report, check_out_dir, default_out_dir, write_report


class Parser(argparse.ArgumentParser):
    """argparse, with a usage mistake reported as the project's one `error:` line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"error: {message} (see python aggregate.py --help)", file=sys.stderr)
        sys.exit(2)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = Parser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("dirs", nargs="+", type=Path, help="sweep dirs or run dirs to read")
    parser.add_argument(
        "--by",
        default="env",
        help="comma-separated config keys that make a config, dotted for nested keys "
        "(env is env.id, always split): env,agent.actor_lr (default: env)",
    )
    parser.add_argument(
        "--baseline",
        nargs="+",
        action="extend",
        type=Path,
        default=[],
        metavar="DIR",
        help="dirs of reference runs (e.g. another library's), drawn as baselines; "
        "give them after the dirs to read",
    )
    parser.add_argument("--out", type=Path, help="output dir (default: see above)")
    parser.add_argument("--reps", type=int, default=2000, help="bootstrap resamples (2000)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed, for repeatability")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out_dir = args.out or default_out_dir(args.dirs)
    try:
        check_out_dir(out_dir)
        report = build_report(args.dirs, args.baseline, args.by, args.reps, args.seed)
        for note in report.notes:
            print(f"note: {note}", file=sys.stderr)
        written = write_report(report, out_dir)
    except (AggregateError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(report.table)
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
