"""Feature distances D(x, y) for the contrastive and perceptual terms, behind one interface.

Every distance takes two batches of images (B, 3, H, W) with values in [-1, 1] and returns
one distance per example, shape (B,). The first argument is the model's own image x0hat:
gradient flows back to it. The second is a reference (a community image or a negative): it
is data, so its features are computed without gradient. Networks are built once, frozen
and in eval mode, when the distance is built, never per call.

Names, chosen with ``build_feature_distance(name, **options)``:

- ``dreamsim``: 1 - cosine similarity of DreamSim embeddings at 224 px (the published
  example script's choice); needs the dreamsim package.
- ``clip``: CLIP vision transformer features (published: ViT-B/32, last block).
- ``dinov2``: DINOv2 features before the final norm, mean squared difference (published:
  ViT-L/14).
- ``vgg-lpips``: the published perceptual distance, LPIPS-style on VGG16; needs
  torchvision.
- ``random-conv``: the same LPIPS-style arithmetic on a fixed, seeded random convolution
  stack, for offline and tiny runs where no pretrained network is available.
- ``ssim``: 1 - SSIM, a structural distance with no network at all.
- ``cnn-embedding``: 1 - cosine of a small CNN's embeddings read from a file (the
  ``model`` option), DreamSim's arithmetic at toy scale; the toy world trains one on
  simulated similarity judgements.

The published code also passed random perspective and crop augmentations to CLIP; the
distances here are deterministic.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from scoft_core.features.base import (
    MANY_MISMATCH,
    MODEL_NOT_LOADED,
    NOT_IMAGES,
    PAIR_MISMATCH,
    FeatureDistance,
)
from scoft_core.features.embedding import (
    EmbeddingDistance,
    EmbeddingNetwork,
    cnn_embedding_distance,
    load_embedding,
    save_embedding,
)
from scoft_core.features.lpips import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    TORCHVISION_MISSING,
    VGG16_STAGE_ENDS,
    LpipsStyleDistance,
    lpips_style_distance,
    random_conv_distance,
    vgg_lpips_distance,
)
from scoft_core.features.pretrained import (
    CLIP_MEAN,
    CLIP_STD,
    DREAMSIM_MISSING,
    NO_LAYERS,
    ClipVisionDistance,
    Dinov2Distance,
    DreamSimDistance,
    clip_distance,
    dinov2_distance,
    dreamsim_distance,
)
from scoft_core.features.ssim import SsimDistance, ssim, ssim_distance

UNKNOWN_DISTANCE = "Unknown feature distance {name!r}; the distances are {known}."
UNKNOWN_OPTION = "The {name} feature distance has no option {option!r}; its options are {known}."

_BUILDERS: dict[str, Callable[..., FeatureDistance]] = {
    "dreamsim": dreamsim_distance,
    "clip": clip_distance,
    "dinov2": dinov2_distance,
    "vgg-lpips": vgg_lpips_distance,
    "random-conv": random_conv_distance,
    "ssim": ssim_distance,
    "cnn-embedding": cnn_embedding_distance,
}
DISTANCE_NAMES = tuple(_BUILDERS)


def build_feature_distance(name: str, **options) -> FeatureDistance:
    """Build the named feature distance once; call the result as D(x, y) -> (B,).

    name: one of ``DISTANCE_NAMES``. options: the keyword arguments of that distance's
    builder (``model``, ``layers``, ``size``, ``seed``, ``weights``, ``device``, ...).
    """
    builder = _BUILDERS.get(name)
    if builder is None:
        raise ValueError(UNKNOWN_DISTANCE.format(name=name, known=", ".join(DISTANCE_NAMES)))
    known = list(inspect.signature(builder).parameters)
    for option in options:
        if option not in known:
            raise ValueError(
                UNKNOWN_OPTION.format(name=name, option=option, known=", ".join(known) or "none")
            )
    return builder(**options)


__all__ = [
    "CLIP_MEAN",
    "CLIP_STD",
    "DISTANCE_NAMES",
    "DREAMSIM_MISSING",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "MANY_MISMATCH",
    "MODEL_NOT_LOADED",
    "NOT_IMAGES",
    "NO_LAYERS",
    "PAIR_MISMATCH",
    "TORCHVISION_MISSING",
    "UNKNOWN_DISTANCE",
    "UNKNOWN_OPTION",
    "VGG16_STAGE_ENDS",
    "ClipVisionDistance",
    "Dinov2Distance",
    "DreamSimDistance",
    "EmbeddingDistance",
    "EmbeddingNetwork",
    "FeatureDistance",
    "LpipsStyleDistance",
    "SsimDistance",
    "build_feature_distance",
    "clip_distance",
    "cnn_embedding_distance",
    "dinov2_distance",
    "dreamsim_distance",
    "load_embedding",
    "lpips_style_distance",
    "random_conv_distance",
    "save_embedding",
    "ssim",
    "ssim_distance",
    "vgg_lpips_distance",
]
