"""SSIM as a distance: structure, contrast and brightness compared through a Gaussian window."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from scoft_core.features.base import FeatureDistance


class SsimDistance(FeatureDistance):
    """1 - SSIM with a Gaussian window, images mapped to [0, 1], mean over channels.

    The window is ``window`` pixels wide with standard deviation ``sigma`` (11 and 1.5 as
    in the SSIM paper), shrunk to the largest odd size that fits smaller images; only
    positions where the whole window fits count.
    """

    name = "ssim"

    def __init__(self, window: int = 11, sigma: float = 1.5) -> None:
        super().__init__()
        self.window = window
        self.sigma = sigma

    def features(self, images: Tensor) -> list[Tensor]:
        return [(images.float() + 1) / 2]

    def compare(self, features_x: list[Tensor], features_y: list[Tensor]) -> Tensor:
        return 1 - ssim(features_x[0], features_y[0], window=self.window, sigma=self.sigma)


def ssim_distance(*, window: int = 11, sigma: float = 1.5) -> SsimDistance:
    """1 - SSIM with a ``window``-pixel Gaussian window of standard deviation ``sigma``."""
    return SsimDistance(window, sigma)


def ssim(x: Tensor, y: Tensor, *, window: int = 11, sigma: float = 1.5) -> Tensor:
    """Structural similarity per example of images (B, C, H, W) in [0, 1]. Returns (B,)."""
    size = min(window, x.shape[-1], x.shape[-2])
    size -= 1 - size % 2  # odd, so the window has a centre
    offsets = torch.arange(size, dtype=torch.float32, device=x.device) - (size - 1) / 2
    g = torch.exp(-(offsets**2) / (2 * sigma**2))
    g = g / g.sum()
    kernel = (g[:, None] * g[None, :]).expand(x.shape[1], 1, size, size)

    def blur(image: Tensor) -> Tensor:
        return F.conv2d(image, kernel, groups=x.shape[1])

    c1, c2 = 0.01**2, 0.03**2
    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x.square()
    var_y = blur(y * y) - mu_y.square()
    cov = blur(x * y) - mu_x * mu_y
    index = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
        (mu_x.square() + mu_y.square() + c1) * (var_x + var_y + c2)
    )
    return index.mean(dim=(1, 2, 3))
