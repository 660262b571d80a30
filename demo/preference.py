"""How a simulated participant ranks: a noisy preference from the toy world's detectors.

A participant of a culture looks at each image for what the toy world's detectors
measure: does it show their culture's own motif (the motif detector's probability of
that culture), does it show the stereotype (the grime detector's probability), and does
it show the object the description asks for (the category detector's probability of
that category; only the alignment question shows a description). Each survey item
weighs these differently (alignment cares most about the object, the stereotype item
about grime, the cultural item about the motif); Gumbel noise on each utility
makes the order a draw from a Plackett-Luce model, so rankings disagree as real
people's do, and more often the closer two images are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from toyworld.detectors import MOTIF_LABELS, Detectors, image_features, shape_features
from toyworld.world import CATEGORIES, IMAGE_SIZE

# (weight of "shows my culture's motif", of "shows the stereotype", of "shows the object
# described") per item, matched on words of the survey item's key; rank 1 is the best end
# of every item.
ITEM_WEIGHTS: tuple[tuple[str, tuple[float, float, float]], ...] = (
    ("align", (1.0, -0.5, 3.0)),  # description alignment: the object asked for, of the culture
    ("cultur", (3.0, -1.0, 0.0)),  # cultural representation
    ("stereo", (1.0, -3.0, 0.0)),  # least stereotypical
    ("offen", (1.0, -2.0, 0.0)),  # least offensive
)
DEFAULT_WEIGHTS = (2.0, -2.0, 0.0)
UNKNOWN_CULTURE = "The simulated participant's culture {name!r} is not one of {known}."
UNKNOWN_CATEGORY = "The described object {name!r} is not one of the toy world's {known}."


@dataclass(frozen=True)
class ImageJudgement:
    """What the detectors see in each image of a page."""

    own_motif: np.ndarray  # (N,) probability that the image shows the culture's motif
    stereotype: np.ndarray  # (N,) probability that it shows the stereotype
    described: np.ndarray | None = None  # (N,) probability it shows the object asked for


def as_detector_input(image: Image.Image) -> np.ndarray:
    """A page image as the detectors take it: 64x64 RGB, uint8."""
    image = image.convert("RGB")
    if image.size != (IMAGE_SIZE, IMAGE_SIZE):
        image = image.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BOX)
    return np.asarray(image, dtype=np.uint8)


def judge(
    detectors: Detectors, images: np.ndarray, culture: str, category: str | None = None
) -> ImageJudgement:
    """The detectors' probabilities for (N, 64, 64, 3) images, for a participant of
    `culture` reading a description that asks for `category` (None: no description)."""
    if culture not in MOTIF_LABELS:
        raise ValueError(UNKNOWN_CULTURE.format(name=culture, known=", ".join(MOTIF_LABELS)))
    if category is not None and category not in CATEGORIES:
        raise ValueError(UNKNOWN_CATEGORY.format(name=category, known=", ".join(CATEGORIES)))
    features = image_features(images)
    motif = detectors.motif.logits(features).softmax(1).numpy()
    grime = detectors.stereotype.logits(features).softmax(1).numpy()
    described = None
    if category is not None:
        shapes = detectors.category.logits(shape_features(images)).softmax(1).numpy()
        described = shapes[:, CATEGORIES.index(category)]
    return ImageJudgement(
        own_motif=motif[:, MOTIF_LABELS.index(culture)], stereotype=grime[:, 1], described=described
    )


def item_weights(item_key: str) -> tuple[float, float, float]:
    """The (motif, stereotype, described object) weights of an item, by its key's words."""
    for word, weights in ITEM_WEIGHTS:
        if word in item_key.lower():
            return weights
    return DEFAULT_WEIGHTS


def noisy_ranks(
    judgement: ImageJudgement, item_key: str, rng: np.random.Generator, noise: float = 1.0
) -> list[int]:
    """The rank (1 = best) of each image for one item: utilities plus Gumbel noise."""
    motif_weight, stereotype_weight, object_weight = item_weights(item_key)
    utility = motif_weight * judgement.own_motif + stereotype_weight * judgement.stereotype
    if judgement.described is not None:
        utility = utility + object_weight * judgement.described
    utility = utility + noise * rng.gumbel(size=utility.shape)
    order = np.argsort(-utility, kind="stable")
    ranks = np.empty(len(order), dtype=int)
    ranks[order] = np.arange(1, len(order) + 1)
    return ranks.tolist()
