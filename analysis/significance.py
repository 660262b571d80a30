"""Significance tests on participants' mean ranks, and the checks a careful reader asks
for: position bias and differences between countries.

The tests take the participant as the unit: each participant is one block holding
their mean rank of every variant over their pages (for one item), so a participant
who ranked many pages does not count as many independent people.

- Friedman test (scipy.stats.friedmanchisquare; pingouin.friedman for two variants)
  and Kendall's W, blocks = participants;
- pairwise Wilcoxon signed-rank tests (scipy.stats.wilcoxon) with Holm's correction
  (pingouin.multicomp). The family corrected together is the k(k-1)/2 pairs of one
  country (or the pooled group) and one survey item;
- Nemenyi post-hoc test for Friedman (scikit_posthocs.posthoc_nemenyi_friedman);
- position bias: the Friedman test with display positions in place of variants (the
  rank each participant gave, on average, to the image shown first, second, ...);
- country differences: a permutation test of participants' mean-rank vectors across
  countries (country labels shuffled over participants, which keeps each participant's
  pages together).

Rater agreement (Krippendorff's alpha) is in :mod:`analysis.agreement`.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pingouin
import scikit_posthocs
from scipy import stats as scipy_stats

from analysis.bootstrap import ALL_QUESTIONS, POOLED, Tallies, scope_item_table
from analysis.rankings import Rankings

SIGNIFICANCE = 0.05
HOLM_FAMILY = "all pairs of variants within one country (or all countries) and one item"


def friedman(mean_ranks: np.ndarray) -> dict[str, float]:
    """Friedman test on a (participants, variants) array of mean ranks.

    Returns participants, q (chi-square statistic), dof, p, kendall_w and nemenyi_cd
    (the critical difference of average ranks); NaN statistics below two participants.
    """
    n, k = mean_ranks.shape
    result = {
        "participants": n,
        "q": np.nan,
        "dof": k - 1,
        "p": np.nan,
        "kendall_w": np.nan,
        "nemenyi_cd": nemenyi_critical_difference(k, n),
    }
    if n < 2:
        return result
    if k >= 3:
        test = scipy_stats.friedmanchisquare(*mean_ranks.T)
        q, p = float(test.statistic), float(test.pvalue)
        # Kendall's W from Q (tie-corrected as Q is): W = Q / (n (k - 1)).
        result.update(q=q, p=p, kendall_w=q / (n * (k - 1)))
        return result
    # scipy needs three variants; pingouin's Friedman also covers two.
    long = pd.DataFrame(
        {
            "participant": np.repeat(np.arange(n), k),
            "variant": np.tile(np.arange(k), n),
            "mean_rank": mean_ranks.ravel(),
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-tied blocks: W is 0/0
        table = pingouin.friedman(long, dv="mean_rank", within="variant", subject="participant")
    row = table.iloc[0]
    result.update(q=float(row["Q"]), p=float(row["p_unc"]), kendall_w=float(row["W"]))
    return result


def pairwise_wilcoxon(mean_ranks: np.ndarray) -> pd.DataFrame:
    """Wilcoxon signed-rank test for every pair of variant columns, Holm-corrected
    within this one family of pairs: a, b, participants, statistic, p, p_holm,
    significant, median_difference (a minus b; negative = a ranked better)."""
    n, k = mean_ranks.shape
    rows = []
    for a in range(k):
        for b in range(a + 1, k):
            difference = mean_ranks[:, a] - mean_ranks[:, b]
            if n < 2 or np.all(difference == 0):
                statistic, p = np.nan, 1.0 if n >= 2 else np.nan
            else:
                test = scipy_stats.wilcoxon(
                    mean_ranks[:, a], mean_ranks[:, b], method=_wilcoxon_method(difference)
                )
                statistic, p = float(test.statistic), float(test.pvalue)
            rows.append(
                {
                    "a": a,
                    "b": b,
                    "participants": n,
                    "statistic": statistic,
                    "p": p,
                    "median_difference": float(np.median(difference)) if n else np.nan,
                }
            )
    table = pd.DataFrame(rows)
    tested = table["p"].notna()
    table["p_holm"] = np.nan
    table["significant"] = False
    if tested.any():
        reject, corrected = pingouin.multicomp(
            table.loc[tested, "p"].to_numpy(), alpha=SIGNIFICANCE, method="holm"
        )
        table.loc[tested, "p_holm"] = corrected
        table.loc[tested, "significant"] = reject
    return table


def _wilcoxon_method(difference: np.ndarray) -> str:
    """The exact null distribution for small samples without zeros or tied differences;
    the normal approximation otherwise. Said explicitly because scipy's 'auto' falls back
    to a permutation test with ties, which costs seconds per pair and adds nothing here."""
    magnitudes = np.abs(difference)
    clean = np.all(magnitudes > 0) and len(np.unique(magnitudes)) == len(magnitudes)
    return "exact" if clean and len(difference) <= 50 else "asymptotic"


def nemenyi(mean_ranks: np.ndarray) -> np.ndarray:
    """(k, k) p-values of the Nemenyi post-hoc test for Friedman; NaN below 2 participants."""
    n, k = mean_ranks.shape
    if n < 2:
        return np.full((k, k), np.nan)
    return scikit_posthocs.posthoc_nemenyi_friedman(mean_ranks).to_numpy()


def nemenyi_critical_difference(k: int, participants: int) -> float:
    """Nemenyi's critical difference (alpha 0.05): two variants whose average Friedman
    ranks differ by more than this differ significantly (Demsar 2006)."""
    if participants < 2:
        return np.nan
    q = scipy_stats.studentized_range.ppf(1 - SIGNIFICANCE, k, np.inf) / np.sqrt(2)
    return float(q * np.sqrt(k * (k + 1) / (6 * participants)))


def average_friedman_ranks(mean_ranks: np.ndarray) -> np.ndarray:
    """Each variant's rank within a participant's block, averaged over participants
    (the positions of a critical-difference diagram)."""
    return scipy_stats.rankdata(mean_ranks, axis=1).mean(axis=0)


def blocks(scope: Tallies, i: int) -> np.ndarray:
    """(participants, k) mean ranks of the participants with a page for item slot i."""
    mean_ranks = scope.mean_ranks[:, i, :]
    return mean_ranks[~np.isnan(mean_ranks).any(axis=1)]


def friedman_table(
    rankings: Rankings, scopes: list[Tallies], *, all_questions: bool = False
) -> pd.DataFrame:
    """Friedman test and Kendall's W per scope and item (participants as blocks)."""
    return scope_item_table(
        rankings,
        scopes,
        lambda scope, i: pd.DataFrame([friedman(blocks(scope, i))]),
        all_questions=all_questions,
    )


