"""Agreement between raters: Krippendorff's alpha at the ordinal level
(krippendorff.alpha), raters = participants, units = (image set, variant), value = the
rank given; and each participant's agreement with everyone else in their country
(the leave-one-out consensus used by :mod:`analysis.quality`).
"""

from __future__ import annotations

import warnings

import krippendorff
import numpy as np
import pandas as pd
from scipy.stats import rankdata

from analysis.bootstrap import POOLED, Tallies, scope_item_table
from analysis.rankings import Rankings


def ordinal_alpha(value_counts: np.ndarray) -> float:
    """Krippendorff's alpha, ordinal, from (units, k ranks) counts of raters per rank.

    Units rated by fewer than two raters carry no information on agreement and are
    dropped; NaN when nothing pairable is left or only one rank value occurs.
    """
    pairable = value_counts[value_counts.sum(axis=1) >= 2]
    used_values = np.flatnonzero(pairable.sum(axis=0) > 0)
    if len(pairable) == 0 or len(used_values) < 2:
        return np.nan
    k = value_counts.shape[1]
    return float(
        krippendorff.alpha(
            value_counts=pairable,
            value_domain=np.arange(1, k + 1),
            level_of_measurement="ordinal",
        )
    )


def unit_value_counts(rankings: Rankings, selected: np.ndarray) -> np.ndarray:
    """(units, k) counts of raters giving each rank, units = (image set, variant),
    over the selected rankings (a boolean mask)."""
    k = rankings.k
    sets = rankings.image_set[selected]
    ranks = rankings.ranks[selected]
    unit = sets[:, None] * k + np.arange(k)
    index = (unit * k + ranks - 1).ravel()
    n_units = len(rankings.image_sets) * k
    counts = np.bincount(index, minlength=n_units * k).reshape(n_units, k)
    return counts[counts.sum(axis=1) > 0]


def agreement_table(rankings: Rankings, scopes: list[Tallies]) -> pd.DataFrame:
    """Krippendorff's alpha per scope and item: units, ratings, alpha."""
    country_of = rankings.country_of_ranking()

    def rows(scope: Tallies, i: int) -> pd.DataFrame:
        in_scope = (
            np.ones(len(country_of), dtype=bool)
            if scope.scope == POOLED
            else country_of == rankings.countries.index(scope.scope)
        )
        counts = unit_value_counts(rankings, in_scope & (rankings.item == i))
        return pd.DataFrame(
            [{"units": len(counts), "ratings": int(counts.sum()), "alpha": ordinal_alpha(counts)}]
        )

    return scope_item_table(rankings, scopes, rows)


def leave_one_out_agreement(rankings: Rankings) -> np.ndarray:
    """(participants,) Spearman correlation between each participant's mean ranks of the
    variants and the mean ranks the other participants of their country gave, averaged
    over the items the participant answered; NaN when no one else is there to compare.

    1 = the participant orders the variants as the others do; 0 = unrelated; negative =
    the reverse order (worth a look: reversed scales or careless answers).
    """
    n_p, n_items, k = len(rankings.participants), len(rankings.items), rankings.k
    cell = rankings.participant * n_items + rankings.item
    sums = np.stack(
        [
            np.bincount(cell, weights=rankings.ranks[:, v], minlength=n_p * n_items)
            for v in range(k)
        ],
        axis=-1,
    ).reshape(n_p, n_items, k)
    pages = np.bincount(cell, minlength=n_p * n_items).reshape(n_p, n_items)
    country = rankings.participant_country
    n_c = country.max() + 1 if len(country) else 0
    country_sums = np.zeros((n_c, n_items, k))
    country_pages = np.zeros((n_c, n_items))
    np.add.at(country_sums, country, sums)
    np.add.at(country_pages, country, pages)
    others_sums = country_sums[country] - sums
    others_pages = country_pages[country] - pages
    with np.errstate(invalid="ignore", divide="ignore"):
        mine = sums / pages[..., None]
        others = others_sums / others_pages[..., None]
    usable = (pages > 0) & (others_pages > 0)
    rho = np.full((n_p, n_items), np.nan)
    if usable.any():
        a = _ranked(mine[usable])
        b = _ranked(others[usable])
        a -= a.mean(axis=1, keepdims=True)
        b -= b.mean(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            rho[usable] = (a * b).sum(1) / np.sqrt((a**2).sum(1) * (b**2).sum(1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # no item to compare: NaN, as meant
        return np.nanmean(rho, axis=1)


def _ranked(values: np.ndarray) -> np.ndarray:
    """Ranks within each row, ties averaged (as Spearman's correlation takes them)."""
    return rankdata(values, axis=1).astype(float)
