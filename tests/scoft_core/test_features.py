"""Feature distances: the LPIPS-style arithmetic, SSIM, the pretrained backbones on tiny
random models loaded by path, the optional packages' errors, and build-once behaviour."""

import sys
import types

import numpy as np
import pytest
import torch
from scipy.ndimage import correlate
from torch import nn
from transformers import (
    CLIPConfig,
    CLIPModel,
    CLIPVisionConfig,
    CLIPVisionModel,
    Dinov2Config,
    Dinov2Model,
)

from scoft_core.features import (
    CLIP_MEAN,
    CLIP_STD,
    DREAMSIM_MISSING,
    MODEL_NOT_LOADED,
    NOT_IMAGES,
    PAIR_MISMATCH,
    UNKNOWN_DISTANCE,
    UNKNOWN_OPTION,
    FeatureDistance,
    build_feature_distance,
    lpips_style_distance,
    ssim,
)
from scoft_core.losses import contrastive_loss

TINY_VIT = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "image_size": 16,
    "patch_size": 4,
}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Other jobs share the two cores; one intra-op thread keeps these tiny models quick."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def images(batch=2, size=16, seed=0):
    return torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def assert_frozen(distance: FeatureDistance):
    assert not distance.network.training
    assert not any(p.requires_grad for p in distance.network.parameters())


# --- the interface -------------------------------------------------------------------------


def test_unknown_distances_and_options_are_refused_with_the_choices():
    with pytest.raises(ValueError) as error:
        build_feature_distance("lpips")
    assert str(error.value) == UNKNOWN_DISTANCE.format(
        name="lpips", known="dreamsim, clip, dinov2, vgg-lpips, random-conv, ssim, cnn-embedding"
    )
    with pytest.raises(ValueError) as error:
        build_feature_distance("random-conv", layers=(1,))
    assert str(error.value) == UNKNOWN_OPTION.format(
        name="random-conv", option="layers", known="seed, widths, relu, device"
    )


def test_a_distance_refuses_images_that_are_not_rgb_batches_or_do_not_match():
    distance = build_feature_distance("ssim")
    with pytest.raises(ValueError) as error:
        distance(torch.zeros(2, 1, 16, 16), torch.zeros(2, 1, 16, 16))
    assert str(error.value) == NOT_IMAGES.format(what="compared images", got=(2, 1, 16, 16))
    with pytest.raises(ValueError) as error:
        distance(images(2), images(3))
    assert str(error.value) == PAIR_MISMATCH.format(got=(3, 3, 16, 16), expected=(2, 3, 16, 16))
    with pytest.raises(ValueError, match="shape \\(B, K, 3, H, W\\)"):
        distance.to_each(images(2), images(2))


# --- LPIPS-style arithmetic and random-conv -------------------------------------------------


def test_lpips_style_distance_matches_a_hand_computation():
    # One example, two channels, two positions.
    fx = torch.tensor([[[[3.0, 0.0]], [[4.0, 2.0]]]])
    fy = torch.tensor([[[[1.0, 0.0]], [[0.0, 5.0]]]])
    # Position 1: (0.6, 0.8) vs (1, 0) -> 0.16 + 0.64 = 0.8; position 2: (0, 1) vs (0, 1) -> 0.
    # Spatial mean 0.4 for this layer; a second, identical layer doubles it.
    assert lpips_style_distance([fx], [fy]).tolist() == pytest.approx([0.4])
    assert lpips_style_distance([fx, fx], [fy, fy]).tolist() == pytest.approx([0.8])


def test_lpips_style_distance_has_a_finite_gradient_at_all_zero_features():
    fx = torch.zeros(1, 2, 1, 1, requires_grad=True)
    lpips_style_distance([fx], [torch.ones(1, 2, 1, 1)]).sum().backward()
    assert torch.isfinite(fx.grad).all()


