"""Descriptive rank statistics against numpy/scipy on the rows, and the participant
bootstrap."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis import descriptive as ranks
from analysis.bootstrap import POOLED, tally_scopes
from analysis.export import normalise_export
from analysis.rankings import rankings_from_export
from analysis.simulate import simulate_export


def counts_of(values, k=4):
    return np.bincount(np.asarray(values) - 1, minlength=k)


@pytest.mark.parametrize("values", [[1, 2, 2, 4], [3], [1, 1, 4, 4, 2], [2, 3, 3, 3, 4, 1]])
def test_mean_median_and_standard_error_from_counts_match_the_raw_ranks(values):
    counts = counts_of(values)
    assert ranks.mean_rank(counts) == pytest.approx(np.mean(values))
    assert ranks.median_rank(counts[None, :])[0] == np.median(values)
    if len(values) > 1:
        assert ranks.rank_standard_error(counts) == pytest.approx(stats.sem(values))


def test_first_share_and_preference_share_on_a_hand_counted_case():
    # Three pages ranking A, B, C: (1,2,3), (2,1,3), (1,3,2).
    pages = np.array([[1, 2, 3], [2, 1, 3], [1, 3, 2]])
    counts = np.stack([counts_of(pages[:, v], 3) for v in range(3)])
    assert list(ranks.first_share(counts)) == pytest.approx([2 / 3, 1 / 3, 0])
    wins = np.array([[(pages[:, a] < pages[:, b]).sum() for b in range(3)] for a in range(3)])
    share = ranks.preference_share(wins)
    assert share[0, 1] == pytest.approx(2 / 3)  # A better than B on pages 1 and 3
    assert share[1, 2] == pytest.approx(2 / 3)
    assert share[2, 1] == pytest.approx(1 / 3)
    assert np.isnan(share[0, 0])


def test_summary_tables_agree_with_a_groupby_on_the_export_rows(small_export, small_rankings):
    scopes = tally_scopes(small_rankings, n_boot=200, seed=0)
    summary = ranks.rank_summary(small_rankings, scopes)
    by_rows = small_export.groupby(["country", "item", "variant"], observed=True)["rank"]
    for (country, item, variant), values in by_rows:
        row = summary[
            (summary["scope"] == country)
            & (summary["item"] == item)
            & (summary["variant"] == variant)
        ].iloc[0]
        assert row["mean_rank"] == pytest.approx(values.mean())
        assert row["median_rank"] == values.median()
        assert row["se_rank"] == pytest.approx(stats.sem(values))
        assert row["first_share"] == pytest.approx((values == 1).mean())
        assert row["pages"] == len(values)
        assert row["mean_ci_low"] <= row["mean_rank"] <= row["mean_ci_high"]
    pooled = summary[summary["scope"] == POOLED]
    pooled_means = small_export.groupby(["item", "variant"], observed=True)["rank"].mean()
    for _, row in pooled.iterrows():
        assert row["mean_rank"] == pytest.approx(pooled_means[(row["item"], row["variant"])])
        assert row["participants"] == 12


def test_pairwise_preference_counts_pages_where_one_variant_beat_the_other(
    small_export, small_rankings
):
    scopes = tally_scopes(small_rankings, n_boot=200, seed=0)
    table = ranks.pairwise_preference(small_rankings, scopes)
    wide = small_export.pivot_table(
        index=["participant", "image_set", "item"],
        columns="variant",
        values="rank",
        observed=True,
    ).reset_index()
    for item in ("culture", "stereotypes"):
        pages = wide[wide["item"] == item]
        expected = (pages["scoft-mpc"] < pages["pretrained"]).mean()
        row = table[
            (table["scope"] == POOLED)
            & (table["item"] == item)
            & (table["variant"] == "scoft-mpc")
            & (table["other"] == "pretrained")
        ].iloc[0]
        assert row["share_better"] == pytest.approx(expected)
        assert row["ci_low"] <= expected <= row["ci_high"]
    reverse = table.set_index(["scope", "item", "variant", "other"])["share_better"]
    for (scope, item, a, b), share in reverse.items():
        assert share + reverse[(scope, item, b, a)] == pytest.approx(1)


def test_the_bootstrap_resamples_participants_not_pages():
    # One participant with many pages: resampling participants can only redraw that
    # participant, so the interval has no width; a page bootstrap would give one.
    one = simulate_export(
        participants_per_country=1,
        pages_per_participant=20,
        countries=("Korea",),
        items=("culture",),
        image_sets_per_country=20,
    )
    r = rankings_from_export(normalise_export(one))
    summary = ranks.rank_summary(r, tally_scopes(r, n_boot=300, seed=1))
    assert (summary["mean_ci_low"] == summary["mean_rank"]).all()
    assert (summary["mean_ci_high"] == summary["mean_rank"]).all()


def test_participants_who_always_agree_give_a_wider_interval_than_independent_pages():
    # Same pages and noise, but a strong per-participant taste makes a participant's
    # pages alike: the participant bootstrap must see that as less information.
    common = dict(
        participants_per_country=15,
        pages_per_participant=20,
        countries=("Korea",),
        items=("culture",),
        image_sets_per_country=20,
        seed=5,
    )
    widths = []
    for taste in (0.0, 2.0):
        r = rankings_from_export(
            normalise_export(simulate_export(participant_taste=taste, **common))
        )
        s = ranks.rank_summary(r, tally_scopes(r, n_boot=400, seed=2))
        s = s[s["scope"] == POOLED]
        widths.append(float((s["mean_ci_high"] - s["mean_ci_low"]).mean()))
    assert widths[1] > 1.5 * widths[0]


def test_the_same_seed_gives_the_same_intervals(small_rankings):
    first = ranks.rank_summary(small_rankings, tally_scopes(small_rankings, n_boot=200, seed=4))
    again = ranks.rank_summary(small_rankings, tally_scopes(small_rankings, n_boot=200, seed=4))
    pd.testing.assert_frame_equal(first, again)