def wilcoxon_table(rankings: Rankings, scopes: list[Tallies]) -> pd.DataFrame:
    """Holm-corrected pairwise Wilcoxon tests per scope and item."""
    variants = np.asarray(rankings.variants, dtype=object)

    def rows(scope: Tallies, i: int) -> pd.DataFrame:
        pairs = pairwise_wilcoxon(blocks(scope, i))
        pairs.insert(0, "other", variants[pairs.pop("b")])
        pairs.insert(0, "variant", variants[pairs.pop("a")])
        return pairs.assign(family=HOLM_FAMILY)

    return scope_item_table(rankings, scopes, rows)


def nemenyi_table(rankings: Rankings, scopes: list[Tallies]) -> pd.DataFrame:
    """Nemenyi p-value of each pair of variants per scope and item."""
    variants = np.asarray(rankings.variants, dtype=object)
    a, b = np.triu_indices(len(variants), 1)

    def rows(scope: Tallies, i: int) -> dict:
        p = nemenyi(blocks(scope, i))
        return {"variant": variants[a], "other": variants[b], "p": p[a, b]}

    return scope_item_table(rankings, scopes, rows)


def cd_ranks_table(rankings: Rankings, scopes: list[Tallies]) -> pd.DataFrame:
    """Average Friedman rank of each variant per scope and item (the CD diagram)."""
    labels = [rankings.label(v) for v in rankings.variants]

    def rows(scope: Tallies, i: int) -> dict:
        b = blocks(scope, i)
        return {
            "variant": rankings.variants,
            "label": labels,
            "average_rank": average_friedman_ranks(b) if len(b) else np.nan,
        }

    return scope_item_table(rankings, scopes, rows)


def hypothesis_tables(rankings: Rankings, scopes: list[Tallies]) -> dict[str, pd.DataFrame]:
    """The report's test tables: friedman, wilcoxon, nemenyi, cd_ranks."""
    return {
        "friedman": friedman_table(rankings, scopes),
        "wilcoxon": wilcoxon_table(rankings, scopes),
        "nemenyi": nemenyi_table(rankings, scopes),
        "cd_ranks": cd_ranks_table(rankings, scopes),
    }


# --- position bias -------------------------------------------------------------------


def position_blocks(rankings: Rankings, selected: np.ndarray) -> np.ndarray:
    """(participants, k) mean rank each participant gave the image at each display
    position, over the selected rankings (a boolean mask)."""
    k = rankings.k
    positions = rankings.positions[selected]
    ranks = rankings.ranks[selected]
    rank_at = np.zeros_like(ranks)
    np.put_along_axis(rank_at, positions - 1, ranks, axis=1)
    participant_codes, owner = np.unique(rankings.participant[selected], return_inverse=True)
    sums = np.stack(
        [
            np.bincount(owner, weights=rank_at[:, p], minlength=len(participant_codes))
            for p in range(k)
        ],
        axis=1,
    )
    pages = np.bincount(owner, minlength=len(participant_codes))
    return sums / pages[:, None]


