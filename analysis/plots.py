"""Panels of the report's figures. Each function takes ``ax=None``, draws one panel and
returns the Axes; :mod:`analysis.figures` lays panels out. Nothing here saves a file.

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
import seaborn as sns
from matplotlib.axes import Axes
from scipy import stats as scipy_stats

#: Kernel bandwidth in rank units. Fixed rather than Scott's rule, whose bandwidth
#: shrinks with the number of pages until a large study draws spikes at each rank.
VIOLIN_BANDWIDTH = 0.35
#: Print sizes: 7 pt text is the smallest a journal accepts at column width.
plt.rcParams.update(
    {
        "font.size": 7,
        "axes.titlesize": 7,
        "axes.labelsize": 7,
        "xtick.labelsize": 6.5,
        "ytick.labelsize": 6.5,
        "legend.fontsize": 6.5,
        "figure.titlesize": 8,
        "axes.linewidth": 0.6,
        "pdf.fonttype": 42,  # TrueType in PDF: editable text a journal's checker accepts
    }
)
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
    rotation: float = 20,
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
            s=12,
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
            s=8,
            c="black",
            zorder=4,
            label="mean",
        )
    ax.set_xticks(
        range(len(order)), order, rotation=rotation, ha="right" if rotation < 90 else "center"
    )
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
    average_ranks: pd.Series,
    p_values: pd.DataFrame,
    *,
    cd: float | None = None,
    limits: tuple[float, float] | None = None,
    ax: Axes | None = None,
    alpha: float = 0.05,
) -> Axes:
    """Critical-difference diagram: average Friedman rank per variant (lower = better)
    on one axis, one row per variant, best on top.

    With cd (Nemenyi's critical difference) each variant gets a bar of +-cd/2: two
    variants whose bars do not overlap differ significantly, and a ruler of length cd
    is drawn above. A grey bracket at the right joins variants the Nemenyi p-values
    (a symmetric DataFrame indexed like average_ranks) do not separate at alpha.
    limits fixes the axis (e.g. (1, k)) so panels of one figure compare.
    """
    ax = ax if ax is not None else plt.gca()
    ordered = average_ranks.sort_values()
    k = len(ordered)
    low, high = limits if limits is not None else (1, max(k, 2))
    colours = dict(zip(average_ranks.index, variant_colours(k), strict=True))
    rows = np.arange(k)
    if cd is not None and np.isfinite(cd):
        ax.hlines(rows, ordered - cd / 2, ordered + cd / 2, color="0.75", linewidth=2.5, zorder=1)
        ax.plot([low, low + cd], [-1.0, -1.0], color="black", linewidth=1, marker="|")
        ax.text(low + cd + 0.05, -1.0, f"CD = {cd:.2f}", ha="left", va="center", fontsize=6.5)
    ax.scatter(ordered, rows, c=[colours[v] for v in ordered.index], s=18, zorder=3)
    trans = matplotlib.transforms.blended_transform_factory(ax.transAxes, ax.transData)
    for row, (name, rank) in enumerate(ordered.items()):
        ax.text(-0.03, row, f"{name} ({rank:.2f})", transform=trans, ha="right", va="center")
    for depth, (first, last) in enumerate(_cliques(ordered, p_values, alpha)):
        x = 1.02 + 0.025 * depth
        ax.plot([x, x], [first, last], transform=trans, color="0.4", linewidth=2, clip_on=False)
    ax.set_xlim(low - 0.1, high + 0.1)
    ax.set_ylim(k - 0.5, -1.5)
    ax.set_yticks([])
    ax.set_xticks(np.arange(np.ceil(low), np.floor(high) + 1))
    ax.set_xlabel("average rank (1 = best)")
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    return ax


def _cliques(ordered: pd.Series, p_values: pd.DataFrame, alpha: float) -> list[tuple[int, int]]:
    """Maximal runs of rank-ordered variants with no pair told apart (p >= alpha)."""
    names = list(ordered.index)
    runs: list[tuple[int, int]] = []
    for first in range(len(names)):
        last = first
        while last + 1 < len(names) and all(
            p_values.loc[names[a], names[last + 1]] >= alpha for a in range(first, last + 1)
        ):
            last += 1
        if last > first and not any(a <= first and last <= b for a, b in runs):
            runs.append((first, last))
    return runs


def interval_dots(
    data: pd.DataFrame,
    *,
    y: str,
    x: str,
    low: str,
    high: str,
    group: str,
    order: Sequence[str],
    groups: Sequence[str],
    emphasis: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Dots with interval lines: one band per y value (in order), one dot per group
    inside it (dodged, coloured by group), the emphasis group drawn larger in black.
    Used for mean ranks and preference shares, with the countries as groups."""
    ax = ax if ax is not None else plt.gca()
    groups = list(groups)
    palette = dict(zip(groups, country_colours(len(groups)), strict=True))
    if emphasis is not None:
        palette[emphasis] = (0, 0, 0)
    offsets = np.linspace(-0.32, 0.32, len(groups)) if len(groups) > 1 else np.zeros(1)
    place = {name: i for i, name in enumerate(order)}
    for offset, name in zip(offsets, groups, strict=True):
        mine = data[data[group] == name]
        ys = np.array([place[v] for v in mine[y]], dtype=float) + offset
        big = name == emphasis
        ax.hlines(ys, mine[low], mine[high], color=palette[name], linewidth=1.4 if big else 0.8)
        ax.scatter(mine[x], ys, color=[palette[name]], s=14 if big else 6, zorder=3, label=name)
    ax.set_yticks(range(len(order)), order)
    ax.set_ylim(len(order) - 0.5, -0.5)
    ax.grid(axis="x", alpha=0.3)
    return ax


def country_colours(n: int) -> list:
    """Distinct colours for up to 18 countries (tab10, then Dark2), husl beyond."""
    base = sns.color_palette("tab10", 10) + sns.color_palette("Dark2", 8)
    return base[:n] if n <= len(base) else sns.color_palette("husl", n)


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
