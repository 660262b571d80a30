"""Tests on participants' mean ranks and rater agreement.

The tests take the participant as the unit: each participant is one block holding
their mean rank of every variant over their pages (for one item), so a participant
who ranked many pages does not count as many independent people.

- Friedman test (scipy.stats.friedmanchisquare; pingouin.friedman for two variants)
  and Kendall's W, blocks = participants;
- pairwise Wilcoxon signed-rank tests (scipy.stats.wilcoxon) with Holm's correction
  (pingouin.multicomp). The family corrected together is the k(k-1)/2 pairs of one
  country (or the pooled group) and one survey item;
- Nemenyi post-hoc test for Friedman (scikit_posthocs.posthoc_nemenyi_friedman);
- Krippendorff's alpha at the ordinal level (krippendorff.alpha), raters = participants,
  units = (image set, variant), value = the rank given.
"""

from __future__ import annotations

import warnings

import krippendorff
import numpy as np
import pandas as pd
import pingouin
import scikit_posthocs
from scipy import stats as scipy_stats

from analysis.rankings import Rankings
from analysis.tallies import POOLED, Tallies

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


def hypothesis_tables(rankings: Rankings, scopes: list[Tallies]) -> dict[str, pd.DataFrame]:
    """The report's test tables: friedman, wilcoxon, nemenyi, agreement, cd_ranks.

    Each has scope and item columns; variants appear as keys and labels.
    """
    variants = np.asarray(rankings.variants, dtype=object)
    country_of = rankings.country_of_ranking()
    tables: dict[str, list[pd.DataFrame]] = {
        "friedman": [],
        "wilcoxon": [],
        "nemenyi": [],
        "agreement": [],
        "cd_ranks": [],
    }
    for scope in scopes:
        in_scope = (
            np.ones(len(country_of), dtype=bool)
            if scope.scope == POOLED
            else country_of == rankings.countries.index(scope.scope)
        )
        for i, item in enumerate(rankings.items):
            blocks = scope.mean_ranks[:, i, :]
            blocks = blocks[~np.isnan(blocks).any(axis=1)]
            key = {"scope": scope.scope, "item": item}
            tables["friedman"].append(pd.DataFrame([{**key, **friedman(blocks)}]))
            pairs = pairwise_wilcoxon(blocks)
            pairs.insert(0, "other", variants[pairs.pop("b")])
            pairs.insert(0, "variant", variants[pairs.pop("a")])
            tables["wilcoxon"].append(pairs.assign(**key, family=HOLM_FAMILY))
            tables["nemenyi"].append(_pair_table(nemenyi(blocks), variants).assign(**key))
            counts = unit_value_counts(rankings, in_scope & (rankings.item == i))
            alpha = ordinal_alpha(counts)
            tables["agreement"].append(
                pd.DataFrame(
                    [{**key, "units": len(counts), "ratings": int(counts.sum()), "alpha": alpha}]
                )
            )
            tables["cd_ranks"].append(
                pd.DataFrame(
                    {
                        **key,
                        "variant": variants,
                        "label": [rankings.label(v) for v in variants],
                        "average_rank": average_friedman_ranks(blocks) if len(blocks) else np.nan,
                    }
                )
            )
    out = {}
    for name, frames in tables.items():
        frame = pd.concat(frames, ignore_index=True)
        leading = ["scope", "item"]
        out[name] = frame[leading + [c for c in frame.columns if c not in leading]]
    return out


def _pair_table(p_values: np.ndarray, variants: np.ndarray) -> pd.DataFrame:
    k = len(variants)
    a, b = np.triu_indices(k, 1)
    return pd.DataFrame({"variant": variants[a], "other": variants[b], "p": p_values[a, b]})
