"""Figures of the report. Panel functions take ``ax=None`` and return the Axes; figure
functions lay panels out and return the Figure. Nothing here saves a file.

Data come in as long DataFrames with the column names as arguments. Ranks are whole
numbers 1..k, so a violin is drawn from the count of pages at each rank (a Gaussian
kernel density of those counts, cut at the lowest and highest rank given): the same
shape as a kernel density of every page, at a cost that does not grow with the study.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # the report renders to files, never to a screen

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import scikit_posthocs
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy import stats as scipy_stats

#: Kernel bandwidth in rank units. Fixed rather than Scott's rule, whose bandwidth
#: shrinks with the number of pages until a large study draws spikes at each rank.
VIOLIN_BANDWIDTH = 0.35
PANEL_SIZE = (3.4, 2.6)  # inches per panel
plt.rcParams.update({"font.size": 10, "axes.titlesize": 10, "axes.labelsize": 9})
# Text stays text in SVG: smaller files, editable labels, and much faster to write.
plt.rcParams["svg.fonttype"] = "none"


def variant_colours(n: int) -> list:
    """A colour-blind-safe palette (seaborn's 'colorblind', after Okabe and Ito)."""
    return sns.color_palette("colorblind", n)


def rank_violins(
    data: pd.DataFrame,
    *,
    x: str = "label",
    rank: str = "rank",
    weight: str | None = "pages",
    order: Sequence[str] | None = None,
    ax: Axes | None = None,
    bandwidth: float = VIOLIN_BANDWIDTH,
) -> Axes:
    """Violin of ranks per variant, rank 1 on top, with median (white dot) and mean
    (black diamond). data has one row per (variant, rank) with the page count in
    ``weight``, or one row per page when weight is None."""
    ax = ax if ax is not None else plt.gca()
    order = list(order) if order is not None else list(pd.unique(data[x]))
    counts = _rank_counts(data, x=x, rank=rank, weight=weight, order=order)
    k = counts.shape[1]
    ranks = np.arange(1, k + 1)
    stats, positions = [], []
    for position, row in enumerate(counts):
        if row.sum() == 0:
            continue
        given = ranks[row > 0]
        coords = np.linspace(given.min(), given.max(), 100)
        density = (row[None, :] * scipy_stats.norm.pdf(coords[:, None], ranks, bandwidth)).sum(1)
        stats.append(
            {
                "coords": coords,
                "vals": density / row.sum(),
                "mean": float((row * ranks).sum() / row.sum()),
                "median": _median(row),
                "min": float(given.min()),
                "max": float(given.max()),
            }
        )
        positions.append(position)
    colours = variant_colours(len(order))
    if stats:
        parts = ax.violin(
            stats, positions=positions, widths=0.8, showextrema=False, showmedians=False
        )
        for body, position in zip(parts["bodies"], positions, strict=True):
            body.set_facecolor(colours[position])
            body.set_edgecolor("black")
            body.set_linewidth(0.6)
            body.set_alpha(0.85)
        ax.scatter(
            positions,
            [s["median"] for s in stats],
            marker="o",
            s=22,
            c="white",
            edgecolors="black",
            linewidths=0.8,
            zorder=3,
            label="median",
        )
        ax.scatter(
            positions,
            [s["mean"] for s in stats],
            marker="D",
            s=16,
            c="black",
            zorder=4,
            label="mean",
        )
    ax.set_xticks(range(len(order)), order, rotation=20, ha="right")
    ax.set_yticks(ranks)
    ax.set_ylim(k + 0.5, 0.5)  # rank 1 (best) on top
    ax.set_ylabel("rank (1 = best)")
    ax.grid(axis="y", alpha=0.3)
    return ax


def rank_share_bars(
    data: pd.DataFrame,
    *,
    x: str = "label",
    rank: str = "rank",
    share: str = "share",
    order: Sequence[str] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Horizontal stacked bars: for each variant, the share of pages at each rank."""
    ax = ax if ax is not None else plt.gca()
    order = list(order) if order is not None else list(pd.unique(data[x]))
    table = data.pivot_table(index=x, columns=rank, values=share, aggfunc="sum", observed=True)
    table = table.reindex(order).fillna(0.0)
    colours = sns.color_palette("cividis_r", table.shape[1])
    left = np.zeros(len(order))
    for j, r in enumerate(table.columns):
        values = table[r].to_numpy()
        ax.barh(
            range(len(order)),
            values,
            left=left,
            color=colours[j],
            edgecolor="white",
            linewidth=0.5,
            label=f"rank {r}" + (" (best)" if j == 0 else ""),
        )
        left += values
    ax.set_yticks(range(len(order)), order)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set_xlabel("share of pages")
    return ax


def preference_heatmap(
    data: pd.DataFrame,
    *,
    row: str = "label",
    column: str = "other_label",
    value: str = "share_better",
    order: Sequence[str] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Heatmap of the share of pages where the row variant was ranked better than the
    column variant, annotated in percent; 50% is white."""
    ax = ax if ax is not None else plt.gca()
    order = list(order) if order is not None else list(pd.unique(data[row]))
    matrix = data.pivot_table(index=row, columns=column, values=value, observed=True)
    matrix = matrix.reindex(index=order, columns=order)
    # Drawn with imshow: seaborn's annotated heatmap renders the whole figure once per
    # panel to pick text colours, which costs a second per panel in a 24-panel figure.
    values = matrix.to_numpy(dtype=float)
    cmap = matplotlib.colormaps["PuOr_r"]
    ax.imshow(values, cmap=cmap, vmin=0, vmax=1, aspect="equal")
    for (r, c), value in np.ndenumerate(values):
        if np.isnan(value):
            continue
        dark = abs(value - 0.5) > 0.3  # strong colours at both ends need white text
        ax.text(
            c,
            r,
            f"{value:.0%}",
            ha="center",
            va="center",
            fontsize=8,
            color="white" if dark else "black",
        )
    ax.set_xticks(range(len(order)), order, rotation=30, ha="right")
    ax.set_yticks(range(len(order)), order)
    ax.set_xlabel("ranked worse")
    ax.set_ylabel("ranked better")
    return ax


def critical_difference(
    average_ranks: pd.Series, p_values: pd.DataFrame, *, ax: Axes | None = None
) -> Axes:
    """Critical-difference diagram: average Friedman rank per variant (lower = better);
    variants joined by a bar are not told apart by the Nemenyi test (alpha 0.05), whose
    p-values come as a symmetric DataFrame indexed like average_ranks."""
    ax = ax if ax is not None else plt.gca()
    k = len(average_ranks)
    scikit_posthocs.critical_difference_diagram(
        average_ranks,
        p_values,
        ax=ax,
        color_palette=dict(zip(average_ranks.index, variant_colours(k), strict=True)),
        label_props={"fontsize": 8},
    )
    return ax


def grid(
    rows: Sequence[str],
    columns: Sequence[str],
    *,
    title: str,
    panel=PANEL_SIZE,
    sharey: bool = False,
) -> tuple[Figure, np.ndarray]:
    """An empty figure of len(rows) x len(columns) panels, with a title."""
    fig, axes = plt.subplots(
        len(rows),
        len(columns),
        figsize=(panel[0] * len(columns), panel[1] * len(rows)),
        squeeze=False,
        sharey=sharey,
        layout="constrained",
    )
    fig.suptitle(title, fontsize=12)
    return fig, axes


def label_grid(axes: np.ndarray, rows: Sequence[str], columns: Sequence[str]) -> None:
    """Title each panel with its row (country) and column (item), so no panel can be
    read as another's even when cropped out of the figure."""
    for i, row in enumerate(rows):
        for j, column in enumerate(columns):
            axes[i, j].set_title(f"{row} · {column}", fontweight="bold")


def _rank_counts(
    data: pd.DataFrame, *, x: str, rank: str, weight: str | None, order: list[str]
) -> np.ndarray:
    ranks = data[rank].to_numpy(dtype=np.int64)
    k = int(ranks.max()) if len(ranks) else 1
    k = max(k, len(order))
    position = pd.Categorical(data[x], categories=order).codes
    known = position >= 0
    weights = data[weight].to_numpy(dtype=float) if weight else np.ones(len(data))
    index = position[known] * k + ranks[known] - 1
    return np.bincount(index, weights=weights[known], minlength=len(order) * k).reshape(
        len(order), k
    )


def _median(row: np.ndarray) -> float:
    n = row.sum()
    cumulative = np.cumsum(row)
    lower = np.searchsorted(cumulative, (n - 1) / 2, side="right")
    upper = np.searchsorted(cumulative, n / 2, side="right")
    # Counts may be fractional weights; for whole counts this is numpy.median.
    return (min(lower, len(row) - 1) + min(upper, len(row) - 1)) / 2 + 1
