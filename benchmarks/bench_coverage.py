"""Measured coverage of the report's 95% participant-bootstrap intervals at small n.

Run from the project folder:

    .venv/bin/python benchmarks/bench_coverage.py [--studies 400] [--sizes 2,5,10,20,50]

For each number of participants n, it simulates `--studies` independent studies of n
participants (10 pages each, one question, the published study's four variants and
preferences, participants with tastes of their own, SD 0.3), computes the report's
intervals exactly as the report does (each study is one country of one simulated
export, so the report's own tallies and bootstrap run), and prints the share of
intervals holding the true value: the headline preference share (full model ranked
better than the base model) and the full model's mean rank. The true values come from
one simulation of 40,000 participants. 95% is the nominal coverage; the ratio column
is measured coverage / 0.95. docs/analysis.md and the report quote these numbers.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis.bootstrap import POOLED, tally_scopes
from analysis.descriptive import pairwise_preference, rank_summary
from analysis.export import normalise_export
from analysis.rankings import rankings_from_export
from analysis.simulate import simulate_export
from study.names import BASELINE_VARIANT, FULL_METHOD_VARIANT

PAGES = 10
TASTE = 0.3
BOOTSTRAP = 1000


def simulated(participants: int, studies: int, seed: int):
    export = simulate_export(
        participants_per_country=participants,
        pages_per_participant=PAGES,
        countries=[f"S{i:05d}" for i in range(studies)],
        items=("culture",),
        participant_taste=TASTE,
        image_sets_per_country=PAGES,
        seed=seed,
    )
    return rankings_from_export(normalise_export(export))


def truth() -> tuple[float, float]:
    """(headline share, full model's mean rank) of the simulated population."""
    r = simulated(40_000, 1, seed=999)
    scopes = tally_scopes(r, n_boot=1, seed=0)
    pairs = pairwise_preference(r, scopes)
    summary = rank_summary(r, scopes)
    share = pairs[(pairs["variant"] == FULL_METHOD_VARIANT) & (pairs["other"] == BASELINE_VARIANT)]
    mean = summary[summary["variant"] == FULL_METHOD_VARIANT]
    return float(share["share_better"].iloc[0]), float(mean["mean_rank"].iloc[0])


def coverage(participants: int, studies: int, true_share: float, true_mean: float):
    r = simulated(participants, studies, seed=participants)
    scopes = [s for s in tally_scopes(r, n_boot=BOOTSTRAP, seed=1) if s.scope != POOLED]
    pairs = pairwise_preference(r, scopes)
    pairs = pairs[(pairs["variant"] == FULL_METHOD_VARIANT) & (pairs["other"] == BASELINE_VARIANT)]
    summary = rank_summary(r, scopes)
    summary = summary[summary["variant"] == FULL_METHOD_VARIANT]
    share_ok = (pairs["ci_low"] <= true_share) & (true_share <= pairs["ci_high"])
    mean_ok = (summary["mean_ci_low"] <= true_mean) & (true_mean <= summary["mean_ci_high"])
    return share_ok.mean(), mean_ok.mean()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=400)
    parser.add_argument("--sizes", default="2,5,10,20,50")
    args = parser.parse_args()
    started = time.perf_counter()
    true_share, true_mean = truth()
    print(f"true headline share {true_share:.4f}, true mean rank {true_mean:.4f}")
    print(f"{'participants':>12} {'share cover':>12} {'mean cover':>11} {'ratio':>6}")
    for n in (int(s) for s in args.sizes.split(",")):
        share, mean = coverage(n, args.studies, true_share, true_mean)
        print(f"{n:>12} {share:>12.1%} {mean:>11.1%} {share / 0.95:>6.3f}", flush=True)
    print(f"{args.studies} studies per size, {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
