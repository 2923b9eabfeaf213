"""curves.png (eval return against env steps, per env) and final.png (rliable's interval
estimates of the final scores, one row per env), rendered to PNG bytes so that nothing is
written before every figure has been drawn.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping

import matplotlib

matplotlib.use("Agg")  # headless: servers and CI have no display

import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402
from rliable import plot_utils  # noqa: E402

from analysis.results import CROSS_ENV, ConfigResult, CrossEnvResult  # noqa: E402
from analysis.statistics import FinalStats  # noqa: E402

DPI = 150
# Okabe-Ito: distinguishable with the common colour-vision deficiencies and in greyscale print.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
GREYS = ("#555555", "#8a8a8a", "#b0b0b0")  # baselines: references, not contenders
METRICS = ("IQM", "Median", "Mean", "Optimality gap")
ROW_GAP = 24  # pixels of white between the rows of final.png


def colors_for(results: list[ConfigResult]) -> dict[str, str]:
    """One colour per config label across every panel and row; baselines in greys."""
    ours = list(dict.fromkeys(r.config.label for r in results if not r.config.baseline))
    baselines = list(dict.fromkeys(r.config.label for r in results if r.config.baseline))
    colors = {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(ours)}
    return colors | {label: GREYS[i % len(GREYS)] for i, label in enumerate(baselines)}


def _steps(value: float, _position: int) -> str:
    """Env steps as a reader says them: 500, 20k, 1.5M."""
    for size, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"


def _png(fig: Figure) -> bytes:
    """The figure as PNG bytes, cropped to what was drawn (labels outside the axes too)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", pad_inches=0.15)
    plt.close(fig)
    return buffer.getvalue()


def _pixels(fig: Figure) -> np.ndarray:
    """The figure as an RGBA array, cropped as in `_png`."""
    return mpimg.imread(io.BytesIO(_png(fig)), format="png")