def position_bias_table(rankings: Rankings, scopes: list[Tallies]) -> pd.DataFrame:
    """Rank by display position per scope and item: one row per position with the mean
    rank of the image shown there, and the Friedman test of positions (blocks =
    participants; p small = the place on the page moved the ranks). Empty when the
    export has no position column."""
    if not rankings.has_positions:
        return pd.DataFrame(
            columns=["scope", "item", "position", "mean_rank", "participants", "q", "p"]
        )
    members = {scope.scope: np.isin(rankings.participant, scope.members) for scope in scopes}

    def rows(scope: Tallies, i: int) -> dict:
        selected = members[scope.scope]
        if i < len(rankings.items):
            selected = selected & (rankings.item == i)
        b = position_blocks(rankings, selected)
        test = friedman(b)
        pages = selected.sum()
        mean = (
            np.bincount(
                (rankings.positions[selected] - 1).ravel(),
                weights=rankings.ranks[selected].ravel(),
                minlength=rankings.k,
            )
            / pages
        )
        return {
            "position": np.arange(1, rankings.k + 1),
            "mean_rank": mean,
            "participants": len(b),
            "q": test["q"],
            "p": test["p"],
        }

    per_item = scope_item_table(rankings, scopes, rows)
    together = scope_item_table(rankings, scopes, rows, all_questions=True)
    return pd.concat([per_item, together], ignore_index=True)


# --- differences between countries ----------------------------------------------------

#: Permutations of the country test (the p-value's resolution is 1 / (this + 1)).
COUNTRY_PERMUTATIONS = 2000
_PERMUTATION_BLOCK = 100


def country_permutation_test(
    mean_ranks: np.ndarray, country: np.ndarray, *, permutations: int, seed: int
) -> tuple[float, float]:
    """(statistic, p) of the test that countries share one preference.

    mean_ranks: (participants, k) each participant's mean rank of each variant;
    country: (participants,) country codes. The statistic is the between-country sum of
    squares of the mean-rank vectors, sum over countries of n_c |mean_c - mean|^2; the
    null distribution shuffles the country labels over participants, so each
    participant's pages stay together. p = (1 + #{shuffled >= observed}) / (1 + R).
    """
    centred = mean_ranks - mean_ranks.mean(axis=0)
    _, group = np.unique(country, return_inverse=True)
    onehot = np.eye(group.max() + 1)[group]  # (P, C)
    sizes = onehot.sum(axis=0)

    def statistic(sums: np.ndarray) -> np.ndarray:  # sums: (..., C, k)
        return ((sums**2).sum(-1) / sizes).sum(-1)

    observed = float(statistic(onehot.T @ centred))
    rng = np.random.default_rng(seed)
    at_least = 0
    for start in range(0, permutations, _PERMUTATION_BLOCK):
        n = min(_PERMUTATION_BLOCK, permutations - start)
        shuffled = np.argsort(rng.random((n, len(centred))), axis=1)
        sums = np.einsum("pc,bpk->bck", onehot, centred[shuffled])
        at_least += int((statistic(sums) >= observed - 1e-12).sum())
    return observed, (1 + at_least) / (1 + permutations)


def country_test_table(rankings: Rankings, scopes: list[Tallies], *, seed: int = 0) -> pd.DataFrame:
    """Whether preferences differ between countries, per item and all questions: the
    permutation test on the pooled scope's participants. Empty with one country."""
    pooled = next(s for s in scopes if s.scope == POOLED)
    countries = len(scopes) - 1
    rows = []
    if countries >= 2:
        items = [*rankings.items, ALL_QUESTIONS]
        for i, item in enumerate(items):
            mean_ranks = pooled.mean_ranks[:, i, :]
            has = ~np.isnan(mean_ranks).any(axis=1)
            country = rankings.participant_country[pooled.members[has]]
            if len(np.unique(country)) < 2:
                continue
            stat, p = country_permutation_test(
                mean_ranks[has], country, permutations=COUNTRY_PERMUTATIONS, seed=seed + i
            )
            rows.append(
                {
                    "item": item,
                    "countries": len(np.unique(country)),
                    "participants": int(has.sum()),
                    "statistic": stat,
                    "permutations": COUNTRY_PERMUTATIONS,
                    "p": p,
                }
            )
    columns = ["item", "countries", "participants", "statistic", "permutations", "p"]
    return pd.DataFrame(rows, columns=columns)