def test_random_conv_is_zero_for_the_same_image_and_positive_otherwise():
    distance = build_feature_distance("random-conv")
    x, y = images(3, seed=1), images(3, seed=2)
    assert distance(x, x).tolist() == pytest.approx([0.0, 0.0, 0.0], abs=1e-6)
    d = distance(x, y)
    assert d.shape == (3,) and (d > 0).all()
    assert_frozen(distance)


def test_random_conv_is_the_same_for_the_same_seed_and_leaves_the_global_rng_alone():
    x, y = images(2, seed=3), images(2, seed=4)
    state = torch.random.get_rng_state()
    first = build_feature_distance("random-conv", seed=7)(x, y)
    assert torch.equal(torch.random.get_rng_state(), state)
    torch.manual_seed(123)  # a different global state must not matter
    again = build_feature_distance("random-conv", seed=7)(x, y)
    other = build_feature_distance("random-conv", seed=8)(x, y)
    assert torch.equal(first, again)
    assert not torch.allclose(first, other)


def test_gradient_reaches_the_compared_image_and_not_the_network_or_the_reference():
    distance = build_feature_distance("random-conv")
    x = images(2, seed=5).requires_grad_(True)
    y = images(2, seed=6).requires_grad_(True)
    distance(x, y).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert y.grad is None
    assert all(p.grad is None for p in distance.network.parameters())


def test_distances_to_each_reference_equal_one_call_per_reference():
    distance = build_feature_distance("random-conv", seed=2)
    x = images(2, seed=7)
    references = torch.stack([images(2, seed=8), images(2, seed=9), images(2, seed=10)], dim=1)
    each = distance.to_each(x, references)
    one_by_one = torch.stack([distance(x, references[:, k]) for k in range(3)], dim=1)
    assert each.shape == (2, 3)
    assert torch.allclose(each, one_by_one, atol=1e-6)
    assert distance.to_each(x, references[:, :0]).shape == (2, 0)


def test_contrastive_loss_falls_as_the_image_moves_to_the_positive_and_from_the_negatives():
    distance = build_feature_distance("random-conv", seed=0, widths=(8, 16, 16))
    positive = images(2, size=32, seed=11)
    negatives = torch.stack([images(2, size=32, seed=12), images(2, size=32, seed=13)], dim=1)
    present = torch.tensor([[True, True], [True, False]])
    x = images(2, size=32, seed=14).requires_grad_(True)
    optimizer = torch.optim.Adam([x], lr=0.05)

    def loss_now():
        return contrastive_loss(distance(x, positive), distance.to_each(x, negatives), present)

    start_loss = loss_now().item()
    start_positive = distance(x, positive).detach()
    for _ in range(15):
        optimizer.zero_grad()
        loss_now().backward()
        optimizer.step()
    assert loss_now().item() < start_loss - 0.1
    assert (distance(x, positive) < start_positive).all()


def test_a_built_distance_never_builds_a_network_again(monkeypatch):
    distance = build_feature_distance("random-conv")
    network = distance.network

    def no_new_modules(self, *args, **kwargs):
        raise AssertionError("a module was built during a distance call")

    monkeypatch.setattr(nn.Module, "__init__", no_new_modules)
    for _ in range(3):
        distance(images(1), images(1, seed=1))
        distance.to_each(images(1), images(1, seed=2)[:, None])
    assert distance.network is network


# --- vgg-lpips ------------------------------------------------------------------------------


def test_vgg_lpips_says_it_needs_torchvision_when_that_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)
    monkeypatch.setitem(sys.modules, "torchvision.models", None)
    with pytest.raises(ValueError, match="needs torchvision") as error:
        build_feature_distance("vgg-lpips")
    assert "choose random-conv" in str(error.value)


def fake_torchvision(loaded: list):
    """A stand-in for torchvision.models with vgg16's layer layout at a tenth of the width."""

    def vgg16(weights=None):
        torch.manual_seed(0)
        layers, channels = [], 3
        for width, convs in [(6, 2), (12, 2), (24, 3), (48, 3), (48, 3)]:
            for _ in range(convs):
                layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(inplace=True)]
                channels = width
            layers.append(nn.MaxPool2d(2))
        model = nn.Module()
        model.features = nn.Sequential(*layers)
        model.load_state_dict = lambda state: loaded.append(state)
        return model

    models = types.ModuleType("torchvision.models")
    models.vgg16 = vgg16
    models.VGG16_Weights = types.SimpleNamespace(IMAGENET1K_V1="imagenet")
    package = types.ModuleType("torchvision")
    package.models = models
    return package, models


