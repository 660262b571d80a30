"""Sample-size planning: how many participants per country a study needs so that the
report's own test finds the headline preference with a chosen power.

``python -m analysis plan`` simulates studies from a Plackett-Luce model whose worths
come from a pilot export (fitted per country, every question together) or from a
target preference share of the headline model over its baseline. Each simulated
participant ranks ``pages`` pages; their mean rank of each variant is one block, and a
study "finds" the preference when the report's test does: the pairwise Wilcoxon
signed-rank test of the headline pair, Holm-corrected over every pair of variants,
significant at 0.05 with the model ranked better (the same method choice as
:func:`analysis.significance.pairwise_wilcoxon`, run on a batch of studies at once).

Power at a number of participants is the share of simulated studies that find it;
the planner searches the smallest number whose power reaches the target.
tests/analysis/test_planner.py checks the estimate against a brute-force simulation
through the simulator, the export reader and the report's own tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from analysis.bootstrap import POOLED, tally_scopes
from analysis.rankings import Rankings
from analysis.significance import SIGNIFICANCE
from analysis.worth import plackett_luce_worth

#: Largest number of participants per country the search tries.
MAX_PARTICIPANTS = 5000
_BATCH = 200  # simulated studies drawn at once (bounds memory)

BAD_SHARE = "The target preference share must lie strictly between 0.5 and 1, not {share}."
BAD_POWER = "The power must lie strictly between 0 and 1, not {power}."
BAD_VARIANTS = "A plan needs at least two variants, not {k}."


@dataclass(frozen=True)
class PlanOptions:
    """What the planner assumes; defaults are the command line's."""

    power: float = 0.8
    pages: int = 10  # pages per participant, each ranking every variant once
    simulations: int = 1000  # simulated studies per number of participants tried
    taste: float = 0.0  # SD of each participant's own shift of each variant's utility
    seed: int = 0


def worths_from_share(share: float, k: int) -> np.ndarray:
    """Worths (sum 1, baseline first, model last) giving P(model above baseline) = share;
    the variants between them are as good as the baseline."""
    if not 0.5 < share < 1:
        raise ValueError(BAD_SHARE.format(share=share))
    if k < 2:
        raise ValueError(BAD_VARIANTS.format(k=k))
    worth = np.ones(k)
    worth[-1] = share / (1 - share)  # Plackett-Luce pairs are Bradley-Terry: w_m / (w_m + w_b)
    return worth / worth.sum()


def worths_from_rankings(rankings: Rankings) -> dict[str, np.ndarray]:
    """Plackett-Luce worths per country (every question together), in variant order."""
    scopes = tally_scopes(rankings, n_boot=1, seed=0)
    last = len(rankings.items)  # the all-questions item slot
    return {
        scope.scope: plackett_luce_worth(scope.orderings, scope.ordering_counts[last])
        for scope in scopes
        if scope.scope != POOLED
    }


def simulate_blocks(
    worth: np.ndarray, participants: int, studies: int, options: PlanOptions, rng
) -> np.ndarray:
    """(studies, participants, k) mean ranks of simulated participants."""
    k = len(worth)
    utility = np.log(np.maximum(worth, 1e-12))
    taste = rng.normal(0.0, options.taste, size=(studies, participants, 1, k))
    score = utility + taste + rng.gumbel(size=(studies, participants, options.pages, k))
    ranks = np.argsort(np.argsort(-score, axis=-1), axis=-1) + 1
    return ranks.mean(axis=2)


def headline_found(blocks: np.ndarray, model: int, baseline: int) -> np.ndarray:
    """(studies,) whether the Holm-corrected Wilcoxon test finds model ranked better
    than baseline, for a batch of (studies, participants, k) blocks."""
    studies, n, k = blocks.shape
    pairs = [(a, b) for a in range(k) for b in range(a + 1, k)]
    p = np.ones((studies, len(pairs)))
    better = np.zeros(studies, dtype=bool)
    for j, (a, b) in enumerate(pairs):
        difference = blocks[:, :, a] - blocks[:, :, b]
        p[:, j] = _wilcoxon_p(difference)
        if {a, b} == {model, baseline}:
            sign = 1 if a == model else -1
            better = sign * np.median(difference, axis=1) < 0
            headline = j
    adjusted = _holm(p)
    return (adjusted[:, headline] < SIGNIFICANCE) & better


