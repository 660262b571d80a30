"""The SCoFT objective on the tiny model: which terms, which UNet calls carry gradient."""

import pytest
import torch
from diffusers import DDPMScheduler, StableDiffusionPipeline

from scoft_core import adapters, data, losses, objective, variants
from tests.scoft_core.community import make_data_set


def pixel_distance(x, y):
    """A stand-in feature distance: mean squared pixel difference per example."""
    return ((x - y) ** 2).flatten(1).mean(1)


@pytest.fixture
def setup(tmp_path, tiny_path):
    def build(variant, **overrides):
        config = variants.preset(variant, resolution=32, lora_rank=4, unroll_steps=3, **overrides)
        pipe = StableDiffusionPipeline.from_pretrained(tiny_path)
        adapters.add_lora(pipe.unet, config)
        parts = objective.FrozenParts(
            vae=pipe.vae.requires_grad_(False),
            text_encoder=pipe.text_encoder.requires_grad_(False),
            tokenizer=pipe.tokenizer,
            noise_scheduler=DDPMScheduler.from_config(pipe.scheduler.config),
            feature_distance=pixel_distance,
            perceptual_distance=pixel_distance,
        )
        folder = make_data_set(tmp_path / "community", count=2, negatives=1)
        examples = data.load_data_set(folder)
        batch = data.collate(folder, examples, [False, False], resolution=32, max_negatives=2)
        return pipe.unet, parts, batch, config

    return build


def run(unet, parts, batch, config, micro_step=0):
    generator = torch.Generator().manual_seed(5)
    return objective.scoft_terms(
        unet, parts, batch, config, micro_step=micro_step, generator=generator
    )


def count_gradient_calls(unet):
    """Record, for every UNet call, whether its output carries gradient."""
    calls = []
    unet.register_forward_hook(lambda module, args, output: calls.append(output[0].requires_grad))
    return calls


@pytest.mark.parametrize(
    ("variant", "expected"),
    [
        ("scoft-m", {"ldm", "memorization"}),
        ("scoft-mp", {"ldm", "memorization", "contrastive", "perceptual"}),
        ("scoft-mpc", {"ldm", "memorization", "contrastive", "perceptual"}),
    ],
)
def test_each_variant_computes_its_terms_on_an_unrolling_micro_step(setup, variant, expected):
    terms = run(*setup(variant))
    assert set(terms) == expected
    assert all(value.dim() == 0 and torch.isfinite(value) for value in terms.values())


def test_contrastive_and_perceptual_terms_come_one_micro_step_in_ten(setup):
    unet, parts, batch, config = setup("scoft-mpc")
    computed = [("contrastive" in run(unet, parts, batch, config, m)) for m in range(0, 21, 5)]
    assert computed == [True, False, True, False, True]


@pytest.mark.parametrize(
    ("grad_step", "gradient_calls"), [("first", 1), ("last", 2), ("random", 2)]
)
def test_gradient_flows_through_the_ldm_pass_and_only_the_chosen_unroll_call(
    setup, grad_step, gradient_calls
):
    unet, parts, batch, config = setup("scoft-mpc", grad_step=grad_step)
    calls = count_gradient_calls(unet)
    run(unet, parts, batch, config)
    # "first" reuses the L_LDM pass as the unroll's first call, as the published code does.
    assert sum(calls) == gradient_calls
    assert len(calls) > gradient_calls


def test_the_unrolled_terms_send_gradient_to_lora_parameters_only(setup):
    unet, parts, batch, config = setup("scoft-mpc")
    terms = run(unet, parts, batch, config)
    (terms["contrastive"] + terms["perceptual"]).backward()
    with_grad = [name for name, p in unet.named_parameters() if p.grad is not None]
    assert with_grad and all("lora_" in name for name in with_grad)
    assert any(p.grad.abs().sum() > 0 for p in unet.parameters() if p.grad is not None)


def test_contrastive_distances_skip_absent_negatives_in_one_pass():
    calls = []

    def distance(x, y):
        calls.append(x.shape[0])
        return pixel_distance(x, y)

    positives = torch.zeros(2, 3, 4, 4)
    negatives = torch.stack([torch.ones(2, 3, 4, 4), torch.full((2, 3, 4, 4), 9.0)], dim=1)
    batch = data.Batch(
        pixels=positives,
        texts=["a", "b"],
        generic_texts=["a", "b"],
        negatives=negatives,
        negative_present=torch.tensor([[True, True], [True, False]]),
        lines=[1, 2],
    )
    x0_hat = torch.full((2, 3, 4, 4), 0.5)
    d_pos, d_neg = objective.contrastive_distances(distance, x0_hat, batch)
    assert calls == [2 + 3]
    assert d_pos.tolist() == [0.25, 0.25]
    assert d_neg.tolist() == [[0.25, 72.25], [0.25, 0.0]]


def test_the_contrastive_term_falls_as_the_image_moves_toward_the_positive():
    positive, negative = torch.zeros(1, 3, 4, 4), torch.ones(1, 3, 4, 4)
    batch = data.Batch(positive, ["a"], ["a"], negative[:, None], torch.tensor([[True]]), [1])
    values = []
    for weight in (0.9, 0.5, 0.1):  # the decoded image slides from the negative to the positive
        x0_hat = weight * negative + (1 - weight) * positive
        d_pos, d_neg = objective.contrastive_distances(pixel_distance, x0_hat, batch)
        values.append(float(losses.contrastive_loss(d_pos, d_neg, batch.negative_present)))
    assert values[0] > values[1] > values[2]
