"""Descriptive rank statistics: mean, median and standard error of rank, share ranked
first, and the pairwise preference matrix, each with participant-bootstrap intervals.

All work from the counts in :class:`analysis.bootstrap.Tallies`; a statistic is computed
on the point counts and on every bootstrap replicate's counts by the same vectorised
function, and the interval is the percentile interval of the replicates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.bootstrap import Tallies, percentile_interval, scope_item_table
from analysis.rankings import Rankings


def mean_rank(rank_counts: np.ndarray) -> np.ndarray:
    """Mean rank per variant from counts shaped (..., variants, ranks)."""
    k = rank_counts.shape[-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rank_counts * np.arange(1, k + 1)).sum(-1) / rank_counts.sum(-1)


def rank_standard_error(rank_counts: np.ndarray) -> np.ndarray:
    """Standard error of the mean rank over pages (sample SD / sqrt(pages)), as the
    published analysis reports it; it treats pages as independent, so read it next to
    the participant-bootstrap interval, which does not."""
    k = rank_counts.shape[-1]
    r = np.arange(1, k + 1)
    n = rank_counts.sum(-1)
    mean = mean_rank(rank_counts)
    with np.errstate(invalid="ignore", divide="ignore"):
        variance = ((r - mean[..., None]) ** 2 * rank_counts).sum(-1) / (n - 1)
        return np.sqrt(variance / n)


def median_rank(rank_counts: np.ndarray) -> np.ndarray:
    """Median rank per variant from counts shaped (variants, ranks), as numpy.median of
    the ranks would give (the mean of the two middle ranks for an even count)."""
    k = rank_counts.shape[-1]
    out = np.full(rank_counts.shape[:-1], np.nan)
    for index in np.ndindex(*rank_counts.shape[:-1]):
        counts = rank_counts[index]
        n = int(counts.sum())
        if n == 0:
            continue
        cumulative = np.cumsum(counts)
        lower = np.searchsorted(cumulative, (n - 1) // 2, side="right")
        upper = np.searchsorted(cumulative, n // 2, side="right")
        out[index] = (min(lower, k - 1) + min(upper, k - 1)) / 2 + 1
    return out


def first_share(rank_counts: np.ndarray) -> np.ndarray:
    """Share of pages where each variant was ranked first, from (..., variants, ranks)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return rank_counts[..., 0] / rank_counts.sum(-1)


def preference_share(wins: np.ndarray) -> np.ndarray:
    """Share of pages where row variant a was ranked better than column variant b.

    wins is shaped (..., k, k); with complete rankings a and b are on every page, so
    ``share[a, b] + share[b, a] == 1`` and the diagonal is NaN.
    """
    total = wins + np.swapaxes(wins, -1, -2)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = wins / total
    k = wins.shape[-1]
    share[..., np.arange(k), np.arange(k)] = np.nan
    return share


def rank_summary(
    rankings: Rankings, scopes: list[Tallies], *, all_questions: bool = False
) -> pd.DataFrame:
    """One row per scope (country or pooled), item and variant.

    Columns: participants, pages, mean_rank with mean_ci_low/high (participant
    bootstrap), median_rank, se_rank (over pages), first_share with first_ci_low/high,
    few_participants. With all_questions, one item: every question's pages together.
    """
    labels = [rankings.label(v) for v in rankings.variants]

    def rows(scope: Tallies, i: int) -> dict:
        n = int(scope.participants[i])
        mean_low, mean_high = percentile_interval(mean_rank(scope.boot_rank_counts[:, i]))
        first_low, first_high = percentile_interval(first_share(scope.boot_rank_counts[:, i]))
        counts = scope.rank_counts[i]
        return {
            "variant": rankings.variants,
            "label": labels,
            "participants": n,
            "pages": int(scope.pages[i]),
            "mean_rank": mean_rank(counts),
            "mean_ci_low": mean_low,
            "mean_ci_high": mean_high,
            "median_rank": median_rank(counts),
            "se_rank": rank_standard_error(counts),
            "first_share": first_share(counts),
            "first_ci_low": first_low,
            "first_ci_high": first_high,
        }

    return scope_item_table(rankings, scopes, rows, flag_few=True, all_questions=all_questions)


def rank_shares(rankings: Rankings, scopes: list[Tallies]) -> pd.DataFrame:
    """Share of pages giving each variant each rank: scope, item, variant, label, rank,
    pages, share."""
    k = rankings.k
    labels = [rankings.label(v) for v in rankings.variants]

    def rows(scope: Tallies, i: int) -> dict:
        counts = scope.rank_counts[i]
        return {
            "variant": np.repeat(rankings.variants, k),
            "label": np.repeat(labels, k),
            "rank": np.tile(np.arange(1, k + 1), k),
            "pages": counts.ravel().astype(np.int64),
            "share": (counts / counts.sum(-1, keepdims=True)).ravel(),
        }

    return scope_item_table(rankings, scopes, rows)


def pairwise_preference(rankings: Rankings, scopes: list[Tallies]) -> pd.DataFrame:
    """One row per scope, item and ordered pair (variant, other): the share of pages
    where variant was ranked better than other, with its participant-bootstrap
    interval. The study's headline (full model over the pretrained one) is one row."""
    k = rankings.k
    a, b = (x.ravel() for x in np.indices((k, k)))
    off_diagonal = a != b
    a, b = a[off_diagonal], b[off_diagonal]
    variants = np.asarray(rankings.variants, dtype=object)
    labels = np.asarray([rankings.label(v) for v in rankings.variants], dtype=object)

    def rows(scope: Tallies, i: int) -> dict:
        n = int(scope.participants[i])
        low, high = percentile_interval(preference_share(scope.boot_wins[:, i]))
        share = preference_share(scope.wins[i])
        return {
            "variant": variants[a],
            "other": variants[b],
            "label": labels[a],
            "other_label": labels[b],
            "participants": n,
            "pages": int(scope.pages[i]),
            "share_better": share[a, b],
            "ci_low": low[a, b],
            "ci_high": high[a, b],
        }

    return scope_item_table(rankings, scopes, rows, flag_few=True)
