"""The report's four figures, each one panel per survey item (columns) and one row per
country plus the pooled row, built from the report's tables."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from analysis import plots


def violin_figure(
    shares: pd.DataFrame, *, scopes: list[str], items: list[str], labels: list[str], study: str
) -> Figure:
    """Violins of ranks per variant, as in the paper's figure."""
    fig, axes = plots.grid(
        scopes,
        items,
        title=f"{study}: ranks per variant (1 = best; white dot = median, black diamond = mean)",
    )
    for r, scope in enumerate(scopes):
        for c, item in enumerate(items):
            panel = shares[(shares["scope"] == scope) & (shares["item"] == item)]
            plots.rank_violins(panel, order=labels, ax=axes[r, c])
            if c:
                axes[r, c].set_ylabel("")
            if r < len(scopes) - 1:
                axes[r, c].set_xticklabels([])
    plots.label_grid(axes, scopes, items)
    return fig


def share_figure(
    shares: pd.DataFrame, *, scopes: list[str], items: list[str], labels: list[str], study: str
) -> Figure:
    """Stacked bars of the share of pages at each rank."""
    fig, axes = plots.grid(scopes, items, title=f"{study}: share of pages at each rank")
    for r, scope in enumerate(scopes):
        for c, item in enumerate(items):
            panel = shares[(shares["scope"] == scope) & (shares["item"] == item)]
            plots.rank_share_bars(panel, order=labels, ax=axes[r, c])
            if c:
                axes[r, c].set_yticklabels([])
    handles, names = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncols=len(names), frameon=False)
    plots.label_grid(axes, scopes, items)
    return fig


def preference_figure(
    pairs: pd.DataFrame, *, scopes: list[str], items: list[str], labels: list[str], study: str
) -> Figure:
    """Pairwise preference heatmaps."""
    fig, axes = plots.grid(
        scopes,
        items,
        panel=(3.6, 3.2),
        title=f"{study}: share of pages where the row variant was "
        "ranked better than the column variant",
    )
    for r, scope in enumerate(scopes):
        for c, item in enumerate(items):
            panel = pairs[(pairs["scope"] == scope) & (pairs["item"] == item)]
            plots.preference_heatmap(panel, order=labels, ax=axes[r, c])
            if c:
                axes[r, c].set_ylabel("")
                axes[r, c].set_yticklabels([])
            if r < len(scopes) - 1:
                axes[r, c].set_xlabel("")
                axes[r, c].set_xticklabels([])
    plots.label_grid(axes, scopes, items)
    return fig


def critical_difference_figure(
    cd_ranks: pd.DataFrame,
    nemenyi: pd.DataFrame,
    friedman: pd.DataFrame,
    *,
    scopes: list[str],
    items: list[str],
    study: str,
) -> Figure:
    """Critical-difference diagrams from the Friedman ranks and Nemenyi p-values."""
    fig, axes = plots.grid(
        scopes,
        items,
        panel=(4.4, 2.2),
        title=f"{study}: average rank over participants (lower = better); "
        "a bar joins variants the Nemenyi test does not separate (α = 0.05)",
    )
    for r, scope in enumerate(scopes):
        for c, item in enumerate(items):
            ax = axes[r, c]
            at = (cd_ranks["scope"] == scope) & (cd_ranks["item"] == item)
            ranks = cd_ranks[at].set_index("label")["average_rank"]
            n = int(
                friedman[(friedman["scope"] == scope) & (friedman["item"] == item)][
                    "participants"
                ].iloc[0]
            )
            if n < 2 or ranks.isna().any():
                ax.set_axis_off()
                ax.text(
                    0.5, 0.5, "fewer than two participants", ha="center", transform=ax.transAxes
                )
                continue
            pairs = nemenyi[(nemenyi["scope"] == scope) & (nemenyi["item"] == item)]
            plots.critical_difference(ranks, _square(pairs, cd_ranks[at]), ax=ax)
    plots.label_grid(axes, scopes, items)
    return fig


def _square(pairs: pd.DataFrame, ranks: pd.DataFrame) -> pd.DataFrame:
    """Symmetric p-value matrix indexed by label, from the upper-triangle pairs table."""
    label = dict(zip(ranks["variant"], ranks["label"], strict=True))
    names = list(ranks["label"])
    matrix = pd.DataFrame(1.0, index=names, columns=names)
    for a, b, p in zip(pairs["variant"], pairs["other"], pairs["p"], strict=True):
        matrix.loc[label[a], label[b]] = matrix.loc[label[b], label[a]] = p
    return matrix
