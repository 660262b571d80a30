"""How a simulated participant ranks: a noisy preference from the toy world's detectors.

A participant of a culture looks at each image for two things the toy world's
detectors measure: does it show their culture's own motif (the motif detector's
probability of that culture), and does it show the stereotype (the grime detector's
probability). Each survey item weighs the two differently (the stereotype item cares
most about grime, the cultural item about the motif); Gumbel noise on each utility
makes the order a draw from a Plackett-Luce model, so rankings disagree as real
people's do, and more often the closer two images are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from toyworld.detectors import MOTIF_LABELS, Detectors, image_features
from toyworld.world import IMAGE_SIZE

# (weight of "shows my culture's motif", weight of "shows the stereotype") per item,
# matched on words of the survey item's key; rank 1 is the best end of every item.
ITEM_WEIGHTS: tuple[tuple[str, tuple[float, float]], ...] = (
    ("align", (2.0, -0.5)),  # description alignment: the right object of the right culture
    ("cultur", (3.0, -1.0)),  # cultural representation
    ("stereo", (1.0, -3.0)),  # least stereotypical
    ("offen", (1.0, -2.0)),  # least offensive
)
DEFAULT_WEIGHTS = (2.0, -2.0)
UNKNOWN_CULTURE = "The simulated participant's culture {name!r} is not one of {known}."


@dataclass(frozen=True)
class ImageJudgement:
    """What the detectors see in each image of a page."""

    own_motif: np.ndarray  # (N,) probability that the image shows the culture's motif
    stereotype: np.ndarray  # (N,) probability that it shows the stereotype


def as_detector_input(image: Image.Image) -> np.ndarray:
    """A page image as the detectors take it: 64x64 RGB, uint8."""
    image = image.convert("RGB")
    if image.size != (IMAGE_SIZE, IMAGE_SIZE):
        image = image.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BOX)
    return np.asarray(image, dtype=np.uint8)


def judge(detectors: Detectors, images: np.ndarray, culture: str) -> ImageJudgement:
    """The detectors' probabilities for (N, 64, 64, 3) images, for a participant of `culture`."""
    if culture not in MOTIF_LABELS:
        raise ValueError(UNKNOWN_CULTURE.format(name=culture, known=", ".join(MOTIF_LABELS)))
    features = image_features(images)
    motif = detectors.motif.logits(features).softmax(1).numpy()
    grime = detectors.stereotype.logits(features).softmax(1).numpy()
    return ImageJudgement(own_motif=motif[:, MOTIF_LABELS.index(culture)], stereotype=grime[:, 1])


def item_weights(item_key: str) -> tuple[float, float]:
    """The (motif, stereotype) weights of a survey item, by the words of its key."""
    for word, weights in ITEM_WEIGHTS:
        if word in item_key.lower():
            return weights
    return DEFAULT_WEIGHTS


def noisy_ranks(
    judgement: ImageJudgement, item_key: str, rng: np.random.Generator, noise: float = 1.0
) -> list[int]:
    """The rank (1 = best) of each image for one item: utilities plus Gumbel noise."""
    motif_weight, stereotype_weight = item_weights(item_key)
    utility = motif_weight * judgement.own_motif + stereotype_weight * judgement.stereotype
    utility = utility + noise * rng.gumbel(size=utility.shape)
    order = np.argsort(-utility, kind="stable")
    ranks = np.empty(len(order), dtype=int)
    ranks[order] = np.arange(1, len(order) + 1)
    return ranks.tolist()
