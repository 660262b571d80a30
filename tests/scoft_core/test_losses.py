"""The SCoFT loss terms against values worked out by hand on tiny tensors."""

import math

import pytest
import torch

from scoft_core.losses import (
    EMPTY_BATCH,
    MASK_NOT_BOOL,
    NEGATIVE_WEIGHT,
    NO_TERMS,
    NOT_PER_EXAMPLE,
    NOT_PER_NEGATIVE,
    SHAPE_MISMATCH,
    TERM_NOT_SCALAR,
    UNKNOWN_TERM,
    LossWeights,
    contrastive_loss,
    contrastive_positive_half,
    ldm_loss,
    memorization_loss,
    perceptual_loss,
    total_loss,
)


def test_ldm_loss_is_the_mean_of_squared_differences():
    pred = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    target = torch.tensor([[[[0.0, 2.0], [5.0, 3.0]]]])
    # squared differences 1, 0, 4, 1 -> mean 1.5
    assert ldm_loss(pred, target).item() == pytest.approx(1.5)


def test_ldm_loss_is_computed_in_float32_for_half_inputs():
    pred = torch.full((1, 1, 2, 2), 300.0, dtype=torch.float16)
    target = torch.zeros_like(pred)
    value = ldm_loss(pred, target)
    # 300^2 = 90000 overflows float16 (max 65504); float32 keeps it.
    assert value.dtype == torch.float32
    assert value.item() == pytest.approx(90000.0)


def test_ldm_loss_rejects_a_target_of_another_shape():
    with pytest.raises(ValueError) as error:
        ldm_loss(torch.zeros(2, 4, 8, 8), torch.zeros(2, 4, 8, 4))
    assert str(error.value) == SHAPE_MISMATCH.format(
        what="regression target", got=(2, 4, 8, 4), expected=(2, 4, 8, 8)
    )


def test_ldm_loss_rejects_an_empty_batch():
    with pytest.raises(ValueError, match=EMPTY_BATCH):
        ldm_loss(torch.zeros(0, 4, 8, 8), torch.zeros(0, 4, 8, 8))


def test_memorization_loss_matches_hand_value_and_moves_only_the_community_prediction():
    pred = torch.tensor([[1.0, -1.0], [2.0, 0.0]], requires_grad=True)
    generic = torch.tensor([[0.0, 1.0], [2.0, 2.0]], requires_grad=True)
    value = memorization_loss(pred, generic)
    # squared differences 1, 4, 0, 4 -> mean 2.25
    assert value.item() == pytest.approx(2.25)
    value.backward()
    # d/dpred mean((pred - g)^2) = 2 (pred - g) / 4
    assert torch.allclose(pred.grad, torch.tensor([[0.5, -1.0], [0.0, -1.0]]))
    assert generic.grad is None  # the stop-gradient of the method


def test_memorization_loss_rejects_mismatched_predictions():
    with pytest.raises(ValueError, match="generic-caption prediction"):
        memorization_loss(torch.zeros(1, 4, 8, 8), torch.zeros(2, 4, 8, 8))


def test_contrastive_loss_is_positive_distance_minus_mean_negative_distance():
    d_pos = torch.tensor([0.2, 0.6])
    d_neg = torch.tensor([[0.5, 0.7, 0.9], [0.1, 0.2, 0.3]])
    # example 0: 0.2 - 0.7 = -0.5; example 1: 0.6 - 0.2 = 0.4; mean -0.05
    assert contrastive_loss(d_pos, d_neg).item() == pytest.approx(-0.05)


def test_contrastive_loss_ignores_missing_negatives_whatever_they_hold():
    d_pos = torch.tensor([0.2, 0.6])
    d_neg = torch.tensor([[0.5, float("nan"), 0.9], [0.1, float("inf"), 0.3]])
    present = torch.tensor([[True, False, True], [True, False, False]])
    # example 0: 0.2 - (0.5 + 0.9) / 2 = -0.5; example 1: 0.6 - 0.1 = 0.5; mean 0.0
    value = contrastive_loss(d_pos, d_neg, present)
    assert value.item() == pytest.approx(0.0, abs=1e-7)


def test_an_example_without_negatives_contributes_its_positive_half_only():
    d_pos = torch.tensor([0.2, 0.6], requires_grad=True)
    d_neg = torch.tensor([[0.5, 0.9], [7.0, 7.0]], requires_grad=True)
    present = torch.tensor([[True, True], [False, False]])
    value = contrastive_loss(d_pos, d_neg, present)
    # example 0: 0.2 - 0.7 = -0.5; example 1: 0.6 alone; mean 0.05
    assert value.item() == pytest.approx(0.05)
    value.backward()
    assert torch.allclose(d_neg.grad, torch.tensor([[-0.25, -0.25], [0.0, 0.0]]))
    assert torch.allclose(d_pos.grad, torch.tensor([0.5, 0.5]))


