"""Plot functions draw into the given Axes, return it, and never save."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection

from analysis import plots
from analysis.bootstrap import POOLED, tally_scopes
from analysis.descriptive import pairwise_preference, rank_shares
from analysis.significance import average_friedman_ranks, nemenyi

LABELS = ["Stable Diffusion", "SCoFT+M", "SCoFT+MP", "SCoFT+MPC"]


@pytest.fixture
def tables(small_rankings):
    scopes = tally_scopes(small_rankings, n_boot=100, seed=0)
    pooled = scopes[-1]
    shares = rank_shares(small_rankings, scopes)
    pairs = pairwise_preference(small_rankings, scopes)
    at = (shares["scope"] == POOLED) & (shares["item"] == "culture")
    at_pairs = (pairs["scope"] == POOLED) & (pairs["item"] == "culture")
    return shares[at], pairs[at_pairs], pooled.mean_ranks[:, 0, :]


def violins(ax):
    return [c for c in ax.collections if isinstance(c, PolyCollection)]


def test_rank_violins_draw_one_violin_per_variant_with_rank_one_on_top(tables):
    shares, _, _ = tables
    _, ax = plt.subplots()
    returned = plots.rank_violins(shares, order=LABELS, ax=ax)
    assert returned is ax
    assert len(violins(ax)) == 4
    low, high = ax.get_ylim()
    assert low > high  # inverted: rank 1 at the top
    assert [t.get_text() for t in ax.get_xticklabels()] == LABELS


def test_violins_are_cut_at_the_ranks_given_and_mark_median_and_mean():
    pages = pd.DataFrame({"label": ["A"] * 4 + ["B"] * 3, "rank": [1, 1, 2, 2, 2, 3, 3]})
    ax = plots.rank_violins(pages, weight=None, ax=plt.figure().gca())
    bodies = violins(ax)
    assert len(bodies) == 2
    ys = bodies[0].get_paths()[0].vertices[:, 1]
    assert ys.min() == pytest.approx(1) and ys.max() == pytest.approx(2)
    medians, means = (c for c in ax.collections if not isinstance(c, PolyCollection))
    assert list(medians.get_offsets()[:, 1]) == [1.5, 3.0]
    assert list(means.get_offsets()[:, 1]) == pytest.approx([1.5, 8 / 3])


def test_counts_per_rank_and_one_row_per_page_draw_the_same_violin():
    pages = pd.DataFrame({"label": ["A"] * 5, "rank": [1, 2, 2, 3, 4]})
    counts = pages.groupby(["label", "rank"]).size().rename("pages").reset_index()
    a = violins(plots.rank_violins(pages, weight=None, ax=plt.figure().gca()))[0]
    b = violins(plots.rank_violins(counts, ax=plt.figure().gca()))[0]
    assert np.allclose(a.get_paths()[0].vertices, b.get_paths()[0].vertices)


def test_rank_share_bars_stack_one_bar_per_rank_for_each_variant(tables):
    shares, _, _ = tables
    ax = plots.rank_share_bars(shares, order=LABELS, ax=plt.figure().gca())
    assert len(ax.patches) == 4 * 4
    right_ends = {}
    for patch in ax.patches:
        y = round(patch.get_y() + patch.get_height() / 2)
        right_ends[y] = max(right_ends.get(y, 0), patch.get_x() + patch.get_width())
    assert list(right_ends.values()) == pytest.approx([1, 1, 1, 1])


def test_preference_heatmap_annotates_every_ordered_pair(tables):
    _, pairs, _ = tables
    ax = plots.preference_heatmap(pairs, order=LABELS, ax=plt.figure().gca())
    assert len(ax.images) == 1
    assert len(ax.texts) == 4 * 3


def test_critical_difference_diagram_places_every_variant(tables):
    _, _, blocks = tables
    ranks = pd.Series(average_friedman_ranks(blocks), index=LABELS)
    p = pd.DataFrame(nemenyi(blocks), index=LABELS, columns=LABELS)
    ax = plots.critical_difference(ranks, p, ax=plt.figure().gca())
    labels = " ".join(t.get_text() for t in ax.texts)
    assert all(name in labels for name in LABELS)


def test_plot_functions_never_save_files(tables, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shares, pairs, _ = tables
    plots.rank_violins(shares, ax=plt.figure().gca())
    plots.rank_share_bars(shares, ax=plt.figure().gca())
    plots.preference_heatmap(pairs, ax=plt.figure().gca())
    assert list(tmp_path.iterdir()) == []
