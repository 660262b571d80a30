"""Measures of generated images: stereotype rate, motif fidelity, memorization, diversity.

Every measure comes with a 95% interval: Wilson's score interval for a share, a seeded
percentile bootstrap for a mean. Distances are root-mean-square pixel differences of
images shrunk to 32x32 (in [0, 1] units), which ignores the finest texture and keeps
position, shape and colour, the things that make one picture a copy of another.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

DISTANCE_SIZE = 32
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Estimate:
    """A value with its 95% interval."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:.2f} [{self.low:.2f}, {self.high:.2f}]"


def wilson(successes: int, total: int) -> Estimate:
    """A share with Wilson's 95% score interval (good for small counts and shares near 0)."""
    if total == 0:
        return Estimate(float("nan"), float("nan"), float("nan"))
    p = successes / total
    denom = 1 + Z95**2 / total
    centre = (p + Z95**2 / (2 * total)) / denom
    half = Z95 * math.sqrt(p * (1 - p) / total + Z95**2 / (4 * total**2)) / denom
    return Estimate(p, max(0.0, centre - half), min(1.0, centre + half))


def bootstrap_mean(values: np.ndarray, seed: int = 0, resamples: int = 2000) -> Estimate:
    """A mean with a percentile-bootstrap 95% interval (seeded, so it repeats)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return Estimate(float("nan"), float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (resamples, len(values)))].mean(1)
    low, high = np.percentile(means, [2.5, 97.5])
    return Estimate(float(values.mean()), float(low), float(high))


def shrink(images: np.ndarray) -> np.ndarray:
    """(N, 64, 64, 3) uint8 or float images -> (N, 32*32*3) floats in [0, 1]."""
    x = images.astype(np.float32)
    if images.dtype == np.uint8:
        x = x / 255.0
    n, h, w, c = x.shape
    f = h // DISTANCE_SIZE
    x = x.reshape(n, DISTANCE_SIZE, f, DISTANCE_SIZE, f, c).mean(axis=(2, 4))
    return x.reshape(n, -1)


def pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """RMS distances between every shrunk image of `a` and of `b` -> (len(a), len(b))."""
    sq = (a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(sq, 0.0) / a.shape[1])


def nearest_community_distance(images: np.ndarray, community: np.ndarray) -> np.ndarray:
    """For each image, the distance to the nearest community image."""
    return pairwise_distances(shrink(images), shrink(community)).min(1)


def copy_threshold(community_decoded: np.ndarray, percentile: float = 5.0) -> float:
    """The distance below which an image counts as a near copy of a community image.

    Measured among the community images as the VAE decodes them (the only form in which
    a model can copy one): a near copy is closer to one community image than all but
    `percentile` % of community images are to their nearest *other* community image.
    """
    a = shrink(community_decoded)
    d = pairwise_distances(a, a)
    np.fill_diagonal(d, np.inf)
    return float(np.percentile(d.min(1), percentile))


def diversity(images: np.ndarray) -> float:
    """Mean distance between distinct images of one prompt (0 when all are the same)."""
    if len(images) < 2:
        raise ValueError("Diversity needs at least two images of the same prompt.")
    d = pairwise_distances(shrink(images), shrink(images))
    upper = np.triu_indices(len(images), k=1)
    return float(d[upper].mean())