def test_vgg_lpips_compares_the_five_conv_outputs_before_or_after_their_relu(
    monkeypatch, tmp_path
):
    loaded = []
    package, models = fake_torchvision(loaded)
    monkeypatch.setitem(sys.modules, "torchvision", package)
    monkeypatch.setitem(sys.modules, "torchvision.models", models)
    torch.save({"weights": torch.ones(1)}, tmp_path / "vgg16.pth")
    distance = build_feature_distance(
        "vgg-lpips", weights=str(tmp_path / "vgg16.pth"), relu="pre-relu"
    )

    assert len(loaded) == 1 and torch.equal(loaded[0]["weights"], torch.ones(1))
    stages = list(distance.network)
    assert [len(stage) for stage in stages] == [3, 5, 7, 7, 7]
    assert all(isinstance(stage[-1], nn.Conv2d) for stage in stages)  # before the ReLU
    assert [stage[-1].out_channels for stage in stages] == [6, 12, 24, 48, 48]
    assert_frozen(distance)
    x, y = images(2, size=32, seed=15), images(2, size=32, seed=16)
    assert distance(x, x).tolist() == pytest.approx([0.0, 0.0], abs=1e-6)
    # The network sees ImageNet-normalised [0, 1] pixels.
    features = distance.features(x)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    assert torch.allclose(features[0], stages[0](((x + 1) / 2 - mean) / std), atol=1e-6)
    assert all(f.min() < 0 for f in features)  # still before the ReLU after the next stage ran
    assert torch.allclose(distance(x, y), lpips_style_distance(features, distance.features(y)))
    # The published flavour reads what torchvision's in-place ReLUs leave: stages 1-4
    # after their ReLU, the last one before it.
    published = build_feature_distance("vgg-lpips", weights=str(tmp_path / "vgg16.pth"))
    read = published.features(x)
    assert all(torch.equal(r, torch.relu(f)) for r, f in zip(read[:-1], features[:-1], strict=True))
    assert torch.equal(read[-1], features[-1]) and read[-1].min() < 0
    assert not torch.allclose(published(x, y), distance(x, y))


# --- ssim -----------------------------------------------------------------------------------


def reference_ssim(x: np.ndarray, y: np.ndarray, window: int, sigma: float) -> float:
    """SSIM written out in numpy, one channel: Gaussian-weighted statistics per position."""
    offsets = np.arange(window) - (window - 1) / 2
    g = np.exp(-(offsets**2) / (2 * sigma**2))
    kernel = np.outer(g, g) / np.outer(g, g).sum()
    half = window // 2

    def stat(image):
        full = correlate(image, kernel, mode="constant")
        return full[half:-half, half:-half]  # positions where the window fits

    mx, my = stat(x), stat(y)
    vx, vy, cxy = stat(x * x) - mx**2, stat(y * y) - my**2, stat(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    value = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return float(value.mean())


def test_ssim_matches_a_numpy_reference():
    generator = torch.Generator().manual_seed(17)
    x = torch.rand(1, 1, 14, 14, generator=generator, dtype=torch.float64)
    y = (x + 0.2 * torch.rand(1, 1, 14, 14, generator=generator, dtype=torch.float64)).clamp(0, 1)
    ours = ssim(x.float(), y.float(), window=7, sigma=1.5).item()
    assert ours == pytest.approx(reference_ssim(x[0, 0].numpy(), y[0, 0].numpy(), 7, 1.5), abs=1e-5)


def test_ssim_distance_is_zero_for_equal_images_and_fits_small_images():
    distance = build_feature_distance("ssim")
    x = images(2, size=8, seed=18)  # smaller than the 11-pixel window
    assert distance(x, x).tolist() == pytest.approx([0.0, 0.0], abs=1e-5)
    assert (distance(x, images(2, size=8, seed=19)) > 0.1).all()


# --- clip and dinov2, tiny random models loaded by path -------------------------------------


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory):
    torch.manual_seed(20)
    folder = tmp_path_factory.mktemp("clip-vision")
    CLIPVisionModel(CLIPVisionConfig(**TINY_VIT)).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def dinov2_folder(tmp_path_factory):
    torch.manual_seed(21)
    folder = tmp_path_factory.mktemp("dinov2")
    Dinov2Model(Dinov2Config(**TINY_VIT)).save_pretrained(folder)
    return folder


