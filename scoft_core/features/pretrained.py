"""Distances on pretrained networks: CLIP and DINOv2 through transformers, and DreamSim."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from scoft_core.features.base import MODEL_NOT_LOADED, FeatureDistance
from scoft_core.features.lpips import IMAGENET_MEAN, IMAGENET_STD

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

DREAMSIM_MISSING = (
    "The dreamsim feature distance needs the dreamsim package, which is not installed "
    "(pip install dreamsim); choose another distance, such as clip, dinov2 or random-conv."
)
NO_LAYERS = "Choose at least one layer for the {name} feature distance."


def _resize_center_crop(images: Tensor, size: int) -> Tensor:
    """Resize the shorter side to ``size`` (bicubic, antialiased) and crop the centre."""
    height, width = images.shape[-2:]
    scale = size / min(height, width)
    new_h, new_w = max(size, round(height * scale)), max(size, round(width * scale))
    if (new_h, new_w) != (height, width):
        images = F.interpolate(
            images, size=(new_h, new_w), mode="bicubic", align_corners=False, antialias=True
        )
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return images[..., top : top + size, left : left + size]


def _normalized(images: Tensor, size: int, mean, std) -> Tensor:
    x = _resize_center_crop((images + 1) / 2, size)
    mean = torch.tensor(mean, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(std, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - mean) / std


class ClipVisionDistance(FeatureDistance):
    """CLIP vision-transformer features of chosen blocks.

    For each chosen block, the two images' token maps are compared per feature channel
    by 1 - cosine similarity across tokens (where in the image each feature responds, the
    published CLIPasso-style choice), averaged over channels and blocks.
    """

    name = "clip"

    def __init__(self, model: nn.Module, layers: Sequence[int] = (-1,)) -> None:
        if not layers:
            raise ValueError(NO_LAYERS.format(name=self.name))
        super().__init__(model)
        self.layers = tuple(layers)
        self.size = model.config.image_size

    def features(self, images: Tensor) -> list[Tensor]:
        pixels = _normalized(self._network_input(images), self.size, CLIP_MEAN, CLIP_STD)
        hidden = self.network(pixel_values=pixels, output_hidden_states=True).hidden_states
        return [hidden[layer] for layer in self.layers]

    def compare(self, features_x: list[Tensor], features_y: list[Tensor]) -> Tensor:
        per_layer = [
            (1 - F.cosine_similarity(fx.float(), fy.float(), dim=1)).mean(dim=1)
            for fx, fy in zip(features_x, features_y, strict=True)
        ]
        return torch.stack(per_layer).mean(dim=0)


class Dinov2Distance(FeatureDistance):
    """DINOv2 token features of the last block before the final norm, mean squared difference."""

    name = "dinov2"

    def __init__(self, model: nn.Module, size: int = 224) -> None:
        super().__init__(model)
        self.size = size

    def features(self, images: Tensor) -> list[Tensor]:
        pixels = _normalized(self._network_input(images), self.size, IMAGENET_MEAN, IMAGENET_STD)
        return [self.network(pixel_values=pixels, output_hidden_states=True).hidden_states[-1]]

    def compare(self, features_x: list[Tensor], features_y: list[Tensor]) -> Tensor:
        return (features_x[0].float() - features_y[0].float()).square().mean(dim=(1, 2))


class DreamSimDistance(FeatureDistance):
    """1 - cosine similarity of DreamSim embeddings of the images at 224 px in [0, 1]."""

    name = "dreamsim"

    def features(self, images: Tensor) -> list[Tensor]:
        pixels = _resize_center_crop((self._network_input(images) + 1) / 2, 224)
        return [self.network.embed(pixels)]

    def compare(self, features_x: list[Tensor], features_y: list[Tensor]) -> Tensor:
        return 1 - F.cosine_similarity(features_x[0].float(), features_y[0].float(), dim=-1)


def clip_distance(
    *,
    model: str | nn.Module = "openai/clip-vit-base-patch32",
    layers: Sequence[int] = (-1,),
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> ClipVisionDistance:
    """CLIP distance from a folder, a hub id or a loaded CLIPVisionModel.

    layers: indices into the hidden states (0 is the patch embedding, -1 the last block).
    """
    from transformers import CLIPVisionModel

    network = _pretrained(CLIPVisionModel, model, "CLIP vision")
    return ClipVisionDistance(network.to(device=device, dtype=dtype), layers)


def dinov2_distance(
    *,
    model: str | nn.Module = "facebook/dinov2-large",
    size: int = 224,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Dinov2Distance:
    """DINOv2 distance from a folder, a hub id or a loaded Dinov2Model, images at ``size`` px."""
    from transformers import Dinov2Model

    network = _pretrained(Dinov2Model, model, "DINOv2")
    return Dinov2Distance(network.to(device=device, dtype=dtype), size)


def dreamsim_distance(
    *, cache_dir: str = "./models", device: torch.device | str = "cpu"
) -> DreamSimDistance:
    """DreamSim distance with the package's pretrained ensemble (kept in ``cache_dir``)."""
    try:
        from dreamsim import dreamsim
    except ImportError as error:
        raise ValueError(DREAMSIM_MISSING) from error
    network, _ = dreamsim(pretrained=True, cache_dir=cache_dir, device=str(device))
    return DreamSimDistance(network)


def _pretrained(model_class, model, kind: str) -> nn.Module:
    if isinstance(model, nn.Module):
        return model
    try:
        return model_class.from_pretrained(model)
    except OSError as error:
        raise ValueError(
            MODEL_NOT_LOADED.format(kind=kind, source=str(model), reason=error)
        ) from error