def _encode(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    mpimg.imsave(buffer, image, format="png")
    return buffer.getvalue()


def curves_png(
    results: list[ConfigResult],
    references: Mapping[str, tuple[int, float, float, str]] | None = None,
) -> bytes:
    """IQM eval return over runs at each shared eval step with its 95% band; one panel per env,
    one line per config (baselines dashed grey), the run count of each in the legend.
    `references`: per env, a published (env steps, mean, std, source) drawn as a black
    diamond with its std, where it lies within the curves' steps."""
    colors = colors_for(results)
    envs = list(dict.fromkeys(r.config.env_id for r in results))
    ncols = min(3, len(envs))
    nrows = math.ceil(len(envs) / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(5.4 * ncols, 4.6 * nrows), squeeze=False, layout="constrained"
    )
    for ax, env in zip(axes.flat, envs):
        rows = [r for r in results if r.config.env_id == env]
        for result in rows:
            config, color = result.config, colors[result.config.label]
            ax.fill_between(config.steps, *result.band, color=color, alpha=0.2, linewidth=0)
            ax.plot(
                config.steps,
                result.curve,
                color=color,
                linestyle="--" if config.baseline else "-",
                linewidth=2,
                marker="o" if config.steps.size == 1 else None,
                label=f"{config.label} (n={len(config.runs)})",
            )
        reference = (references or {}).get(env)
        last_step = max(int(r.config.steps[-1]) for r in rows)
        if reference is not None and reference[0] <= last_step:
            steps, mean, std, source = reference
            ax.errorbar(steps, mean, yerr=std, fmt="D", color="black", capsize=4,
                        markersize=6, label=f"{source} (mean ± std)", zorder=3)  # fmt: skip
        counts = sorted({len(r.config.runs) for r in rows})
        each = f"n={counts[0]} per config" if len(counts) == 1 else "n per config in the legend"
        ax.set_title(f"{env}\nIQM over runs, 95% CI; {each}", fontsize=12)
        ax.set_xlabel("env steps", fontsize=11)
        ax.set_ylabel("eval return", fontsize=11)
        ax.xaxis.set_major_formatter(FuncFormatter(_steps))
        ax.tick_params(labelsize=10)
        ax.grid(alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False, fontsize=10)
    for ax in axes.flat[len(envs) :]:
        ax.set_visible(False)
    return _png(fig)


def _interval_row(
    title: str,
    finals: dict[str, FinalStats],
    colors: dict[str, str],
    scale: str,
) -> np.ndarray:
    """rliable's plot_interval_estimates of one env (or the cross-env aggregate): IQM, median,
    mean and the optimality gap, each with its 95% interval, one bar per config."""
    labels = list(finals)
    has_gap = all(final.gap is not None for final in finals.values())
    points, intervals = {}, {}
    for label, final in finals.items():
        estimates = [final.iqm, final.median, final.mean, final.gap or final.mean]
        points[label] = np.array([e.point for e in estimates])
        intervals[label] = np.array([[e.low for e in estimates], [e.high for e in estimates]])
    fig, axes = plot_utils.plot_interval_estimates(
        points,
        intervals,
        metric_names=METRICS,
        algorithms=labels[::-1],  # rliable draws the first at the bottom: read as the table
        colors=colors,
        xlabel="",
        subfigure_width=3.6,
        row_height=max(0.5, 1.6 / len(labels)),
        wspace=0.25,  # room between one panel's last tick label and the next panel
    )
    for ax in axes:
        ax.set_ylim(-0.8, len(labels) - 0.2)  # a lone config's bar would fill the whole row
        # A point estimate at the end of the range stays inside the axes (bars' sticky edges
        # would otherwise hold the limits at the outermost interval).
        ax.use_sticky_edges = False
        ax.margins(x=0.05)
        # rliable's default ticks crowd a narrow range (0.000 0.003 0.006 0.009) into one
        # unreadable run of digits: three ticks at most, each in its shortest form.
        ax.xaxis.set_major_locator(MaxNLocator(nbins=3, min_n_ticks=2))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    for ax in axes[:3]:
        ax.set_xlabel(scale, fontsize="x-large")
    gap = axes[3]
    if has_gap:
        gap.set_xlabel("normalized score", fontsize="x-large")
    else:  # no reference score: nothing to measure the gap against
        gap.cla()
        gap.set_axis_off()
        gap.set_title(METRICS[3], fontsize="xx-large")
        gap.text(0.5, 0.5, "no reference score", ha="center", va="center", fontsize="x-large")
    height = fig.get_figheight()
    # Above the metric titles, which sit just over the axes (top at 0.88 of the figure).
    fig.suptitle(title, y=0.88 + 0.5 / height, va="bottom", fontsize="xx-large")
    return _pixels(fig)


def final_png(results: list[ConfigResult], crossed: list[CrossEnvResult]) -> bytes:
    """One row of interval estimates per env, then the cross-env row when there is one, stacked
    with their axes right-aligned (label widths differ from row to row)."""
    colors = colors_for(results)
    rows = []
    for env in dict.fromkeys(r.config.env_id for r in results):
        finals = {r.config.label: r.final for r in results if r.config.env_id == env}
        rows.append(_interval_row(f"{env}: final eval return", finals, colors, "return"))
    if crossed:
        finals = {c.label: c.final for c in crossed}
        envs = ", ".join(crossed[0].envs)
        title = f"{CROSS_ENV}: {envs}"
        rows.append(_interval_row(title, finals, colors, "normalized score"))
    width = max(row.shape[1] for row in rows)
    blank = np.ones((ROW_GAP, width, 4), dtype=rows[0].dtype)
    stacked = []
    for row in rows:
        pad = np.ones((row.shape[0], width - row.shape[1], 4), dtype=row.dtype)
        stacked += [np.concatenate([pad, row], axis=1), blank]
    return _encode(np.concatenate(stacked[:-1], axis=0))