def test_clip_distance_loads_a_folder_and_compares_token_maps_per_channel(clip_folder):
    distance = build_feature_distance("clip", model=str(clip_folder), layers=(1, -1))
    assert_frozen(distance)
    x, y = images(2, seed=22), images(2, seed=23)
    mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    model = CLIPVisionModel.from_pretrained(clip_folder)

    def hidden(images):
        pixels = ((images + 1) / 2 - mean) / std
        return model(pixel_values=pixels, output_hidden_states=True).hidden_states

    hx, hy = hidden(x), hidden(y)
    expected = torch.zeros(2)
    for layer in (1, -1):
        for i in range(2):
            # tokens x channels: cosine across tokens, one value per channel
            a, b = hx[layer][i], hy[layer][i]
            cos = (a * b).sum(0) / (a.norm(dim=0) * b.norm(dim=0))
            expected[i] += (1 - cos).mean() / 2
    assert torch.allclose(distance(x, y), expected, atol=1e-5)
    assert distance(x, x).tolist() == pytest.approx([0.0, 0.0], abs=1e-5)


def test_clip_distance_loads_the_vision_half_of_a_full_clip_folder(tmp_path):
    torch.manual_seed(24)
    text = {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "vocab_size": 99,
        "bos_token_id": 0,
        "eos_token_id": 1,
        "pad_token_id": 1,
    }
    full = CLIPModel(CLIPConfig(text_config=text, vision_config=TINY_VIT, projection_dim=16))
    full.save_pretrained(tmp_path)
    distance = build_feature_distance("clip", model=str(tmp_path))
    assert torch.equal(
        distance.network.embeddings.class_embedding,
        full.vision_model.embeddings.class_embedding,
    )


def test_clip_distance_resizes_larger_images_and_passes_gradient_to_them(clip_folder):
    distance = build_feature_distance("clip", model=str(clip_folder))
    x = images(2, size=40, seed=25).requires_grad_(True)
    d = distance(x, images(2, size=40, seed=26))
    d.sum().backward()
    assert d.shape == (2,) and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in distance.network.parameters())


def test_dinov2_distance_is_the_mean_squared_difference_of_prenorm_tokens(dinov2_folder):
    distance = build_feature_distance("dinov2", model=str(dinov2_folder), size=16)
    assert_frozen(distance)
    x, y = images(2, seed=27), images(2, seed=28)
    model = Dinov2Model.from_pretrained(dinov2_folder)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def tokens(images):
        out = model(pixel_values=((images + 1) / 2 - mean) / std, output_hidden_states=True)
        return out.hidden_states[-1]

    expected = (tokens(x) - tokens(y)).square().mean(dim=(1, 2))
    assert torch.allclose(distance(x, y), expected, atol=1e-6)
    x = x.requires_grad_(True)
    distance(x, y).sum().backward()
    assert x.grad.abs().sum() > 0


def test_pretrained_networks_are_loaded_once_when_the_distance_is_built(monkeypatch, dinov2_folder):
    loads = []
    original = Dinov2Model.from_pretrained.__func__

    def counting(cls, *args, **kwargs):
        loads.append(args)
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(Dinov2Model, "from_pretrained", classmethod(counting))
    distance = build_feature_distance("dinov2", model=str(dinov2_folder), size=16)
    for _ in range(3):
        distance(images(1), images(1, seed=1))
    assert len(loads) == 1


