import numpy as np
import pytest

from toyworld.world import (
    CATEGORIES,
    CULTURE_NAMES,
    GENERIC,
    IMAGE_SIZE,
    UNKNOWN_CATEGORY,
    UNKNOWN_CULTURE,
    Depiction,
    render,
    render_array,
)


def test_the_same_depiction_and_seed_always_give_the_same_pixels():
    depiction = Depiction("Quenzar", "house", "Quenzar", grime=True)
    assert np.array_equal(render_array(depiction, 7), render_array(depiction, 7))


def test_different_seeds_vary_the_picture():
    depiction = Depiction("Veloria", "dish", "Veloria")
    assert not np.array_equal(render_array(depiction, 1), render_array(depiction, 2))


def test_images_are_rgb_at_the_tiny_models_resolution():
    image = render(Depiction("Tukaro", "instrument", "Tukaro"), 0)
    assert image.size == (IMAGE_SIZE, IMAGE_SIZE) and image.mode == "RGB"


def test_each_culture_is_drawn_in_its_own_colours():
    means = [
        render_array(Depiction(c, "garment", c), 3).reshape(-1, 3).mean(0) for c in CULTURE_NAMES
    ]
    gaps = [np.abs(a - b).sum() for i, a in enumerate(means) for b in means[i + 1 :]]
    assert min(gaps) > 10


def test_grime_makes_the_object_duller_and_darker():
    clean = render_array(Depiction("Mossavi", "house", "Mossavi"), 4).astype(float)
    grimy = render_array(Depiction("Mossavi", "house", "Mossavi", grime=True), 4).astype(float)
    saturation = lambda x: (x.max(-1) - x.min(-1)).mean()  # noqa: E731
    assert saturation(grimy) < 0.6 * saturation(clean)
    assert grimy.mean() < clean.mean()


def test_a_misrepresented_depiction_uses_another_motif():
    assert Depiction("Ildarin", "dish", GENERIC).misrepresented
    assert Depiction("Ildarin", "dish", "Tukaro").misrepresented
    assert not Depiction("Ildarin", "dish", "Ildarin").misrepresented


def test_an_unknown_culture_is_refused_with_the_known_names():
    with pytest.raises(ValueError) as error:
        Depiction("Atlantis", "house", "Atlantis")
    assert str(error.value) == UNKNOWN_CULTURE.format(name="Atlantis", known=CULTURE_NAMES)


def test_an_unknown_category_is_refused():
    with pytest.raises(ValueError) as error:
        Depiction("Veloria", "boat", "Veloria")
    assert str(error.value) == UNKNOWN_CATEGORY.format(name="boat", known=CATEGORIES)
