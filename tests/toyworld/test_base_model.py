import shutil

import numpy as np
import pytest
import torch

from scoft_core.pipelines import load_pipeline
from toyworld.architecture import build_tokenizer, vocabulary_words
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


def test_the_tokenizer_spells_every_culture_and_category_as_one_token():
    tokenizer = build_tokenizer()
    for word in [*CULTURE_NAMES, *CATEGORIES]:
        assert len(tokenizer(word, add_special_tokens=False).input_ids) == 1, word


def test_the_tokenizer_spells_every_toy_world_word_with_known_tokens():
    tokenizer = build_tokenizer()
    for word in vocabulary_words():
        ids = tokenizer(word, add_special_tokens=False).input_ids
        assert ids and tokenizer.unk_token_id not in ids, word


def test_the_tokenizer_still_spells_unknown_words_byte_by_byte():
    tokenizer = build_tokenizer()
    ids = tokenizer("zyxwv", add_special_tokens=False).input_ids
    assert len(ids) == 5 and tokenizer.unk_token_id not in ids


def test_the_shipped_tokenizer_is_the_one_the_recipe_builds():
    pipeline_tokenizer = load_pipeline(BASE_MODEL_DIR).tokenizer
    text = "a garment in Tukaro, emerald and magenta with diamonds"
    assert pipeline_tokenizer(text).input_ids == build_tokenizer()(text).input_ids
    assert np.all(np.array(pipeline_tokenizer(text).input_ids) >= 0)
