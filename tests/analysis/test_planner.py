"""The planner's power estimate against a brute-force simulation through the report's
own path (simulator, export reader, tallies, Wilcoxon table), and its command line."""

import numpy as np
import pytest

from analysis import planner
from analysis.__main__ import main
from analysis.bootstrap import POOLED, tally_scopes
from analysis.export import normalise_export
from analysis.rankings import rankings_from_export
from analysis.significance import wilcoxon_table
from analysis.simulate import simulate_export

VARIANTS = ["base", "middle", "model"]
OPTIONS = planner.PlanOptions(power=0.8, pages=3, simulations=2000, seed=5)


def brute_force_power(worth, participants, studies, seed):
    """Share of simulated studies whose report finds the model preferred: every study
    is one 'country' of one large simulated export, tested as the report tests it."""
    export = simulate_export(
        participants_per_country=participants,
        pages_per_participant=OPTIONS.pages,
        countries=[f"S{i:04d}" for i in range(studies)],
        variants=VARIANTS,
        items=("culture",),
        preference=np.log(worth),
        image_sets_per_country=OPTIONS.pages,
        seed=seed,
    )
    rankings = rankings_from_export(normalise_export(export))
    scopes = [s for s in tally_scopes(rankings, n_boot=1, seed=0) if s.scope != POOLED]
    tests = wilcoxon_table(rankings, scopes)
    headline = tests[(tests["variant"] == "base") & (tests["other"] == "model")]
    found = headline["significant"] & (headline["median_difference"] > 0)
    assert len(headline) == studies
    return found.mean()


def test_the_power_estimate_is_within_three_points_of_brute_force():
    worth = planner.worths_from_share(0.7, len(VARIANTS))
    needed, estimate = planner.participants_needed(worth, OPTIONS, model=2, baseline=0)
    assert needed is not None and estimate >= 0.8
    brute = brute_force_power(worth, needed, studies=1500, seed=11)
    assert abs(estimate - brute) <= 0.03, (needed, estimate, brute)
    # One participant fewer falls short of the target (the search is for the smallest).
    assert planner.power(worth, needed - 1, OPTIONS, model=2, baseline=0) < 0.8


def test_a_stronger_preference_needs_fewer_participants():
    small = planner.participants_needed(
        planner.worths_from_share(0.8, 3), OPTIONS, model=2, baseline=0
    )[0]
    large = planner.participants_needed(
        planner.worths_from_share(0.6, 3), OPTIONS, model=2, baseline=0
    )[0]
    assert small < large


def test_the_share_gives_worths_whose_pair_has_that_share():
    worth = planner.worths_from_share(0.65, 4)
    assert worth[-1] / (worth[-1] + worth[0]) == pytest.approx(0.65)
    with pytest.raises(ValueError, match="between 0.5 and 1"):
        planner.worths_from_share(0.4, 4)


def test_plan_reads_a_pilot_export_and_prints_one_line_per_country(tmp_path, capsys):
    pilot = simulate_export(participants_per_country=8, pages_per_participant=4, seed=2)
    path = tmp_path / "pilot.parquet"
    pilot.to_parquet(path)
    status = main(["plan", "--pilot", str(path), "--simulations", "200"])
    out = capsys.readouterr().out
    assert status == 0
    assert "scoft-mpc against pretrained" in out
    for name in ("China", "India", "Korea", "Mexico", "Nigeria"):
        assert name in out


def test_plan_without_a_source_is_one_line(capsys):
    assert main(["plan"]) == 2
    assert capsys.readouterr().err == "error: Give --pilot EXPORT or --share S, the " \
        "preference share to detect.\n"
