"""The participant bootstrap: per-participant tallies, resampled, and the intervals.

Every descriptive statistic of the report (mean and median rank, share ranked first,
pairwise preference, Plackett-Luce worth) is a function of a few counts that add up
over participants: how often each variant got each rank, how often variant a was
ranked better than b, how often each whole ordering occurred. So each participant's
counts are tallied once, and a bootstrap replicate that draws participants with
replacement is a weighted sum of them: one matrix product per country instead of a
pass over the rows per replicate. The participant, not the page, is the unit resampled.
Pooled over countries, participants are resampled within their own country
(a stratified bootstrap), so every replicate keeps the study's mix of countries.

Intervals are percentile intervals at :data:`CONFIDENCE`. With few participants they
are too narrow (docs/analysis.md gives the measured coverage), so the tables flag a
scope with fewer than :data:`FEW_PARTICIPANTS` participants (``few_participants``) and
the report document marks its intervals and prints none for one participant (every
resample is then that participant: an interval of zero width, not a 95% interval).

:func:`scope_item_table` is the one loop over scopes and survey items that every
table builder uses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.rankings import Rankings

POOLED = "All countries"
#: The item slot after the survey's items: every question's pages together.
ALL_QUESTIONS = "all questions"
CONFIDENCE = 0.95
#: Below this many participants a scope's intervals are flagged as unreliable.
FEW_PARTICIPANTS = 10
#: Bound on the entries of one block of bootstrap weights (replicates x participants).
_BLOCK_ENTRIES = 8_000_000


def percentile_interval(replicates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper ends of the percentile interval over axis 0 (the replicates)."""
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(replicates, [tail, 100 - tail], axis=0)
    return low, high


@dataclass(frozen=True)
class Tallies:
    """Counts of one group of participants (a country or all), per survey item.

    Arrays start with the item axis (I + 1: the survey's items, then ALL_QUESTIONS, the
    counts of every item together); bootstrap arrays have the replicate axis (B)
    before it. ``rank_counts[i, v, r]``: pages where variant v got rank r + 1.
    ``wins[i, a, b]``: pages where a was ranked better than b. ``ordering_counts[i, u]``:
    pages whose ranking, best first, was ``orderings[u]`` (variant codes).
    ``mean_ranks[p, i, v]``: participant p's mean rank of v (NaN when p has no page
    for item i); the blocks of the Friedman test. ``members`` are the participant codes
    (into ``Rankings.participants``) of the rows of ``mean_ranks``.
    """

    scope: str
    participants: np.ndarray  # (I,) participants with at least one page
    pages: np.ndarray  # (I,)
    rank_counts: np.ndarray  # (I, k, k)
    wins: np.ndarray  # (I, k, k)
    ordering_counts: np.ndarray  # (I, U)
    orderings: np.ndarray  # (U, k)
    mean_ranks: np.ndarray  # (P, I, k)
    members: np.ndarray  # (P,)
    boot_rank_counts: np.ndarray  # (B, I, k, k)
    boot_wins: np.ndarray  # (B, I, k, k)
    boot_ordering_counts: np.ndarray  # (B, I, U)

    def few(self, i: int) -> bool:
        """Whether item i of this scope has fewer participants than FEW_PARTICIPANTS."""
        return bool(self.participants[i] < FEW_PARTICIPANTS)


def tally_scopes(rankings: Rankings, *, n_boot: int, seed: int) -> list[Tallies]:
    """Tallies for each country (sorted by name) and then pooled over all countries.

    n_boot bootstrap replicates are drawn with a generator seeded by seed, so a rerun
    gives the same intervals.
    """
    table, layout, orderings = _participant_tallies(rankings)
    pages = _unpack(table, layout)["pages"]
    rng = np.random.default_rng(seed)
    scopes, pooled_boot = [], None
    for c, country in enumerate(rankings.countries):
        members = np.flatnonzero(rankings.participant_country == c)
        members = members[pages[members].sum(axis=1) > 0]
        if len(members) == 0:
            continue  # everyone left out; the report lists them
        boot = _bootstrap_sums(table[members], n_boot, rng)
        pooled_boot = boot if pooled_boot is None else pooled_boot + boot
        scopes.append(_scope(country, table, members, boot, layout, orderings))
    everyone = np.flatnonzero(pages.sum(axis=1) > 0)
    scopes.append(_scope(POOLED, table, everyone, pooled_boot, layout, orderings))
    return scopes


