"""The four SCoFT loss terms and their weighted sum.

Every function takes tensors and returns a scalar tensor; none of them runs a model.
The training loop computes the UNet predictions and the feature distances
(`scoft_core.features`) and hands them here, so each term can be checked by hand.

Terms, as the published training code defines them:

- ``ldm``: the usual latent-diffusion regression, ||eps_theta(z_t, t, c) - target||^2.
- ``memorization``: ||eps_theta(z_t, t, c) - sg[eps_theta(z_t, t, c_g)]||^2, pulling the
  prediction for the community caption towards the prediction for a generic caption so
  that a small data set is not copied.
- ``contrastive``: D(x0hat, x+) - mean_k D(x0hat, x-_k), no margin and no temperature.
- ``perceptual``: D(x0hat, x+) with an LPIPS-style distance.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import Tensor

SHAPE_MISMATCH = "The {what} has shape {got}, but it must have shape {expected}."
NOT_PER_EXAMPLE = "The {what} must hold one value per example, shape (B,); it has shape {got}."
NOT_PER_NEGATIVE = (
    "The {what} must hold one value per example and negative, shape (B, K); it has shape {got}."
)
MASK_NOT_BOOL = "The mask of present negatives must be a bool tensor; it is {dtype}."
EMPTY_BATCH = "The batch is empty: a loss needs at least one example."
UNKNOWN_TERM = "Unknown loss term {name!r}; the terms are {known}."
NO_TERMS = "No loss terms were given, so there is nothing to optimise."
TERM_NOT_SCALAR = (
    "The loss term {name!r} must be a single number (a 0-d tensor); it has shape {got}."
)
NEGATIVE_WEIGHT = "The weight of the {name} loss is {value}; weights must be zero or positive."


@dataclass(frozen=True)
class LossWeights:
    """How much each SCoFT term counts in the total. Defaults are the published script's."""

    ldm: float = 0.7  # the denoising objective stays the main signal
    memorization: float = 0.3  # pull towards the generic-caption prediction, against copying
    contrastive: float = 0.05  # toward the community image, away from the base model's own
    perceptual: float = 0.01  # LPIPS-style closeness of the unrolled image to the positive

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if value < 0:
                raise ValueError(NEGATIVE_WEIGHT.format(name=field.name, value=value))


TERM_NAMES = tuple(field.name for field in fields(LossWeights))


def _check_same_shape(pred: Tensor, other: Tensor, what: str) -> None:
    if pred.shape != other.shape:
        raise ValueError(
            SHAPE_MISMATCH.format(what=what, got=tuple(other.shape), expected=tuple(pred.shape))
        )
    if pred.numel() == 0:
        raise ValueError(EMPTY_BATCH)


def _check_per_example(values: Tensor, what: str) -> None:
    if values.dim() != 1:
        raise ValueError(NOT_PER_EXAMPLE.format(what=what, got=tuple(values.shape)))
    if values.shape[0] == 0:
        raise ValueError(EMPTY_BATCH)


def ldm_loss(pred: Tensor, target: Tensor) -> Tensor:
    """Mean squared error between the UNet prediction and its regression target.

    pred, target: (B, C, h, w) latents-shaped tensors. The caller picks the target
    (the noise for epsilon prediction, the velocity for v-prediction). Computed in float32
    so fp16 mixed precision does not lose the small differences. Returns a 0-d tensor.
    """
    _check_same_shape(pred, target, "regression target")
    return F.mse_loss(pred.float(), target.float())


def memorization_loss(pred: Tensor, pred_generic: Tensor) -> Tensor:
    """Mean squared distance from the prediction to the generic-caption prediction.

    pred: (B, C, h, w), the UNet prediction for the community caption c.
    pred_generic: (B, C, h, w), the prediction for the generic (BLIP) caption c_g. It is
    detached here (the stop-gradient of the method), so gradient only moves ``pred``.
    Returns a 0-d tensor.
    """
    _check_same_shape(pred, pred_generic, "generic-caption prediction")
    return F.mse_loss(pred.float(), pred_generic.detach().float())


