import shutil

import pytest
import torch

from scoft_core.pipelines import load_pipeline, tiny_tokenizer
from toyworld.architecture import toy_architecture, toy_world_texts, vocabulary_words
from toyworld.base_model import (
    BASE_MODEL_DIR,
    CHECKSUM_MISMATCH,
    MISSING_BASE_MODEL,
    verify_base_model,
)
from toyworld.sampling import sample_images
from toyworld.world import CATEGORIES, CULTURE_NAMES


def test_the_shipped_weights_match_their_checksums():
    checked = verify_base_model(BASE_MODEL_DIR)
    assert {"unet/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.safetensors",
            "text_encoder/model.safetensors"} <= set(checked)  # fmt: skip


def test_the_shipped_weights_stay_small_enough_for_the_repository():
    size = sum(p.stat().st_size for p in BASE_MODEL_DIR.rglob("*") if p.is_file())
    assert size < 20 * 2**20


def test_the_shipped_base_model_loads_through_scoft_core_and_draws_images():
    pipeline = load_pipeline(BASE_MODEL_DIR)
    assert pipeline.unet.dtype == torch.float32
    images = sample_images(pipeline, ["a house in Quenzar"], [0])
    assert images.shape == (1, 64, 64, 3) and images.std() > 5


def test_a_changed_weight_file_is_refused_with_its_name(tmp_path):
    copy = shutil.copytree(BASE_MODEL_DIR, tmp_path / "base")
    target = copy / "vae" / "diffusion_pytorch_model.safetensors"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(ValueError) as error:
        verify_base_model(copy)
    assert str(error.value) == CHECKSUM_MISMATCH.format(
        name="vae/diffusion_pytorch_model.safetensors"
    )


def test_a_missing_base_model_says_how_to_get_it_back(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        verify_base_model(tmp_path)
    assert str(error.value) == MISSING_BASE_MODEL.format(folder=tmp_path)


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer(toy_architecture())


def test_every_caption_and_prompt_of_the_world_is_known_whole_words_within_the_length(
    tokenizer,
):
    known = {*vocabulary_words(), ","}
    for text in toy_world_texts():
        encoded = tokenizer(text, truncation=False)
        tokens = tokenizer.convert_ids_to_tokens(encoded.input_ids)[1:-1]
        words = [t.removesuffix("</w>") for t in tokens]
        assert all(t.endswith("</w>") for t in tokens) and set(words) <= known, text
        assert words == text.lower().replace(",", " ,").split(), text
        assert len(encoded.input_ids) <= tokenizer.model_max_length, text


def test_the_vocabulary_covers_what_the_world_can_say():
    words = set(vocabulary_words())
    assert {"diamonds", "instrument", "an", "photo", "picture", "plain", "grey"} <= words
    assert {c.lower() for c in CULTURE_NAMES} | set(CATEGORIES) <= words


def test_a_truncated_caption_would_be_caught(tokenizer):
    long = "an instrument in Tukaro, emerald and magenta with diamonds " * 2
    assert len(tokenizer(long, truncation=False).input_ids) > tokenizer.model_max_length


def test_the_tokenizer_still_spells_unknown_words_byte_by_byte(tokenizer):
    ids = tokenizer("zyxwv", add_special_tokens=False).input_ids
    assert len(ids) == 5 and tokenizer.unk_token_id not in ids


def test_the_shipped_tokenizer_is_the_one_the_recipe_builds(tokenizer):
    pipeline_tokenizer = load_pipeline(BASE_MODEL_DIR).tokenizer
    for text in toy_world_texts():
        assert pipeline_tokenizer(text).input_ids == tokenizer(text).input_ids
