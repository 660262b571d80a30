"""Per-participant tallies and the participant bootstrap.

Every descriptive statistic of the report (mean and median rank, share ranked first,
pairwise preference, Plackett-Luce worth) is a function of a few counts that add up
over participants: how often each variant got each rank, how often variant a was
ranked better than b, how often each whole ordering occurred. So each participant's
counts are tallied once, and a bootstrap replicate that draws participants with
replacement is a weighted sum of them: one matrix product per country instead of a
pass over the rows per replicate. The participant, not the page, is the unit resampled.
Pooled over countries, participants are resampled within their own country
(a stratified bootstrap), so every replicate keeps the study's mix of countries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.rankings import Rankings

POOLED = "All countries"
#: Bound on the entries of one block of bootstrap weights (replicates x participants).
_BLOCK_ENTRIES = 8_000_000


@dataclass(frozen=True)
class Tallies:
    """Counts of one group of participants (a country or all), per survey item.

    Arrays start with the item axis (I); bootstrap arrays have the replicate axis (B)
    before it. ``rank_counts[i, v, r]``: pages where variant v got rank r + 1.
    ``wins[i, a, b]``: pages where a was ranked better than b. ``ordering_counts[i, u]``:
    pages whose ranking, best first, was ``orderings[u]`` (variant codes).
    ``mean_ranks[p, i, v]``: participant p's mean rank of v (NaN when p has no page
    for item i); the blocks of the Friedman test.
    """

    scope: str
    participants: np.ndarray  # (I,) participants with at least one page
    pages: np.ndarray  # (I,)
    rank_counts: np.ndarray  # (I, k, k)
    wins: np.ndarray  # (I, k, k)
    ordering_counts: np.ndarray  # (I, U)
    orderings: np.ndarray  # (U, k)
    mean_ranks: np.ndarray  # (P, I, k)
    boot_rank_counts: np.ndarray  # (B, I, k, k)
    boot_wins: np.ndarray  # (B, I, k, k)
    boot_ordering_counts: np.ndarray  # (B, I, U)


def tally_scopes(rankings: Rankings, *, n_boot: int, seed: int) -> list[Tallies]:
    """Tallies for each country (sorted by name) and then pooled over all countries.

    n_boot bootstrap replicates are drawn with a generator seeded by seed, so a rerun
    gives the same intervals.
    """
    per_participant, orderings = _participant_tallies(rankings)
    n_items, k = len(rankings.items), rankings.k
    rng = np.random.default_rng(seed)
    scopes, pooled_boot = [], None
    for c, country in enumerate(rankings.countries):
        members = np.flatnonzero(rankings.participant_country == c)
        members = members[per_participant[members, :n_items].sum(axis=1) > 0]
        if len(members) == 0:
            continue  # everyone left out; the report lists them
        boot = _bootstrap_sums(per_participant[members], n_boot, rng)
        pooled_boot = boot if pooled_boot is None else pooled_boot + boot
        scopes.append(_scope(country, per_participant[members], boot, orderings, n_items, k))
    everyone = np.flatnonzero(per_participant[:, :n_items].sum(axis=1) > 0)
    scopes.append(_scope(POOLED, per_participant[everyone], pooled_boot, orderings, n_items, k))
    return scopes


def _participant_tallies(rankings: Rankings) -> tuple[np.ndarray, np.ndarray]:
    """One row of counts per participant: pages, rank counts, wins, ordering counts.

    Laid out as [pages (I) | rank_counts (I*k*k) | wins (I*k*k) | orderings (I*U)] so
    one matrix product sums every statistic's counts for a bootstrap replicate.
    """
    n_p, n_items, k = len(rankings.participants), len(rankings.items), rankings.k
    cell = rankings.participant * n_items + rankings.item  # (participant, item) per ranking
    n_cells = n_p * n_items
    pages = np.bincount(cell, minlength=n_cells).reshape(n_p, n_items)

    variant = np.arange(k)
    rank_index = ((cell[:, None] * k + variant) * k + rankings.ranks - 1).ravel()
    rank_counts = np.bincount(rank_index, minlength=n_cells * k * k).reshape(n_p, -1)

    wins = np.empty((n_p, n_items, k, k))
    for a in range(k):
        better = rankings.ranks[:, [a]] < rankings.ranks  # (n, k): a better than b
        for b in range(k):
            wins[:, :, a, b] = np.bincount(cell, weights=better[:, b], minlength=n_cells).reshape(
                n_p, n_items
            )

    best_first = np.argsort(rankings.ranks, axis=1)
    code = best_first @ (k ** np.arange(k))  # each ordering as one base-k number
    unique_codes, ordering = np.unique(code, return_inverse=True)
    orderings = best_first[_first_index(code, unique_codes)]
    n_u = len(unique_codes)
    ordering_counts = np.bincount(cell * n_u + ordering, minlength=n_cells * n_u).reshape(n_p, -1)
    table = np.concatenate(
        [pages, rank_counts, wins.reshape(n_p, -1), ordering_counts], axis=1
    ).astype(float)
    return table, orderings


def _first_index(code: np.ndarray, unique_codes: np.ndarray) -> np.ndarray:
    """Index of one ranking holding each distinct ordering code."""
    order = np.argsort(code, kind="stable")
    return order[np.searchsorted(code[order], unique_codes)]


def _bootstrap_sums(table: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, columns) sums of the participants' rows over bootstrap resamples."""
    n = len(table)
    out = np.empty((n_boot, table.shape[1]))
    block = max(1, _BLOCK_ENTRIES // max(n, 1))
    for start in range(0, n_boot, block):
        stop = min(n_boot, start + block)
        # How often each participant is drawn in each replicate.
        weights = rng.multinomial(n, np.full(n, 1.0 / n), size=stop - start)
        out[start:stop] = weights @ table
    return out


def _scope(
    name: str, table: np.ndarray, boot: np.ndarray, orderings: np.ndarray, n_items: int, k: int
) -> Tallies:
    point = _split(table.sum(axis=0), n_items, k)
    replicates = _split(boot, n_items, k)
    pages_each = _split(table, n_items, k)
    per_page = pages_each["pages"]  # (P, I)
    rank_sums = (pages_each["rank_counts"] * np.arange(1, k + 1)).sum(axis=-1)  # (P, I, k)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_ranks = rank_sums / per_page[:, :, None]
    return Tallies(
        scope=name,
        participants=(per_page > 0).sum(axis=0),
        pages=point["pages"],
        rank_counts=point["rank_counts"],
        wins=point["wins"],
        ordering_counts=point["ordering_counts"],
        orderings=orderings,
        mean_ranks=mean_ranks,
        boot_rank_counts=replicates["rank_counts"],
        boot_wins=replicates["wins"],
        boot_ordering_counts=replicates["ordering_counts"],
    )


def _split(table: np.ndarray, n_items: int, k: int) -> dict[str, np.ndarray]:
    """Undo the column layout of _participant_tallies, keeping leading axes."""
    lead = table.shape[:-1]
    sizes = {"pages": n_items, "rank_counts": n_items * k * k, "wins": n_items * k * k}
    shapes = {"pages": (n_items,), "rank_counts": (n_items, k, k), "wins": (n_items, k, k)}
    out, start = {}, 0
    for name, size in sizes.items():
        out[name] = table[..., start : start + size].reshape(*lead, *shapes[name])
        start += size
    out["ordering_counts"] = table[..., start:].reshape(*lead, n_items, -1)
    return out