def contrastive_loss(d_pos: Tensor, d_neg: Tensor, neg_present: Tensor | None = None) -> Tensor:
    """Self-contrastive term: distance to the positive minus mean distance to the negatives.

    d_pos: (B,), D(x0hat_i, x+_i) for each example.
    d_neg: (B, K), D(x0hat_i, x-_ik) for each example and negative slot.
    neg_present: (B, K) bool, False where example i has no k-th negative (its value in
    d_neg is then ignored, whatever it is). None means every negative is present.

    Per example: d_pos_i - mean over present k of d_neg_ik; the result is the mean over the
    batch. No margin and no temperature, as published. An example with no present negative
    contributes d_pos_i alone: the published code skips missing negatives, and dropping
    the whole example would also drop the pull toward its community image, which is the
    half of the term that is always well defined. Returns a 0-d tensor.
    """
    _check_per_example(d_pos, "distance to the positive")
    batch = d_pos.shape[0]
    if d_neg.dim() != 2 or d_neg.shape[0] != batch:
        raise ValueError(
            NOT_PER_NEGATIVE.format(what="distance to the negatives", got=tuple(d_neg.shape))
        )
    if neg_present is None:
        neg_present = torch.ones(d_neg.shape, dtype=torch.bool, device=d_neg.device)
    if neg_present.dtype != torch.bool:
        raise ValueError(MASK_NOT_BOOL.format(dtype=neg_present.dtype))
    if neg_present.shape != d_neg.shape:
        raise ValueError(
            SHAPE_MISMATCH.format(
                what="mask of present negatives",
                got=tuple(neg_present.shape),
                expected=tuple(d_neg.shape),
            )
        )
    d_pos = d_pos.float()
    # where() rather than multiplying by the mask: an absent slot may hold inf or nan.
    kept = torch.where(neg_present, d_neg.float(), torch.zeros((), device=d_neg.device))
    count = neg_present.sum(dim=1)
    mean_neg = kept.sum(dim=1) / count.clamp(min=1)
    return (d_pos - mean_neg).mean()


def contrastive_positive_half(d_pos: Tensor) -> Tensor:
    """The positive half of the contrastive term, as the SCoFT+MP variant uses it.

    d_pos: (B,), D(x0hat_i, x+_i). Returns the batch mean, a 0-d tensor. Equal to
    ``contrastive_loss`` when no example has a negative.
    """
    _check_per_example(d_pos, "distance to the positive")
    return d_pos.float().mean()


def perceptual_loss(d_pos: Tensor) -> Tensor:
    """Perceptual term: mean LPIPS-style distance from the unrolled image to the positive.

    d_pos: (B,), one distance per example, from an LPIPS-style feature distance
    (``vgg-lpips`` as published, or a stand-in such as ``random-conv``). Returns a 0-d
    tensor.
    """
    _check_per_example(d_pos, "perceptual distance")
    return d_pos.float().mean()


def total_loss(terms: dict[str, Tensor], weights: LossWeights) -> Tensor:
    """Weighted sum of the terms that were computed this micro-step.

    terms: name -> 0-d tensor, names among ``TERM_NAMES``. Absent terms are skipped, which
    is how the contrastive and perceptual terms drop out on the nine micro-steps in ten
    that do not unroll. Returns a 0-d tensor.
    """
    if not terms:
        raise ValueError(NO_TERMS)
    total = None
    for name, value in terms.items():
        if name not in TERM_NAMES:
            raise ValueError(UNKNOWN_TERM.format(name=name, known=", ".join(TERM_NAMES)))
        if value.dim() != 0:
            raise ValueError(TERM_NOT_SCALAR.format(name=name, got=tuple(value.shape)))
        weighted = getattr(weights, name) * value
        total = weighted if total is None else total + weighted
    return total
