"""Simulated participants with a known preference are recovered, and with no
preference the Friedman test rejects about 5% of the time."""

import numpy as np
from scipy import stats as scipy_stats

from analysis.bootstrap import POOLED, tally_scopes
from analysis.descriptive import rank_summary
from analysis.export import normalise_export
from analysis.rankings import rankings_from_export
from analysis.significance import hypothesis_tables
from analysis.simulate import simulate_export
from analysis.worth import worth_table

TRUE_ORDER = ["scoft-mpc", "scoft-mp", "scoft-m", "pretrained"]  # best first


def test_a_known_preference_order_is_recovered_with_a_small_p_value():
    export = simulate_export(
        participants_per_country=8,
        pages_per_participant=8,
        countries=("China", "Mexico"),
        preference=(0.0, 0.5, 1.0, 1.5),
        participant_taste=0.3,
        seed=11,
    )
    r = rankings_from_export(normalise_export(export))
    scopes = tally_scopes(r, n_boot=200, seed=0)
    summary = rank_summary(r, scopes)
    worth = worth_table(r, scopes)
    tests = hypothesis_tables(r, scopes)
    for item in r.items:
        at = (summary["scope"] == POOLED) & (summary["item"] == item)
        by_mean = list(summary[at].sort_values("mean_rank")["variant"])
        assert by_mean == TRUE_ORDER
        at = (worth["scope"] == POOLED) & (worth["item"] == item)
        assert list(worth[at].sort_values("worth", ascending=False)["variant"]) == TRUE_ORDER
        row = tests["friedman"][
            (tests["friedman"]["scope"] == POOLED) & (tests["friedman"]["item"] == item)
        ].iloc[0]
        assert row["p"] < 1e-4
        assert row["kendall_w"] > 0.3


def test_with_no_preference_the_friedman_test_rejects_about_five_percent():
    # 300 independent small studies (one per "country": 12 participants x 6 pages).
    n_studies = 300
    export = simulate_export(
        participants_per_country=12,
        pages_per_participant=6,
        countries=[f"c{i:03d}" for i in range(n_studies)],
        items=("culture",),
        preference=(0.0, 0.0, 0.0, 0.0),
        image_sets_per_country=12,
        seed=2024,
    )
    r = rankings_from_export(normalise_export(export))
    scopes = [s for s in tally_scopes(r, n_boot=1, seed=0) if s.scope != POOLED]
    assert len(scopes) == n_studies
    # scipy directly on the participants' mean ranks (stats.friedman equals it, see
    # test_stats), to keep 300 tests fast.
    p = np.array([scipy_stats.friedmanchisquare(*s.mean_ranks[:, 0, :].T).pvalue for s in scopes])
    rate = (p < 0.05).mean()
    # Binomial(300, 0.05) lies in [0.027, 0.077] with 95% probability.
    assert 0.02 <= rate <= 0.085, rate
