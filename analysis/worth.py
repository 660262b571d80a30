"""Plackett-Luce worth per variant, fitted on counts of whole orderings.

With k variants there are at most k! distinct orderings (24 for the study's four), so
a study's rankings are summarised by how often each ordering occurred, and the model
is fitted on those counts. choix fits one ranking at a time in Python, which takes
seconds per fit at this scale and cannot run for thousands of bootstrap replicates;
the same maximum-likelihood estimate comes from Hunter's (2004) minorisation-
maximisation update, which is a few array operations on the counts and runs for all
replicates at once. tests/analysis check it against choix.

Worths are normalised to sum to 1: a variant's worth is the model's probability that
it is ranked first among all k.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.bootstrap import Tallies, percentile_interval, scope_item_table
from analysis.rankings import Rankings

MAX_ITERATIONS = 5000
TOLERANCE = 1e-9  # largest change of any worth (they sum to 1) at convergence


def plackett_luce_worth(
    orderings: np.ndarray, counts: np.ndarray, initial: np.ndarray | None = None
) -> np.ndarray:
    """Maximum-likelihood Plackett-Luce worths from ordering counts.

    orderings: (U, k) variant codes, best first. counts: (..., U) how often each
    ordering occurred; leading axes (bootstrap replicates, items) are fitted
    independently, starting from initial (broadcast; equal worths when None).
    Returns (..., k) worths summing to 1. A variant never ranked
    above another gets worth 0 (the estimate on the boundary).
    """
    orderings = np.asarray(orderings)
    counts = np.asarray(counts, dtype=float)
    n_u, k = orderings.shape
    # remaining[u, s, v]: v is still unranked at stage s of ordering u (chosen at s or later).
    stage_of = np.empty((n_u, k), dtype=np.int64)
    np.put_along_axis(stage_of, orderings, np.arange(k)[None, :], axis=1)
    stages = np.arange(k - 1)
    remaining = (stage_of[:, None, :] >= stages[None, :, None]).astype(float)
    chosen_before_last = (stage_of < k - 1).astype(float)  # (U, k)
    wins = counts @ chosen_before_last  # (..., k): times v was picked from a choice set

    # As matrices: rows are (ordering, stage) choice sets, columns are variants.
    choice_sets = remaining.reshape(n_u * (k - 1), k)
    counts_per_set = np.repeat(counts, k - 1, axis=-1)  # (..., U*(k-1))
    if initial is None:
        worth = np.full((*counts.shape[:-1], k), 1.0 / k)
    else:
        worth = np.broadcast_to(initial, (*counts.shape[:-1], k)).copy()
    for _ in range(MAX_ITERATIONS):
        set_worth = worth @ choice_sets.T
        safe = np.where(set_worth > 0, set_worth, 1.0)
        denominator = (counts_per_set / safe) @ choice_sets
        with np.errstate(invalid="ignore", divide="ignore"):
            updated = np.where(denominator > 0, wins / denominator, 0.0)
        updated /= updated.sum(-1, keepdims=True)
        converged = np.max(np.abs(updated - worth)) < TOLERANCE
        worth = updated
        if converged:
            break
    return worth


def worth_table(
    rankings: Rankings, scopes: list[Tallies], *, all_questions: bool = False
) -> pd.DataFrame:
    """Plackett-Luce worth per scope, item and variant with its participant-bootstrap
    interval: scope, item, variant, label, worth, ci_low, ci_high, few_participants."""
    labels = [rankings.label(v) for v in rankings.variants]
    n_items = len(rankings.items)
    slots = slice(n_items, n_items + 1) if all_questions else slice(0, n_items)
    fitted: dict[str, tuple] = {}

    def rows(scope: Tallies, i: int) -> dict:
        if scope.scope not in fitted:  # every item of a scope is fitted at once
            point = plackett_luce_worth(scope.orderings, scope.ordering_counts[slots])
            # Replicates start at the point estimate: they lie near it, so fewer updates.
            replicates = plackett_luce_worth(
                scope.orderings, scope.boot_ordering_counts[:, slots], point
            )
            fitted[scope.scope] = (point, *percentile_interval(replicates))
        point, low, high = (a[i - slots.start] for a in fitted[scope.scope])
        return {
            "variant": rankings.variants,
            "label": labels,
            "worth": point,
            "ci_low": low,
            "ci_high": high,
        }

    return scope_item_table(rankings, scopes, rows, flag_few=True, all_questions=all_questions)
