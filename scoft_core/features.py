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

The published code also passed random perspective and crop augmentations to CLIP; the
distances here are deterministic.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import skip_init

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
# Pre-ReLU outputs of conv1_2, conv2_2, conv3_3, conv4_3 and conv5_3 in torchvision's
# vgg16().features, as the published LPIPS-style loss slices it.
VGG16_STAGE_ENDS = (3, 8, 15, 22, 29)

NOT_IMAGES = "The {what} must be a batch of RGB images, shape (B, 3, H, W); it has shape {got}."
PAIR_MISMATCH = (
    "The reference images have shape {got}, but the compared images have shape {expected}."
)
MANY_MISMATCH = (
    "The references must have shape (B, K, 3, H, W) matching the compared images {expected}; "
    "they have shape {got}."
)
UNKNOWN_DISTANCE = "Unknown feature distance {name!r}; the distances are {known}."
UNKNOWN_OPTION = "The {name} feature distance has no option {option!r}; its options are {known}."
DREAMSIM_MISSING = (
    "The dreamsim feature distance needs the dreamsim package, which is not installed "
    "(pip install dreamsim); choose another distance, such as clip, dinov2 or random-conv."
)
TORCHVISION_MISSING = (
    "The vgg-lpips feature distance needs torchvision, which cannot be imported here "
    "({reason}); choose random-conv for an LPIPS-style distance without it."
)
MODEL_NOT_LOADED = (
    "Could not load the {kind} model for the feature distance from {source!r}: {reason}. "
    "Give a local folder, or a hub id that is already in the cache when offline."
)
NO_LAYERS = "Choose at least one layer for the {name} feature distance."


class FeatureDistance(ABC):
    """D(x, y): a frozen feature network and a way to compare its features.

    Subclasses define ``features`` (images in [-1, 1] -> list of feature tensors) and
    ``compare`` (features of x, features of y -> (B,)).
    """

    name: str = "feature distance"

    def __init__(self, network: nn.Module | None = None) -> None:
        self.network = _frozen(network) if network is not None else None

    def __call__(self, x: Tensor, y: Tensor) -> Tensor:
        """D(x_i, y_i) for each example. x, y: (B, 3, H, W) in [-1, 1]. Returns (B,)."""
        _check_images(x, "compared images")
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
        _check_images(x, "compared images")
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


# --- LPIPS-style distances ------------------------------------------------------------------


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
    ) -> None:
        super().__init__(stages)
        self.name = name
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
        return outputs

    def compare(self, features_x: list[Tensor], features_y: list[Tensor]) -> Tensor:
        return lpips_style_distance(features_x, features_y)


def random_conv_distance(
    *,
    seed: int = 0,
    widths: Sequence[int] = (16, 32, 64, 64),
    device: torch.device | str = "cpu",
) -> LpipsStyleDistance:
    """LPIPS-style distance on a fixed random convolution stack, seeded, no download.

    One 3x3 convolution per stage; each later stage first applies ReLU and halves the
    resolution, so the features cover ``len(widths)`` scales. Features are taken before
    the ReLU, as in the published VGG distance. Weights are He-normal from ``seed`` alone
    (the global random state is untouched), so the same seed gives the same distance.
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
    return LpipsStyleDistance(stages.to(device), name="random-conv")


def vgg_lpips_distance(
    *, weights: str | None = None, device: torch.device | str = "cpu"
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
        # torchvision's ReLUs work in place, which would overwrite the pre-ReLU features
        # already collected from the previous stage.
        if isinstance(layer, nn.ReLU):
            layer.inplace = False
    stages = nn.ModuleList()
    start = 0
    for end in VGG16_STAGE_ENDS:
        stages.append(nn.Sequential(*[layers[i] for i in range(start, end)]))
        start = end
    return LpipsStyleDistance(
        stages.to(device), name="vgg-lpips", mean=IMAGENET_MEAN, std=IMAGENET_STD
    )


# --- SSIM -----------------------------------------------------------------------------------


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


# --- pretrained networks --------------------------------------------------------------------


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


def _frozen(network: nn.Module) -> nn.Module:
    network.eval()
    network.requires_grad_(False)
    return network


def _check_images(images: Tensor, what: str) -> None:
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(NOT_IMAGES.format(what=what, got=tuple(images.shape)))


# --- registry -------------------------------------------------------------------------------

_BUILDERS: dict[str, Callable[..., FeatureDistance]] = {
    "dreamsim": dreamsim_distance,
    "clip": clip_distance,
    "dinov2": dinov2_distance,
    "vgg-lpips": vgg_lpips_distance,
    "random-conv": random_conv_distance,
    "ssim": ssim_distance,
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
