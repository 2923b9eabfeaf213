"""results.md (for reading and pasting) and results.csv (for pandas and spreadsheets): one row
per env and config, then the cross-env rows, the same numbers in both."""

from __future__ import annotations

import csv
import io
from typing import Any

from analysis.results import CROSS_ENV, ConfigResult, CrossEnvResult
from analysis.statistics import METHOD, REFERENCES, Interval

COLUMNS = (
    "env", "library", "config", "baseline", "runs", "seeds", "unfinished", "final_step",
    "iqm", "iqm_low", "iqm_high", "mean", "std", "median", "median_low", "median_high",
    "optimality_gap", "optimality_gap_low", "optimality_gap_high", "scale",
)  # fmt: skip
HEADINGS = (
    "env", "library", "config", "runs (seeds)", "unfinished", "final step", "IQM [95% CI]",
    "mean ± std", "median [95% CI]", "optimality gap [95% CI]",
)  # fmt: skip
DASH = "—"


def seed_ranges(seeds: list[int | None]) -> str:
    """[0, 1, 2, 3, 7] -> "0–3, 7"; a run without a seed shows as "?". A seed that several
    runs share (the same config from two sweeps) is said once, with a note that seeds repeat."""
    known = [s for s in seeds if s is not None]
    unique = sorted(set(known))
    parts: list[str] = []
    start = previous = None
    for seed in [*unique, None]:
        if seed is not None and previous is not None and seed == previous + 1:
            previous = seed
            continue
        if start is not None:
            parts.append(str(start) if start == previous else f"{start}–{previous}")
        start = previous = seed
    text = ", ".join(parts + ["?"] * (len(seeds) - len(known)))
    return f"{text}; seeds repeat" if len(unique) < len(known) else text


def records(results: list[ConfigResult], crossed: list[CrossEnvResult]) -> list[dict[str, Any]]:
    """Every row as plain values: the CSV's rows, and what the Markdown table formats."""
    rows = []
    for result in results:
        config = result.config
        rows.append(
            {
                "env": config.env_id,
                "library": config.library,
                "config": config.label,
                "baseline": config.baseline,
                "runs": len(config.runs),
                "seeds": " ".join("?" if s is None else str(s) for s in config.seeds),
                "unfinished": config.unfinished,
                "final_step": config.final_step,
                **_estimates(result.final.iqm, result.final.median, result.final.gap),
                "mean": result.final.mean.point,
                "std": result.final.std,
                "scale": "return",
            }
        )
    for cross in crossed:
        rows.append(
            {
                "env": CROSS_ENV,
                "library": cross.library,
                "config": cross.label,
                "baseline": cross.baseline,
                "runs": cross.runs,
                "seeds": None,
                "unfinished": None,
                "final_step": None,
                **_estimates(cross.final.iqm, cross.final.median, cross.final.gap),
                "mean": cross.final.mean.point,
                "std": None,
                "scale": "normalized",
            }
        )
    return rows


def _estimates(iqm: Interval, median: Interval, gap: Interval | None) -> dict[str, float | None]:
    values: dict[str, float | None] = {}
    for name, estimate in (("iqm", iqm), ("median", median), ("optimality_gap", gap)):
        values[name] = estimate.point if estimate else None
        values[f"{name}_low"] = estimate.low if estimate else None
        values[f"{name}_high"] = estimate.high if estimate else None
    return values


def csv_text(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: "" if row[k] is None else row[k] for k in COLUMNS} for row in rows)
    return buffer.getvalue()


def _cells(row: dict[str, Any], results: dict[tuple[str, str], ConfigResult]) -> list[str]:
    digits = 1 if row["scale"] == "return" else 3

    def interval(name: str, places: int) -> str:
        point, low, high = row[name], row[f"{name}_low"], row[f"{name}_high"]
        if point is None:
            return DASH
        return f"{point:.{places}f} [{low:.{places}f}, {high:.{places}f}]"

    std = "" if row["std"] is None else f" ± {row['std']:.{digits}f}"
    result = results.get((row["env"], row["config"]))
    seeds = f" ({seed_ranges(list(result.config.seeds))})" if result else ""
    final_step = DASH if row["final_step"] is None else f"{row['final_step']:,}"
    unfinished = DASH if row["unfinished"] is None else str(row["unfinished"])
    library = row["library"] + (" (baseline)" if row["baseline"] else "")
    return [
        row["env"], library, row["config"].replace("|", "\\|"), f"{row['runs']}{seeds}",
        unfinished, final_step, interval("iqm", digits), f"{row['mean']:.{digits}f}{std}",
        interval("median", digits), interval("optimality_gap", 3),
    ]  # fmt: skip


def markdown_table(results: list[ConfigResult], crossed: list[CrossEnvResult]) -> str:
    by_key = {(r.config.env_id, r.config.label): r for r in results}
    lines = ["| " + " | ".join(HEADINGS) + " |", "|" + "---|" * len(HEADINGS)]
    for row in records(results, crossed):
        lines.append("| " + " | ".join(_cells(row, by_key)) + " |")
    return "\n".join(lines) + "\n"


def markdown(
    results: list[ConfigResult], crossed: list[CrossEnvResult], read: str, notes: list[str]
) -> str:
    """results.md: what was read and how intervals were made, the table, the normalization
    references of the envs shown, and the notes (steps dropped, runs left out)."""
    envs = sorted({r.config.env_id for r in results} & set(REFERENCES))
    references = [
        f"- {env}: random {REFERENCES[env].random:g}, reference {REFERENCES[env].reference:g} "
        f"({REFERENCES[env].source})"
        for env in envs
    ]
    parts = [read, "", markdown_table(results, crossed)]
    if references:
        parts += [
            "Normalized score = (return − random) / (reference − random); optimality gap = "
            "mean over runs of max(0, 1 − normalized score) (rliable, γ = 1), lower is better. "
            f"Intervals: {METHOD} bootstrap. References:",
            "",
            *references,
            "",
        ]
    if notes:
        parts += ["Notes:", "", *(f"- {note}" for note in notes), ""]
    return "\n".join(parts)
