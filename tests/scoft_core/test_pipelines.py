"""Loading pipelines: the tiny preset, local folders, hub ids, adapters, and clear errors."""

import json

import pytest
import torch

from scoft_core import pipelines
from scoft_core.pipelines import TINY_MODEL, load_pipeline, tiny_components


def test_tiny_components_have_the_stable_diffusion_architecture():
    parts = tiny_components(seed=0)
    unet, vae = parts["unet"], parts["vae"]
    assert unet.config.cross_attention_dim == parts["text_encoder"].config.hidden_size
    assert any("CrossAttn" in block for block in unet.config.down_block_types)
    assert vae.config.latent_channels == 4
    image = torch.zeros(1, 3, 64, 64)
    assert vae.encode(image).latent_dist.mean.shape == (1, 4, 8, 8)  # 8x downsampling


def test_tiny_components_are_the_same_for_the_same_seed_and_differ_otherwise():
    first, again, other = (tiny_components(seed=s)["unet"] for s in (3, 3, 4))
    weight = "conv_in.weight"
    assert torch.equal(first.state_dict()[weight], again.state_dict()[weight])
    assert not torch.equal(first.state_dict()[weight], other.state_dict()[weight])


def test_tiny_tokenizer_spells_any_word_without_unknown_tokens():
    tokenizer = tiny_components()["tokenizer"]
    ids = tokenizer("Ìgbéyàwó ceremony in Lagos 北京 hutong").input_ids
    assert tokenizer.unk_token_id not in ids[1:-1]
    assert (
        tokenizer.decode(ids, skip_special_tokens=True) == "ìgbéyàwó ceremony in lagos 北京 hutong"
    )


def test_tiny_pipeline_is_built_once_and_loads_through_from_pretrained(tiny_path):
    assert json.loads((tiny_path / "model_index.json").read_text())["_class_name"] == (
        "StableDiffusionPipeline"
    )
    assert pipelines.tiny_pipeline_path() == tiny_path
    pipe = load_pipeline(TINY_MODEL)
    assert pipe.vae_scale_factor == 8
    assert pipe.tokenizer.model_max_length == 77


def test_loading_a_missing_folder_says_which_folder(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(FileNotFoundError) as error:
        load_pipeline(missing)
    assert str(error.value) == pipelines.MISSING_MODEL_FOLDER.format(path=missing)


def test_loading_a_folder_that_is_not_a_pipeline_says_so(tmp_path):
    with pytest.raises(ValueError) as error:
        load_pipeline(tmp_path)
    assert str(error.value) == pipelines.NOT_A_PIPELINE_FOLDER.format(path=tmp_path)


def test_an_unknown_hub_id_fails_clearly_without_reaching_the_network():
    with pytest.raises(ValueError, match="Could not load the model 'nobody/no-such-model'"):
        load_pipeline("nobody/no-such-model")


def test_loading_a_missing_adapter_says_which_folder(tmp_path, tiny_path):
    with pytest.raises(FileNotFoundError) as error:
        load_pipeline(tiny_path, adapter=tmp_path / "absent")
    assert str(error.value) == pipelines.MISSING_ADAPTER_FOLDER.format(path=tmp_path / "absent")
    with pytest.raises(FileNotFoundError) as error:
        load_pipeline(tiny_path, adapter=tmp_path)
    assert str(error.value) == pipelines.NOT_AN_ADAPTER_FOLDER.format(path=tmp_path)