def scope_item_table(
    rankings: Rankings,
    scopes: list[Tallies],
    rows: Callable[[Tallies, int], pd.DataFrame | dict],
    *,
    flag_few: bool = False,
    all_questions: bool = False,
) -> pd.DataFrame:
    """One table of ``rows(scope, i)`` for every scope and item, scope and item first.

    With all_questions the only item is ALL_QUESTIONS (every question's pages together)
    instead of the survey's items.

    rows returns the columns of one scope and item (a DataFrame, or a dict of columns
    that pandas turns into one). With flag_few a ``few_participants`` column says where
    the scope has fewer than FEW_PARTICIPANTS participants, so an interval there is not
    read as a reliable 95% interval.
    """
    items = [ALL_QUESTIONS] if all_questions else rankings.items
    first = len(rankings.items) if all_questions else 0
    frames = []
    for scope in scopes:
        for i, item in enumerate(items, start=first):
            part = rows(scope, i)
            part = part if isinstance(part, pd.DataFrame) else pd.DataFrame(part)
            part.insert(0, "item", item)
            part.insert(0, "scope", scope.scope)
            if flag_few:
                part["few_participants"] = scope.few(i)
            frames.append(part)
    return pd.concat(frames, ignore_index=True)


# --- the packed layout of one participant's counts ----------------------------------
#
# Each participant's counts are one row: [pages (I) | rank_counts (I*k*k) | wins (I*k*k)
# | ordering_counts (I*U)], so one matrix product sums every statistic's counts for a
# bootstrap replicate. _layout names the blocks once; _pack and _unpack both read it.


def _layout(n_items: int, k: int, n_orderings: int) -> list[tuple[str, tuple[int, ...]]]:
    return [
        ("pages", (n_items,)),
        ("rank_counts", (n_items, k, k)),
        ("wins", (n_items, k, k)),
        ("ordering_counts", (n_items, n_orderings)),
    ]


def _pack(parts: dict[str, np.ndarray], layout: list[tuple[str, tuple[int, ...]]]) -> np.ndarray:
    n = len(parts[layout[0][0]])
    return np.concatenate([parts[name].reshape(n, -1) for name, _ in layout], axis=1).astype(float)


def _unpack(table: np.ndarray, layout: list[tuple[str, tuple[int, ...]]]) -> dict:
    """The blocks of packed rows, keeping the leading axes of table."""
    lead = table.shape[:-1]
    out, start = {}, 0
    for name, shape in layout:
        size = int(np.prod(shape))
        out[name] = table[..., start : start + size].reshape(*lead, *shape)
        start += size
    return out


def _participant_tallies(rankings: Rankings) -> tuple[np.ndarray, list, np.ndarray]:
    """The packed counts of every participant, their layout, and the orderings seen."""
    n_p, n_items, k = len(rankings.participants), len(rankings.items), rankings.k
    cell = rankings.participant * n_items + rankings.item  # (participant, item) per ranking
    n_cells = n_p * n_items
    pages = np.bincount(cell, minlength=n_cells)

    variant = np.arange(k)
    rank_index = ((cell[:, None] * k + variant) * k + rankings.ranks - 1).ravel()
    rank_counts = np.bincount(rank_index, minlength=n_cells * k * k)

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
    ordering_counts = np.bincount(cell * n_u + ordering, minlength=n_cells * n_u)
    parts = {
        "pages": pages.reshape(n_p, n_items),
        "rank_counts": rank_counts.reshape(n_p, n_items, k, k),
        "wins": wins,
        "ordering_counts": ordering_counts.reshape(n_p, n_items, n_u),
    }
    # One more item slot: every question together (ALL_QUESTIONS).
    parts = {
        name: np.concatenate([a, a.sum(axis=1, keepdims=True)], axis=1) for name, a in parts.items()
    }
    layout = _layout(n_items + 1, k, n_u)
    return _pack(parts, layout), layout, orderings


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
    name: str,
    table: np.ndarray,
    members: np.ndarray,
    boot: np.ndarray,
    layout: list,
    orderings: np.ndarray,
) -> Tallies:
    mine = table[members]
    point = _unpack(mine.sum(axis=0), layout)
    replicates = _unpack(boot, layout)
    each = _unpack(mine, layout)
    k = orderings.shape[1]
    per_page = each["pages"]  # (P, I)
    rank_sums = (each["rank_counts"] * np.arange(1, k + 1)).sum(axis=-1)  # (P, I, k)
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
        members=members,
        boot_rank_counts=replicates["rank_counts"],
        boot_wins=replicates["wins"],
        boot_ordering_counts=replicates["ordering_counts"],
    )
