"""Plackett-Luce worth from ordering counts, against choix."""

import choix
import numpy as np
import pytest

from analysis.bootstrap import POOLED, tally_scopes
from analysis.worth import plackett_luce_worth, worth_table


def orderings_and_counts(best_first):
    codes = best_first @ (best_first.shape[1] ** np.arange(best_first.shape[1]))
    unique, first, counts = np.unique(codes, return_index=True, return_counts=True)
    return best_first[first], counts


@pytest.mark.parametrize("seed", [0, 1])
def test_worths_equal_choix_maximum_likelihood_fit(seed):
    rng = np.random.default_rng(seed)
    utility = rng.normal(size=5)
    best_first = np.argsort(-(utility + rng.gumbel(size=(400, 5))), axis=1)
    expected = choix.ilsr_rankings(5, [tuple(r) for r in best_first], tol=1e-12)
    expected = np.exp(expected) / np.exp(expected).sum()
    orderings, counts = orderings_and_counts(best_first)
    assert plackett_luce_worth(orderings, counts) == pytest.approx(expected, abs=1e-7)


def test_a_batch_of_count_vectors_is_fitted_one_by_one():
    orderings = np.array([[0, 1, 2], [1, 0, 2], [2, 1, 0], [0, 2, 1]])
    batch = np.array([[5, 2, 1, 3], [1, 1, 4, 2]], dtype=float)
    together = plackett_luce_worth(orderings, batch)
    for row, counts in zip(together, batch, strict=True):
        assert row == pytest.approx(plackett_luce_worth(orderings, counts))
    assert together.sum(axis=1) == pytest.approx([1, 1])


def test_two_variants_reduce_to_the_share_of_wins():
    # With two variants Plackett-Luce is Bradley-Terry: worth = share of pages won.
    worth = plackett_luce_worth(np.array([[0, 1], [1, 0]]), np.array([30.0, 10.0]))
    assert worth == pytest.approx([0.75, 0.25])


def test_the_worth_table_orders_the_simulated_variants_and_covers_the_estimate(small_rankings):
    table = worth_table(small_rankings, tally_scopes(small_rankings, n_boot=200, seed=0))
    pooled = table[(table["scope"] == POOLED) & (table["item"] == "culture")]
    assert pooled["variant"].iloc[pooled["worth"].argmax()] == "scoft-mpc"
    assert pooled["variant"].iloc[pooled["worth"].argmin()] == "pretrained"
    assert ((pooled["ci_low"] <= pooled["worth"]) & (pooled["worth"] <= pooled["ci_high"])).all()