def _wilcoxon_p(difference: np.ndarray) -> np.ndarray:
    """p of scipy's Wilcoxon test per row, exact or asymptotic as the report chooses;
    1 where every difference is zero (as the report sets it)."""
    p = np.ones(len(difference))
    magnitudes = np.abs(difference)
    zero = (magnitudes == 0).all(axis=1)
    ordered = np.sort(magnitudes, axis=1)
    clean = (magnitudes > 0).all(axis=1) & (np.diff(ordered, axis=1) > 0).all(axis=1)
    exact = clean & (difference.shape[1] <= 50)
    asymptotic = ~exact & ~zero
    for rows, method in ((exact, "exact"), (asymptotic, "asymptotic")):
        if rows.any():
            test = scipy_stats.wilcoxon(difference[rows], axis=1, method=method)
            p[rows] = test.pvalue
    return np.nan_to_num(p, nan=1.0)


def _holm(p: np.ndarray) -> np.ndarray:
    """Holm-adjusted p-values along the last axis (as pingouin.multicomp gives them)."""
    m = p.shape[-1]
    order = np.argsort(p, axis=-1)
    ranked = np.take_along_axis(p, order, axis=-1) * (m - np.arange(m))
    ranked = np.minimum(np.maximum.accumulate(ranked, axis=-1), 1.0)
    adjusted = np.empty_like(p)
    np.put_along_axis(adjusted, order, ranked, axis=-1)
    return adjusted


def power(
    worth: np.ndarray, participants: int, options: PlanOptions, *, model: int, baseline: int
) -> float:
    """Share of simulated studies of this many participants that find the preference."""
    rng = np.random.default_rng([options.seed, participants])
    found = 0
    for start in range(0, options.simulations, _BATCH):
        studies = min(_BATCH, options.simulations - start)
        blocks = simulate_blocks(worth, participants, studies, options, rng)
        found += int(headline_found(blocks, model, baseline).sum())
    return found / options.simulations


def participants_needed(
    worth: np.ndarray, options: PlanOptions, *, model: int, baseline: int
) -> tuple[int | None, float]:
    """(smallest participants reaching the power, its power); (None, best power) when
    even MAX_PARTICIPANTS does not reach it."""
    if not 0 < options.power < 1:
        raise ValueError(BAD_POWER.format(power=options.power))
    known: dict[int, float] = {}

    def at(n: int) -> float:
        if n not in known:
            known[n] = power(worth, n, options, model=model, baseline=baseline)
        return known[n]

    low, high = 2, 4
    while at(high) < options.power:
        if high >= MAX_PARTICIPANTS:
            return None, known[high]
        low, high = high, min(2 * high, MAX_PARTICIPANTS)
    while high - low > 1:  # at(low) < power <= at(high)
        middle = (low + high) // 2
        if at(middle) >= options.power:
            high = middle
        else:
            low = middle
    return high, known[high]


def plan_table(
    worths: dict[str, np.ndarray],
    variants: list[str],
    options: PlanOptions,
    *,
    model: str,
    baseline: str,
) -> pd.DataFrame:
    """Per country: the model's Plackett-Luce share over the baseline, participants
    needed and the power reached there."""
    m, b = variants.index(model), variants.index(baseline)
    rows = []
    for country, worth in worths.items():
        needed, reached = participants_needed(worth, options, model=m, baseline=b)
        rows.append(
            {
                "country": country,
                "share_model_better": worth[m] / (worth[m] + worth[b]),
                "participants_needed": needed,
                "power": reached,
                "pages": needed * options.pages if needed else None,
            }
        )
    return pd.DataFrame(rows)
