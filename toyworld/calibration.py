"""Fitting the detectors and measuring their accuracy on fresh images through the VAE.

Training and test images come from disjoint seed ranges of the same balanced mix
(every motif, every category, clean and grimy), and both are passed through the VAE
first, because the detectors will judge decoded images, never the procedural originals.
"""

from __future__ import annotations

import numpy as np

from toyworld.detectors import (
    Detectors,
    detector_accuracy,
    detector_depictions,
    fit_detectors,
)
from toyworld.sampling import through_vae
from toyworld.world import render_array

TRAIN_SEED, TEST_SEED = 11, 12  # disjoint seed ranges: the test images are never fitted


def decoded_depictions(vae, count: int, seed: int):
    """`count` balanced depictions, rendered and passed through `vae`."""
    items = detector_depictions(count, seed)
    depictions = [d for d, _ in items]
    images = np.stack([render_array(d, s) for d, s in items])
    return through_vae(vae, images), depictions


def fit_and_measure(vae, train_count: int = 3000, test_count: int = 600) -> Detectors:
    """Fit both detectors and record their accuracy on fresh decoded images."""
    train_images, train_depictions = decoded_depictions(vae, train_count, TRAIN_SEED)
    detectors = fit_detectors(train_images, train_depictions)
    test_images, test_depictions = decoded_depictions(vae, test_count, TEST_SEED)
    detectors.accuracy = detector_accuracy(detectors, test_images, test_depictions)
    detectors.accuracy["test_images"] = test_count
    return detectors