def test_a_missing_model_folder_is_reported_clearly(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(ValueError) as error:
        build_feature_distance("dinov2", model=str(missing))
    assert str(error.value).startswith(
        MODEL_NOT_LOADED.split("{reason}")[0].format(kind="DINOv2", source=str(missing))
    )


# --- dreamsim -------------------------------------------------------------------------------


def test_dreamsim_says_it_needs_its_package_when_that_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "dreamsim", None)
    with pytest.raises(ValueError) as error:
        build_feature_distance("dreamsim")
    assert str(error.value) == DREAMSIM_MISSING


def test_dreamsim_is_one_minus_cosine_of_embeddings_of_224_pixel_images(monkeypatch):
    seen = []

    class Embedder(nn.Module):
        def __init__(self):
            super().__init__()
            self.project = nn.Linear(3, 4)

        def embed(self, pixels):
            seen.append(pixels.detach())
            return self.project(pixels.mean(dim=(2, 3)))

    package = types.ModuleType("dreamsim")
    package.dreamsim = lambda pretrained, cache_dir, device: (Embedder(), None)
    monkeypatch.setitem(sys.modules, "dreamsim", package)
    distance = build_feature_distance("dreamsim")
    assert_frozen(distance)
    x, y = images(2, size=64, seed=29), images(2, size=64, seed=30)
    d = distance(x, y)
    assert all(p.shape[-2:] == (224, 224) for p in seen)
    for pixels, image in zip(seen, (x, y), strict=True):  # [0, 1] pixels, bicubic-resized
        assert pixels.mean().item() == pytest.approx(((image + 1) / 2).mean().item(), abs=0.01)
    ex, ey = distance.network.embed(seen[0]), distance.network.embed(seen[1])
    expected = 1 - torch.nn.functional.cosine_similarity(ex, ey, dim=-1)
    assert torch.allclose(d, expected, atol=1e-6)


# --- cnn-embedding ----------------------------------------------------------------------------


def test_a_saved_cnn_embedding_loads_as_one_minus_cosine_of_its_embeddings(tmp_path):
    from scoft_core.features import EmbeddingNetwork, load_embedding, save_embedding

    torch.manual_seed(0)
    network = EmbeddingNetwork((4, 8), embedding=6, size=16)
    save_embedding(network, tmp_path / "net.safetensors", {"agreement": 0.9})
    distance = build_feature_distance("cnn-embedding", model=str(tmp_path / "net.safetensors"))
    assert_frozen(distance)
    assert load_embedding(tmp_path / "net.safetensors")[1] == {"agreement": 0.9}
    x, y = images(3, size=16, seed=1), images(3, size=16, seed=2)
    with torch.no_grad():
        ex, ey = network(x), network(y)
    assert torch.allclose(distance(x, y), 1 - (ex * ey).sum(1), atol=1e-6)
    assert distance(x, x).tolist() == pytest.approx([0.0] * 3, abs=1e-6)
    x.requires_grad_(True)
    distance(x, y).sum().backward()
    assert x.grad.abs().sum() > 0
    # Larger images are resized to the network's size first.
    assert distance(images(1, size=32, seed=3), images(1, size=32, seed=4)).shape == (1,)


def test_a_missing_or_foreign_cnn_embedding_file_is_refused_with_a_sentence(tmp_path):
    from safetensors.torch import save_file

    from scoft_core.features.embedding import MISSING_EMBEDDING, NOT_AN_EMBEDDING

    with pytest.raises(ValueError) as error:
        build_feature_distance("cnn-embedding", model=str(tmp_path / "none.safetensors"))
    assert str(error.value) == MISSING_EMBEDDING.format(path=str(tmp_path / "none.safetensors"))
    save_file({"w": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError) as error:
        build_feature_distance("cnn-embedding", model=str(tmp_path / "other.safetensors"))
    assert str(error.value).startswith(
        NOT_AN_EMBEDDING.format(path=tmp_path / "other.safetensors", reason="")[:40]
    )