def test_contrastive_loss_without_negatives_equals_its_positive_half():
    d_pos = torch.tensor([0.2, 0.6, 0.1])
    none_present = contrastive_loss(d_pos, torch.zeros(3, 2), torch.zeros(3, 2, dtype=torch.bool))
    no_slots = contrastive_loss(d_pos, torch.zeros(3, 0))
    half = contrastive_positive_half(d_pos)
    assert half.item() == pytest.approx(0.3)
    assert none_present.item() == pytest.approx(0.3)
    assert no_slots.item() == pytest.approx(0.3)


def test_contrastive_loss_rejects_distances_of_the_wrong_shape():
    with pytest.raises(ValueError) as error:
        contrastive_loss(torch.zeros(2, 1), torch.zeros(2, 3))
    assert str(error.value) == NOT_PER_EXAMPLE.format(what="distance to the positive", got=(2, 1))
    with pytest.raises(ValueError) as error:
        contrastive_loss(torch.zeros(2), torch.zeros(3, 3))
    assert str(error.value) == NOT_PER_NEGATIVE.format(what="distance to the negatives", got=(3, 3))
    with pytest.raises(ValueError, match="mask of present negatives"):
        contrastive_loss(torch.zeros(2), torch.zeros(2, 3), torch.ones(2, 2, dtype=torch.bool))


def test_contrastive_loss_rejects_a_mask_that_is_not_bool():
    with pytest.raises(ValueError) as error:
        contrastive_loss(torch.zeros(2), torch.zeros(2, 3), torch.ones(2, 3))
    assert str(error.value) == MASK_NOT_BOOL.format(dtype=torch.float32)


def test_contrastive_loss_rejects_an_empty_batch():
    with pytest.raises(ValueError, match=EMPTY_BATCH):
        contrastive_loss(torch.zeros(0), torch.zeros(0, 3))


def test_perceptual_loss_is_the_batch_mean_of_distances():
    assert perceptual_loss(torch.tensor([0.1, 0.4, 0.7])).item() == pytest.approx(0.4)
    with pytest.raises(ValueError, match="perceptual distance"):
        perceptual_loss(torch.zeros(2, 2))


def test_loss_weights_default_to_the_published_values():
    weights = LossWeights()
    assert (weights.ldm, weights.memorization, weights.contrastive, weights.perceptual) == (
        0.7,
        0.3,
        0.05,
        0.01,
    )


def test_loss_weights_refuse_a_negative_weight():
    with pytest.raises(ValueError) as error:
        LossWeights(contrastive=-1.0)
    assert str(error.value) == NEGATIVE_WEIGHT.format(name="contrastive", value=-1.0)


def test_total_loss_weights_every_term_given():
    terms = {
        "ldm": torch.tensor(1.0),
        "memorization": torch.tensor(2.0),
        "contrastive": torch.tensor(-4.0),
        "perceptual": torch.tensor(10.0),
    }
    # 0.7 + 0.6 - 0.2 + 0.1
    assert total_loss(terms, LossWeights()).item() == pytest.approx(1.2)


def test_total_loss_skips_absent_terms():
    terms = {"ldm": torch.tensor(1.0), "memorization": torch.tensor(2.0)}
    assert total_loss(terms, LossWeights()).item() == pytest.approx(1.3)
    custom = LossWeights(ldm=1.0, memorization=0.0)
    assert total_loss(terms, custom).item() == pytest.approx(1.0)


def test_total_loss_passes_gradient_to_each_term_in_proportion_to_its_weight():
    ldm = torch.tensor(1.0, requires_grad=True)
    contrastive = torch.tensor(1.0, requires_grad=True)
    total_loss({"ldm": ldm, "contrastive": contrastive}, LossWeights()).backward()
    assert ldm.grad.item() == pytest.approx(0.7)
    assert contrastive.grad.item() == pytest.approx(0.05)


def test_total_loss_rejects_unknown_empty_or_non_scalar_terms():
    with pytest.raises(ValueError) as error:
        total_loss({"style": torch.tensor(1.0)}, LossWeights())
    assert str(error.value) == UNKNOWN_TERM.format(
        name="style", known="ldm, memorization, contrastive, perceptual"
    )
    with pytest.raises(ValueError, match=NO_TERMS):
        total_loss({}, LossWeights())
    with pytest.raises(ValueError) as error:
        total_loss({"ldm": torch.ones(3)}, LossWeights())
    assert str(error.value) == TERM_NOT_SCALAR.format(name="ldm", got=(3,))


def test_contrastive_loss_matches_the_formula_on_random_values():
    generator = torch.Generator().manual_seed(0)
    d_pos = torch.rand(4, generator=generator)
    d_neg = torch.rand(4, 3, generator=generator)
    present = torch.rand(4, 3, generator=generator) > 0.4
    expected = []
    for i in range(4):
        kept = [d_neg[i, k].item() for k in range(3) if present[i, k]]
        expected.append(d_pos[i].item() - (sum(kept) / len(kept) if kept else 0.0))
    value = contrastive_loss(d_pos, d_neg, present).item()
    assert math.isclose(value, sum(expected) / 4, rel_tol=1e-6)
