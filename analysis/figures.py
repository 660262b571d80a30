"""The report's figures, each drawn at two-column (6.9 in) and one-column (3.3 in) width.

A figure function takes the :class:`FigureData` of a report and a width in inches and
returns the Figure; nothing here saves a file (the report does). Panels come from
:mod:`analysis.plots`. Every panel states its n (participants, pages); panels of one
figure share their axis ranges so they can be compared; text is 6.5-8 pt at print size.

Layout: grids of one panel per country and question wrap the questions into as many
columns as the width holds. They show each country at two-column width while the
panels number at most MAX_PANELS (the published study's 5 countries and 4 questions
give 24), else all countries pooled, as always at one-column width; the overlay
figures (mean rank, preference), the CSV tables and the two-column figures of a
smaller study carry the per-country detail. Figures of one panel per question overlay
the countries in each panel.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

from analysis import plots
from analysis.bootstrap import POOLED as POOLED_SCOPE

WIDE = 6.9
NARROW = 3.3
#: The one-column version of figure NAME is saved as NAME-column.*.
NARROW_SUFFIX = "-column"
WIDTHS = {"": WIDE, NARROW_SUFFIX: NARROW}
#: Most panels of a country x question grid; beyond it the grid shows the pooled row.
MAX_PANELS = 30

FIGURES = {
    "rank_shares": "Share of pages giving each variant each rank (1 = best), per country "
    "and question.",
    "mean_rank": "Mean rank with its 95% participant-bootstrap interval: all countries "
    "(black) and each country (colours); n is all countries'.",
    "preference": "Share of pages where each variant was ranked better than the headline's "
    "baseline, with 95% intervals: all countries (black) and each country (colours).",
    "critical_difference": "Critical-difference diagrams: Friedman average ranks on one "
    "axis; bars of ±CD/2 that do not overlap differ (Nemenyi, α = 0.05); a grey bracket "
    "joins variants the test does not separate.",
    "violins": "Ranks per variant as violins (as in the published figure; the ranks are "
    "whole numbers, so the shape between them is smoothing).",
}


@dataclass(frozen=True)
class FigureData:
    """What the figures need from an analysis: small tables and names, no rankings."""

    study: str
    scopes: list[str]  # country codes, then the pooled scope
    scope_names: dict[str, str]
    items: list[str]
    variants: list[str]
    labels: list[str]
    baseline: str  # the headline's baseline variant key
    rank_shares: pd.DataFrame
    rank_summary: pd.DataFrame
    pairwise_preference: pd.DataFrame
    cd_ranks: pd.DataFrame
    nemenyi: pd.DataFrame
    friedman: pd.DataFrame

    def name(self, scope: str) -> str:
        return self.scope_names.get(scope, scope)

    def n_text(self, scope: str, item: str) -> str:
        at = self.rank_summary[
            (self.rank_summary["scope"] == scope) & (self.rank_summary["item"] == item)
        ]
        if at.empty:
            return "n = 0"
        participants, pages = int(at["participants"].iloc[0]), int(at["pages"].iloc[0])
        return f"{participants:,} participants, {pages:,} pages"


def _label_width(labels: list[str]) -> float:
    """Inches that the longest variant label takes as a tick label (6.5 pt)."""
    return 0.15 + 0.052 * max(len(label) for label in labels)


def _columns(width: float, panels: int, min_panel: float, label_width: float) -> int:
    """Panel columns that fit (the first column also holds the variant labels), evened
    out so the rows are as full as they can be (4 questions: 2 x 2, not 3 + 1)."""
    fits = max(1, min(panels, int((width - label_width) // min_panel)))
    rows = math.ceil(panels / fits)
    return math.ceil(panels / rows)


def _wrap(text: str, width: float, points: float) -> str:
    """Text wrapped to fit width inches at the given font size."""
    per_line = max(20, int(width * 72 / (points * 0.52)))
    return textwrap.fill(text, per_line)


def _figure(width: float, rows: int, columns: int, panel_height: float, title: str, extra: float):
    height = rows * panel_height + 0.35 + extra + 0.12 * title.count("\n")
    fig, axes = plt.subplots(
        rows, columns, figsize=(width, height), squeeze=False, layout="constrained"
    )
    fig.get_layout_engine().set(w_pad=0.03, h_pad=0.03, wspace=0.04, hspace=0.04)
    fig.suptitle(title)
    return fig, axes


def _scope_item_grid(
    data: FigureData,
    width: float,
    panel_height: float,
    min_panel: float,
    title: str,
    extra=0.0,
    label_width: float = 0.0,
    title_loc: str = "center",
):
    """Panels for (scope, item): each scope takes ceil(items / columns) rows."""
    every = len(data.scopes) * len(data.items) <= MAX_PANELS and width > NARROW
    scopes = data.scopes if every else [POOLED_SCOPE]
    scopes = [s for s in scopes if s in set(data.rank_summary["scope"])] or data.scopes[-1:]
    columns = _columns(width, len(data.items), min_panel, label_width)
    per_scope = math.ceil(len(data.items) / columns)
    fig, axes = _figure(
        width, len(scopes) * per_scope, columns, panel_height, _wrap(title, width, 8), extra
    )
    cells = []
    for s, scope in enumerate(scopes):
        for i, item in enumerate(data.items):
            ax = axes[s * per_scope + i // columns, i % columns]
            ax.set_title(
                f"{data.name(scope)} · {item}\n{data.n_text(scope, item)}",
                fontsize=6.5,
                loc=title_loc,
            )
            cells.append((scope, item, ax, i % columns == 0))
        for empty in range(len(data.items), per_scope * columns):
            axes[s * per_scope + empty // columns, empty % columns].set_axis_off()
    return fig, cells


def rank_share_figure(data: FigureData, width: float) -> Figure:
    """Stacked bars of the share of pages at each rank (the ranks are discrete)."""
    k = len(data.variants)
    legend_rows = math.ceil(k / max(1, int(width // 0.8)))
    fig, cells = _scope_item_grid(
        data,
        width,
        panel_height=0.45 + 0.13 * k,
        min_panel=1.55,
        label_width=_label_width(data.labels),
        title=f"{data.study}: share of pages at each rank",
        extra=0.15 * legend_rows,
    )
    for scope, item, ax, first in cells:
        panel = data.rank_shares[
            (data.rank_shares["scope"] == scope) & (data.rank_shares["item"] == item)
        ]
        plots.rank_share_bars(panel, order=data.labels, ax=ax)
        ax.set_xticks([0, 0.5, 1])
        ax.set_xlabel("")
        if not first:
            ax.set_yticklabels([])
    handles, names = cells[0][2].get_legend_handles_labels()
    fig.legend(
        handles,
        names,
        loc="outside lower center",
        ncols=max(1, min(len(names), int(width // 0.8))),
        frameon=False,
    )
    return fig


def violin_figure(data: FigureData, width: float) -> Figure:
    """Violins of ranks per variant, as in the published figure."""
    k = len(data.variants)
    longest = max(len(label) for label in data.labels)
    fig, cells = _scope_item_grid(
        data,
        width,
        panel_height=0.9 + 0.045 * longest + 0.1 * k,
        min_panel=max(1.45, 0.16 * k + 0.5),
        title=f"{data.study}: ranks per variant (1 = best; white dot = median, "
        "black diamond = mean)",
    )
    for scope, item, ax, first in cells:
        panel = data.rank_shares[
            (data.rank_shares["scope"] == scope) & (data.rank_shares["item"] == item)
        ]
        plots.rank_violins(panel, order=data.labels, ax=ax, rotation=90)
        if not first:
            ax.set_ylabel("")
    return fig


def _per_item_figure(
    data: FigureData,
    width: float,
    table: pd.DataFrame,
    *,
    y: str,
    order: list[str],
    x: str,
    low: str,
    high: str,
    xlabel: str,
    title: str,
    limits: tuple[float, float],
    reference: float | None = None,
) -> Figure:
    """One panel per question; in each, every country's estimate and interval, pooled
    in black (the compact per-country overlay)."""
    countries = [s for s in data.scopes if s != POOLED_SCOPE]
    groups = [*countries, POOLED_SCOPE]
    columns = _columns(width, len(data.items), 1.55, _label_width(order))
    rows = math.ceil(len(data.items) / columns)
    legend_columns = max(1, int(width // 1.0))
    legend_rows = math.ceil(len(groups) / legend_columns)
    band = 0.12 + 0.014 * len(groups)
    fig, axes = _figure(
        width,
        rows,
        columns,
        0.55 + band * len(order),
        _wrap(title, width, 8),
        0.16 * legend_rows,
    )
    flat = axes.ravel()
    for i, item in enumerate(data.items):
        ax = flat[i]
        panel = table[table["item"] == item]
        plots.interval_dots(
            panel.assign(group=[data.name(s) for s in panel["scope"]]),
            y=y,
            x=x,
            low=low,
            high=high,
            group="group",
            order=order,
            groups=[data.name(g) for g in groups],
            emphasis=data.name(POOLED_SCOPE),
            ax=ax,
        )
        if reference is not None:
            ax.axvline(reference, color="0.5", linewidth=0.6, linestyle="--")
        ax.set_xlim(*limits)
        ax.set_xlabel(xlabel)
        ax.set_title(f"{item}\n{data.n_text(POOLED_SCOPE, item)}", fontsize=6.5)
        if i % columns:
            ax.set_yticklabels([])
    for empty in flat[len(data.items) :]:
        empty.set_axis_off()
    handles, names = flat[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncols=legend_columns, frameon=False)
    return fig


def mean_rank_figure(data: FigureData, width: float) -> Figure:
    """Mean rank per variant with its interval, countries overlaid."""
    k = len(data.variants)
    return _per_item_figure(
        data,
        width,
        data.rank_summary,
        y="label",
        order=data.labels,
        x="mean_rank",
        low="mean_ci_low",
        high="mean_ci_high",
        xlabel="mean rank (1 = best)",
        title=f"{data.study}: mean rank with 95% intervals",
        limits=(0.8, k + 0.2),
        reference=(k + 1) / 2,
    )


def preference_figure(data: FigureData, width: float) -> Figure:
    """Share of pages where each variant beat the baseline, with intervals."""
    pairs = data.pairwise_preference
    against = pairs[pairs["other"] == data.baseline]
    baseline_label = data.labels[data.variants.index(data.baseline)]
    order = [
        label for v, label in zip(data.variants, data.labels, strict=True) if v != data.baseline
    ]
    return _per_item_figure(
        data,
        width,
        against,
        y="label",
        order=order,
        x="share_better",
        low="ci_low",
        high="ci_high",
        xlabel="share ranked better",
        title=f"{data.study}: preference over {baseline_label} with 95% intervals",
        limits=(0, 1),
        reference=0.5,
    )


def critical_difference_figure(data: FigureData, width: float) -> Figure:
    """CD diagrams on one common axis (1..k) with the CD ruler in every panel."""
    k = len(data.variants)
    longest = max(len(label) for label in data.labels)
    fig, cells = _scope_item_grid(
        data,
        width,
        panel_height=0.75 + 0.15 * (k + 1.5),
        min_panel=max(2.2, 0.9 + 0.055 * longest),
        title=f"{data.study}: average rank over participants (lower = better)",
        title_loc="right",  # the variant labels stand left of the axes, under the title
    )
    for scope, item, ax, _first in cells:
        at = (data.cd_ranks["scope"] == scope) & (data.cd_ranks["item"] == item)
        ranks = data.cd_ranks[at].set_index("label")["average_rank"]
        test = data.friedman[(data.friedman["scope"] == scope) & (data.friedman["item"] == item)]
        n = int(test["participants"].iloc[0]) if len(test) else 0
        if n < 2 or ranks.isna().any():
            ax.set_axis_off()
            ax.text(0.5, 0.5, "fewer than two participants", ha="center", transform=ax.transAxes)
            continue
        pairs = data.nemenyi[(data.nemenyi["scope"] == scope) & (data.nemenyi["item"] == item)]
        plots.critical_difference(
            ranks,
            _square(pairs, data.cd_ranks[at]),
            cd=float(test["nemenyi_cd"].iloc[0]),
            limits=(1, k),
            ax=ax,
        )
    return fig


def _square(pairs: pd.DataFrame, ranks: pd.DataFrame) -> pd.DataFrame:
    """Symmetric p-value matrix indexed by label, from the upper-triangle pairs table."""
    label = dict(zip(ranks["variant"], ranks["label"], strict=True))
    names = list(ranks["label"])
    matrix = pd.DataFrame(1.0, index=names, columns=names)
    for a, b, p in zip(pairs["variant"], pairs["other"], pairs["p"], strict=True):
        matrix.loc[label[a], label[b]] = matrix.loc[label[b], label[a]] = p
    return matrix


MAKERS: dict[str, Callable[[FigureData, float], Figure]] = {
    "rank_shares": rank_share_figure,
    "mean_rank": mean_rank_figure,
    "preference": preference_figure,
    "critical_difference": critical_difference_figure,
    "violins": violin_figure,
}
assert list(MAKERS) == list(FIGURES), "every figure has a caption and a maker"
