import numpy as np
import pytest
from scipy.stats import binomtest

from toyworld.measures import (
    bootstrap_mean,
    copy_threshold,
    diversity,
    nearest_community_distance,
    pairwise_distances,
    shrink,
    wilson,
)


def test_wilson_interval_matches_scipys_score_interval():
    ours = wilson(7, 20)
    theirs = binomtest(7, 20).proportion_ci(method="wilson")
    assert ours.value == pytest.approx(0.35)
    assert (ours.low, ours.high) == pytest.approx((theirs.low, theirs.high))


def test_a_share_of_zero_still_has_an_upper_bound():
    estimate = wilson(0, 30)
    assert estimate.low == 0.0 and 0.0 < estimate.high < 0.15


def test_bootstrap_interval_contains_the_mean_and_repeats():
    values = np.random.default_rng(0).normal(2.0, 1.0, 200)
    first, second = bootstrap_mean(values), bootstrap_mean(values)
    assert first == second
    assert first.low < values.mean() < first.high


def test_distance_is_the_root_mean_square_pixel_difference():
    a = np.zeros((1, 64, 64, 3), np.uint8)
    b = np.full((1, 64, 64, 3), 51, np.uint8)  # 51/255 = 0.2 everywhere
    assert pairwise_distances(shrink(a), shrink(b))[0, 0] == pytest.approx(0.2, abs=1e-5)


def test_an_exact_copy_of_a_community_image_has_distance_zero():
    rng = np.random.default_rng(1)
    community = rng.integers(0, 256, (5, 64, 64, 3), dtype=np.uint8)
    assert nearest_community_distance(community[2:3], community)[0] == pytest.approx(0, abs=1e-3)


def test_the_copy_threshold_is_a_low_percentile_of_community_nearest_neighbour_distances():
    community = np.zeros((3, 64, 64, 3), np.uint8)
    community[1] = 51  # 0.2 from the first
    community[2] = 153  # 0.4 from the second, 0.6 from the first
    assert copy_threshold(community, percentile=0) == pytest.approx(0.2, abs=1e-5)
    assert copy_threshold(community, percentile=100) == pytest.approx(0.4, abs=1e-5)


def test_identical_images_have_no_diversity_and_different_ones_do():
    same = np.zeros((4, 64, 64, 3), np.uint8)
    assert diversity(same) == pytest.approx(0.0, abs=1e-4)
    varied = np.random.default_rng(2).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    assert diversity(varied) > 0.2
