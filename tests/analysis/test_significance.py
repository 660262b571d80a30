"""Friedman, Kendall's W, Wilcoxon-Holm, Nemenyi and Krippendorff's alpha, against
reference calls and hand-computed cases."""

import krippendorff
import numpy as np
import pandas as pd
import pingouin
import pytest
from scipy import stats as scipy_stats

from analysis import agreement
from analysis import significance as stats
from analysis.bootstrap import POOLED, tally_scopes

# Five participants' mean ranks of three variants (rows = participants).
BLOCKS = np.array(
    [[1.0, 2.2, 2.8], [1.5, 1.9, 2.6], [1.2, 2.9, 1.9], [2.0, 1.1, 2.9], [1.1, 2.3, 2.6]]
)


def test_friedman_matches_scipy_and_kendalls_w_is_q_over_n_times_k_minus_1():
    result = stats.friedman(BLOCKS)
    reference = scipy_stats.friedmanchisquare(*BLOCKS.T)
    assert result["q"] == pytest.approx(reference.statistic)
    assert result["p"] == pytest.approx(reference.pvalue)
    n, k = BLOCKS.shape
    assert result["kendall_w"] == pytest.approx(reference.statistic / (n * (k - 1)))


def test_kendalls_w_is_one_when_every_participant_orders_the_variants_alike():
    alike = np.tile([1.0, 2.0, 3.0, 4.0], (6, 1))
    assert stats.friedman(alike)["kendall_w"] == pytest.approx(1.0)


def test_pairwise_wilcoxon_matches_scipy_and_holm_by_hand():
    table = stats.pairwise_wilcoxon(BLOCKS)
    raw = []
    for a, b in [(0, 1), (0, 2), (1, 2)]:
        reference = scipy_stats.wilcoxon(BLOCKS[:, a], BLOCKS[:, b])
        row = table[(table["a"] == a) & (table["b"] == b)].iloc[0]
        assert row["statistic"] == pytest.approx(reference.statistic)
        assert row["p"] == pytest.approx(reference.pvalue)
        raw.append(reference.pvalue)
    # Holm: sorted p-values times (m - i), made monotone, capped at 1.
    order = np.argsort(raw)
    adjusted = np.minimum(1, np.maximum.accumulate(np.array(raw)[order] * [3, 2, 1]))
    expected = np.empty(3)
    expected[order] = adjusted
    assert list(table["p_holm"]) == pytest.approx(list(expected))


def test_identical_columns_give_p_one_instead_of_an_error():
    same = np.column_stack([BLOCKS[:, 0], BLOCKS[:, 0]])
    assert stats.pairwise_wilcoxon(same)["p"].iloc[0] == 1.0


def test_nemenyi_p_values_follow_the_studentized_range_of_average_ranks():
    p = stats.nemenyi(BLOCKS)
    n, k = BLOCKS.shape
    average = stats.average_friedman_ranks(BLOCKS)
    z = abs(average[0] - average[2]) / np.sqrt(k * (k + 1) / (6 * n))
    expected = scipy_stats.studentized_range.sf(z * np.sqrt(2), k, np.inf)
    assert p[0, 2] == pytest.approx(expected, rel=1e-3)
    assert list(average) == pytest.approx(scipy_stats.rankdata(BLOCKS, axis=1).mean(axis=0))


def test_critical_difference_is_the_published_nemenyi_value_for_four_variants():
    # Demsar (2006): q_0.05 = 2.569 for k = 4, CD = q * sqrt(k(k+1)/(6N)).
    assert stats.nemenyi_critical_difference(4, 10) == pytest.approx(
        2.569 * np.sqrt(20 / 60), abs=1e-3
    )


def test_ordinal_alpha_from_counts_equals_krippendorff_on_the_raw_ratings():
    ratings = np.array(  # raters x units, NaN = not rated
        [[1, 2, 3, 4, 1, np.nan], [1, 2, 4, 3, 2, 2], [2, 1, 3, 4, np.nan, 3]], dtype=float
    )
    counts = np.stack(
        [np.bincount(u[~np.isnan(u)].astype(int) - 1, minlength=4) for u in ratings.T]
    )
    expected = krippendorff.alpha(
        reliability_data=ratings, level_of_measurement="ordinal", value_domain=[1, 2, 3, 4]
    )
    assert agreement.ordinal_alpha(counts) == pytest.approx(expected)


def test_perfect_agreement_gives_alpha_one_and_a_single_rater_gives_nan():
    assert agreement.ordinal_alpha(np.array([[3, 0, 0], [0, 3, 0], [0, 0, 3]])) == pytest.approx(1)
    assert np.isnan(agreement.ordinal_alpha(np.array([[1, 0, 0], [0, 1, 0]])))


def test_unit_value_counts_count_raters_per_image_and_rank(small_export, small_rankings):
    r = small_rankings
    culture = r.item == r.items.index("culture")
    counts = agreement.unit_value_counts(r, culture)
    rows = small_export[small_export["item"] == "culture"]
    expected = rows.groupby(["image_set", "variant", "rank"], observed=True).size()
    assert counts.sum() == len(rows)
    assert (
        len(counts) == expected.reset_index()[["image_set", "variant"]].drop_duplicates().shape[0]
    )


def test_hypothesis_tables_cover_every_scope_and_item_and_state_the_holm_family(small_rankings):
    tables = stats.hypothesis_tables(
        small_rankings, tally_scopes(small_rankings, n_boot=100, seed=0)
    )
    friedman = tables["friedman"]
    assert set(friedman["scope"]) == {"Korea", "Nigeria", POOLED}
    assert len(friedman) == 3 * 2
    assert (tables["wilcoxon"]["family"] == stats.HOLM_FAMILY).all()
    assert len(tables["wilcoxon"]) == 6 * 6  # 6 pairs per scope and item
    pooled = friedman[(friedman["scope"] == POOLED) & (friedman["item"] == "culture")].iloc[0]
    assert pooled["participants"] == 12


def long_blocks(blocks):
    n, k = blocks.shape
    return pd.DataFrame(
        {
            "participant": np.repeat(np.arange(n), k),
            "variant": np.tile(np.arange(k), n),
            "mean_rank": blocks.ravel(),
        }
    )


@pytest.mark.parametrize("columns", [[0, 1, 2], [0, 2]])
def test_friedman_and_kendalls_w_equal_pingouin_for_three_and_two_variants(columns):
    blocks = BLOCKS[:, columns]
    result = stats.friedman(blocks)
    reference = pingouin.friedman(
        long_blocks(blocks), dv="mean_rank", within="variant", subject="participant"
    ).iloc[0]
    assert result["q"] == pytest.approx(reference["Q"])
    assert result["p"] == pytest.approx(reference["p_unc"])
    assert result["kendall_w"] == pytest.approx(reference["W"])
