import numpy as np
import pytest
from safetensors.torch import load_file, save_file

from toyworld.base_model import BASE_MODEL_DIR, DETECTORS_FILE
from toyworld.calibration import decoded_depictions
from toyworld.detectors import (
    BAD_IMAGES,
    MISSING_DETECTORS,
    MOTIF_LABELS,
    OLD_DETECTORS,
    STATED_ACCURACY,
    Detectors,
    detector_accuracy,
    image_features,
)
from toyworld.sampling import load_toy_pipeline
from toyworld.world import Depiction, render_array

FRESH_SEED = 31  # neither the fitting seed nor the seed of the recorded measurement


@pytest.fixture(scope="module")
def detectors():
    return Detectors.load(DETECTORS_FILE)


@pytest.fixture(scope="module")
def fresh_decoded():
    vae = load_toy_pipeline(BASE_MODEL_DIR).vae
    return decoded_depictions(vae, 150, FRESH_SEED)


@pytest.mark.parametrize("detector", ["motif_clean", "stereotype", "category"])
def test_each_detector_meets_its_stated_accuracy_on_fresh_images_through_the_vae(
    detectors, fresh_decoded, detector
):
    images, depictions = fresh_decoded
    assert detector_accuracy(detectors, images, depictions)[detector] >= STATED_ACCURACY[detector]


@pytest.mark.parametrize("detector", ["motif_clean", "stereotype", "category"])
def test_the_recorded_measurement_backs_the_stated_accuracy(detectors, detector):
    assert detectors.accuracy[detector] >= STATED_ACCURACY[detector]
    assert detectors.accuracy["test_images"] >= 500


def test_the_detectors_name_motifs_of_clean_pictures_and_flag_grime(detectors, fresh_decoded):
    images, depictions = fresh_decoded
    clean = [i for i, d in enumerate(depictions) if not d.grime][:10]
    motifs = detectors.motifs(images[clean])
    assert np.mean([m == depictions[i].motif for m, i in zip(motifs, clean, strict=True)]) >= 0.8
    grimy = detectors.grimy(images[:10])
    assert grimy.dtype == bool and list(grimy) == [d.grime for d in depictions[:10]]


def test_the_category_detector_names_the_object_clean_or_grimy(detectors, fresh_decoded):
    images, depictions = fresh_decoded
    named = detectors.categories(images[:40])
    assert named == [d.category for d in depictions[:40]]
    assert {d.grime for d in depictions[:40]} == {True, False}


def test_the_category_detector_reads_shape_not_colour(detectors):
    house = np.stack([render_array(Depiction("Veloria", "house", m), 7) for m in MOTIF_LABELS])
    assert detectors.categories(house) == ["house"] * len(MOTIF_LABELS)


def test_an_old_detectors_file_without_the_category_detector_says_to_refit(tmp_path, detectors):
    tensors = load_file(str(DETECTORS_FILE))
    old = {k: v for k, v in tensors.items() if not k.startswith("category.")}
    save_file(old, str(tmp_path / "old.safetensors"), metadata={"accuracy": "{}"})
    with pytest.raises(ValueError) as error:
        Detectors.load(tmp_path / "old.safetensors")
    assert str(error.value) == OLD_DETECTORS.format(
        path=tmp_path / "old.safetensors", missing="category"
    )


def test_images_of_the_wrong_shape_are_refused_with_a_clear_message():
    with pytest.raises(ValueError) as error:
        image_features(np.zeros((64, 64, 3), np.uint8))
    assert str(error.value) == BAD_IMAGES.format(shape=(64, 64, 3))


def test_missing_detectors_say_how_to_fit_them(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        Detectors.load(tmp_path / "none.safetensors")
    assert str(error.value) == MISSING_DETECTORS.format(path=tmp_path / "none.safetensors")
