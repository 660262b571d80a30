"""LPIPS-style distances: unit-length features per position, squared differences summed.

The published perceptual term runs this arithmetic on VGG16 without LPIPS's learned
weights; ``random-conv`` runs it on a fixed random convolution stack instead.

Which features, before or after the ReLU? The published class slices VGG16 so that each
stage ends on a convolution (pre-ReLU features), but the next stage begins with one of
torchvision's in-place ReLUs, which overwrites the features already collected. So in the
published loss every stage but the last is in effect read after its ReLU; ``relu=
"published"`` reproduces that, ``relu="pre-relu"`` reads what the slicing meant to.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn.utils import skip_init

from scoft_core.features.base import MODEL_NOT_LOADED, FeatureDistance

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Pre-ReLU outputs of conv1_2, conv2_2, conv3_3, conv4_3 and conv5_3 in torchvision's
# vgg16().features, as the published LPIPS-style loss slices it.
VGG16_STAGE_ENDS = (3, 8, 15, 22, 29)
RELU_FLAVOURS = ("published", "pre-relu")
UNKNOWN_RELU_FLAVOUR = "relu must be one of {known}; it is {value!r}."

TORCHVISION_MISSING = (
    "The vgg-lpips feature distance needs torchvision, which cannot be imported here "
    "({reason}); choose random-conv for an LPIPS-style distance without it."
)


def lpips_style_distance(features_x: Sequence[Tensor], features_y: Sequence[Tensor]) -> Tensor:
    """LPIPS arithmetic without learned weights, per example.

    features_x, features_y: one (B, C_l, H_l, W_l) tensor per layer. Each feature vector is
    scaled to unit length across channels; the squared difference is summed over
    channels, averaged over positions, and summed over layers. Returns (B,).
    """
    total = None
    for fx, fy in zip(features_x, features_y, strict=True):
        difference = (_unit_channels(fx.float()) - _unit_channels(fy.float())).square()
        layer = difference.sum(dim=1).mean(dim=(1, 2))
        total = layer if total is None else total + layer
    return total


def _unit_channels(features: Tensor) -> Tensor:
    # The tiny constant sits inside the square root so an all-zero vector has a finite
    # gradient (zero) instead of nan.
    return features / (features.square().sum(dim=1, keepdim=True) + 1e-20).sqrt()


class LpipsStyleDistance(FeatureDistance):
    """LPIPS-style distance over the outputs of a sequence of convolutional stages."""

    def __init__(
        self,
        stages: nn.ModuleList,
        *,
        name: str,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        relu: str = "published",
    ) -> None:
        if relu not in RELU_FLAVOURS:
            raise ValueError(
                UNKNOWN_RELU_FLAVOUR.format(known=", ".join(RELU_FLAVOURS), value=relu)
            )
        super().__init__(stages)
        self.name = name
        self.relu = relu
        self.mean = torch.tensor(mean).view(1, 3, 1, 1) if mean is not None else None
        self.std = torch.tensor(std).view(1, 3, 1, 1) if std is not None else None

    def features(self, images: Tensor) -> list[Tensor]:
        x = self._network_input(images)
        if self.mean is not None:
            x = ((x + 1) / 2 - self.mean.to(x)) / self.std.to(x)
        outputs = []
        for stage in self.network:
            x = stage(x)
            outputs.append(x)
        if self.relu == "published":
            # What the next stage's in-place ReLU leaves of each collected feature map.
            outputs = [torch.relu(f) for f in outputs[:-1]] + outputs[-1:]
        return outputs

    def compare(self, features_x: list[Tensor], features_y: list[Tensor]) -> Tensor:
        return lpips_style_distance(features_x, features_y)


def random_conv_distance(
    *,
    seed: int = 0,
    widths: Sequence[int] = (16, 32, 64, 64),
    relu: str = "published",
    device: torch.device | str = "cpu",
) -> LpipsStyleDistance:
    """LPIPS-style distance on a fixed random convolution stack, seeded, no download.

    One 3x3 convolution per stage; each later stage first applies ReLU and halves the
    resolution, so the features cover ``len(widths)`` scales. Features are read as the
    published VGG distance reads them (``relu``, see the module docstring). Weights are
    He-normal from ``seed`` alone (the global random state is untouched), so the same
    seed gives the same distance.
    """
    generator = torch.Generator().manual_seed(seed)
    stages = nn.ModuleList()
    channels = 3
    for index, width in enumerate(widths):
        # skip_init: the default initialisation would draw from the global random state.
        conv = skip_init(nn.Conv2d, channels, width, kernel_size=3, padding=1)
        with torch.no_grad():
            fan_in = channels * 9
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator))
            conv.weight.mul_((2.0 / fan_in) ** 0.5)
            conv.bias.zero_()
        stage = [conv] if index == 0 else [nn.ReLU(), nn.AvgPool2d(2), conv]
        stages.append(nn.Sequential(*stage))
        channels = width
    return LpipsStyleDistance(stages.to(device), name="random-conv", relu=relu)


def vgg_lpips_distance(
    *, weights: str | None = None, relu: str = "published", device: torch.device | str = "cpu"
) -> LpipsStyleDistance:
    """The published LPIPS-style VGG16 distance: conv1_2 ... conv5_3, no learned weights.

    weights: a path to a saved torchvision vgg16 state dict; None takes torchvision's
    ImageNet weights (downloaded into the torch cache the first time). Needs torchvision.
    """
    try:
        from torchvision.models import VGG16_Weights, vgg16
    except Exception as error:  # torchvision may be absent or broken against this torch
        raise ValueError(TORCHVISION_MISSING.format(reason=error)) from error
    try:
        if weights is None:
            network = vgg16(weights=VGG16_Weights.IMAGENET1K_V1)
        else:
            network = vgg16(weights=None)
            network.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    except (OSError, RuntimeError) as error:  # no cached download offline, or a bad file
        source = weights or "torchvision's ImageNet weights"
        raise ValueError(
            MODEL_NOT_LOADED.format(kind="VGG16", source=source, reason=error)
        ) from error
    layers = network.features
    for layer in layers:
        # torchvision's ReLUs work in place, which would overwrite the features already
        # collected from the previous stage; `relu` decides explicitly what is read.
        if isinstance(layer, nn.ReLU):
            layer.inplace = False
    stages = nn.ModuleList()
    start = 0
    for end in VGG16_STAGE_ENDS:
        stages.append(nn.Sequential(*[layers[i] for i in range(start, end)]))
        start = end
    return LpipsStyleDistance(
        stages.to(device), name="vgg-lpips", mean=IMAGENET_MEAN, std=IMAGENET_STD, relu=relu
    )
