"""The interface every feature distance shares, and the checks they all make."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import Tensor, nn

NOT_IMAGES = "The {what} must be a batch of RGB images, shape (B, 3, H, W); it has shape {got}."
PAIR_MISMATCH = (
    "The reference images have shape {got}, but the compared images have shape {expected}."
)
MANY_MISMATCH = (
    "The references must have shape (B, K, 3, H, W) matching the compared images {expected}; "
    "they have shape {got}."
)
MODEL_NOT_LOADED = (
    "Could not load the {kind} model for the feature distance from {source!r}: {reason}. "
    "Give a local folder, or a hub id that is already in the cache when offline."
)


class FeatureDistance(ABC):
    """D(x, y): a frozen feature network and a way to compare its features.

    Subclasses define ``features`` (images in [-1, 1] -> list of feature tensors) and
    ``compare`` (features of x, features of y -> (B,)).
    """

    name: str = "feature distance"

    def __init__(self, network: nn.Module | None = None) -> None:
        self.network = frozen(network) if network is not None else None

    def __call__(self, x: Tensor, y: Tensor) -> Tensor:
        """D(x_i, y_i) for each example. x, y: (B, 3, H, W) in [-1, 1]. Returns (B,)."""
        check_images(x, "compared images")
        if y.shape != x.shape:
            raise ValueError(PAIR_MISMATCH.format(got=tuple(y.shape), expected=tuple(x.shape)))
        features_x = self.features(x)
        with torch.no_grad():
            features_y = self.features(y)
        return self.compare(features_x, features_y).float()

    def to_each(self, x: Tensor, references: Tensor) -> Tensor:
        """D(x_i, y_ik) for each example and each of its K references, features of x once.

        x: (B, 3, H, W); references: (B, K, 3, H, W), e.g. the K negatives of each
        example. Returns (B, K).
        """
        check_images(x, "compared images")
        if references.dim() != 5 or (references.shape[0], *references.shape[2:]) != x.shape:
            raise ValueError(
                MANY_MISMATCH.format(got=tuple(references.shape), expected=tuple(x.shape))
            )
        b, k = references.shape[:2]
        if k == 0:
            return x.new_zeros((b, 0), dtype=torch.float32)
        features_x = [f.repeat_interleave(k, dim=0) for f in self.features(x)]
        with torch.no_grad():
            features_y = self.features(references.flatten(0, 1))
        return self.compare(features_x, features_y).float().view(b, k)

    def to(self, device: torch.device | str) -> FeatureDistance:
        """Move the feature network to a device; returns self."""
        if self.network is not None:
            self.network.to(device)
        return self

    @abstractmethod
    def features(self, images: Tensor) -> list[Tensor]:
        """Feature tensors of images (B, 3, H, W) in [-1, 1], each with batch first."""

    @abstractmethod
    def compare(self, features_x: list[Tensor], features_y: list[Tensor]) -> Tensor:
        """Distance per example, (B,), from the features of x and of y."""

    def _network_input(self, images: Tensor) -> Tensor:
        parameter = next(self.network.parameters(), None)
        if parameter is None:
            return images
        return images.to(device=parameter.device, dtype=parameter.dtype)


def frozen(network: nn.Module) -> nn.Module:
    """Eval mode and no parameter gradient: a distance's network is a fixed measuring tool."""
    network.eval()
    network.requires_grad_(False)
    return network


def check_images(images: Tensor, what: str) -> None:
    """Refuse anything but a batch of RGB images (B, 3, H, W), naming ``what`` it was."""
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(NOT_IMAGES.format(what=what, got=tuple(images.shape)))
