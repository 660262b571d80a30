import numpy as np
import pytest

from scoft_core.features import build_feature_distance
from toyworld.base_model import BASE_MODEL_DIR
from toyworld.perceptual import (
    PERCEPTUAL_FILE,
    PERCEPTUAL_SHA256,
    STATED_AGREEMENT,
    Observer,
    agreement,
    judgements,
    perceptual_facts,
    picture_pool,
    sha256,
)
from toyworld.sampling import load_toy_pipeline
from toyworld.world import Depiction

FRESH_SEED = 70_031  # neither the fitting pool's seed nor the recorded held-out one


def test_the_shipped_perceptual_distance_is_small_and_matches_its_checksum():
    assert PERCEPTUAL_FILE.stat().st_size <= 5 * 2**20
    assert sha256(PERCEPTUAL_FILE) == PERCEPTUAL_SHA256


def test_the_recorded_agreement_backs_the_stated_one_and_beats_random_conv():
    facts = perceptual_facts()
    assert facts["held_out_agreement"] >= STATED_AGREEMENT
    assert facts["held_out_agreement"] > facts["random_conv_agreement"] + 0.05
    assert facts["held_out_triplets"] >= 2000


@pytest.fixture(scope="module")
def fresh():
    vae = load_toy_pipeline(BASE_MODEL_DIR).vae
    images, depictions = picture_pool(vae, 150, FRESH_SEED)
    triplets, choices = judgements(depictions, 1500, Observer(), np.random.default_rng(3))
    return images, triplets, choices


def test_it_agrees_with_the_observer_on_fresh_pictures_as_stated(fresh):
    distance = build_feature_distance("cnn-embedding", model=str(PERCEPTUAL_FILE))
    assert agreement(distance, *fresh) >= STATED_AGREEMENT


def test_the_observer_weighs_shape_palette_pattern_and_grime():
    observer = Observer()
    house = Depiction("Quenzar", "house", "Quenzar")
    assert observer.dissimilarity(house, house) == 0
    assert observer.dissimilarity(house, Depiction("Quenzar", "dish", "Quenzar")) == 1.0
    assert observer.dissimilarity(house, Depiction("Quenzar", "house", "Quenzar", True)) == 1.0
    other = observer.dissimilarity(house, Depiction("Quenzar", "house", "Veloria"))
    assert other > observer.pattern
