"""Preparation tools: BLIP generic captions and base-model negatives, resumable."""

import json

import pytest
import torch
from diffusers import ControlNetModel
from PIL import Image

from scoft_core import captions, data, negatives
from scoft_core.cli import main
from scoft_core.sampling import SamplerSettings
from tests.scoft_core.community import make_data_set

FAST = SamplerSettings(scheduler="ddim", steps=2, width=32, height=32)
BLIP_WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", "a", "photo", "of", "the"]
BLIP_WORDS += ["man", "woman", "house", "rice", "drum", "cloth", "red", "blue", "and", "with"]


@pytest.fixture(scope="module")
def tiny_blip(tmp_path_factory):
    """A random BLIP captioner built from a config, saved like a downloaded one."""
    from transformers import (
        BertTokenizer,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessorPil,
        BlipProcessor,
    )

    folder = tmp_path_factory.mktemp("tiny-blip")
    tokenizer = BertTokenizer(vocab={w: i for i, w in enumerate(BLIP_WORDS)}, bos_token="[DEC]")
    processor = BlipProcessor(
        image_processor=BlipImageProcessorPil(size={"height": 32, "width": 32}), tokenizer=tokenizer
    )
    small = {
        "hidden_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 4,
        "intermediate_size": 64,
    }
    text = {**small, "vocab_size": len(BLIP_WORDS), "max_position_embeddings": 40}
    text |= {"bos_token_id": 5, "pad_token_id": 0, "sep_token_id": 3, "eos_token_id": 3}
    torch.manual_seed(0)
    config = BlipConfig(
        text_config=text,
        vision_config={**small, "image_size": 32, "patch_size": 8},
        projection_dim=32,
    )
    BlipForConditionalGeneration(config).save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_depth(tmp_path_factory, tiny_path):
    """A random depth ControlNet (from the tiny UNet) and a random GLPN depth estimator."""
    from diffusers import UNet2DConditionModel
    from transformers import GLPNConfig, GLPNForDepthEstimation, GLPNImageProcessorPil

    folder = tmp_path_factory.mktemp("tiny-depth")
    torch.manual_seed(0)
    unet = UNet2DConditionModel.from_pretrained(tiny_path, subfolder="unet")
    ControlNetModel.from_unet(
        unet, conditioning_embedding_out_channels=(8, 8, 16, 16)
    ).save_pretrained(folder / "controlnet")
    config = GLPNConfig(
        depths=[1, 1, 1, 1],
        hidden_sizes=[8, 16, 32, 32],
        num_attention_heads=[1, 1, 2, 2],
        mlp_ratios=[2, 2, 2, 2],
        decoder_hidden_size=16,
    )
    GLPNForDepthEstimation(config).save_pretrained(folder / "depth")
    GLPNImageProcessorPil().save_pretrained(folder / "depth")
    return folder / "controlnet", folder / "depth"


def rows_of(folder):
    return [json.loads(line) for line in (folder / "metadata.jsonl").read_text().splitlines()]


def test_captions_fill_only_missing_generic_captions_and_keep_everything_else(tmp_path, tiny_blip):
    folder = make_data_set(tmp_path, count=3, negatives=1, generic=False)
    rows = rows_of(folder)
    rows[1]["blip_text"] = "kept as written"
    rows[2]["culture"] = "Nigeria"
    data.write_rows(folder, rows)
    progress = list(captions.fill_generic_captions(folder, model=tiny_blip, batch_size=1))
    assert [(p.done, p.total, p.skipped) for p in progress] == [(1, 2, 1), (2, 2, 1)]
    after = rows_of(folder)
    assert after[1]["blip_text"] == "kept as written"
    assert all(row["blip_text"] for row in after)
    assert after[2]["culture"] == "Nigeria"
    assert [row["file_name"] for row in after] == [row["file_name"] for row in rows]
    # A rerun has nothing left to do and loads no model.
    assert [p.total for p in captions.fill_generic_captions(folder, model="no/such-model")] == [0]


def test_captions_refuse_a_model_that_is_not_there(tmp_path):
    folder = make_data_set(tmp_path, count=1, negatives=0, generic=False)
    with pytest.raises(ValueError, match="Could not load the captioning model"):
        list(captions.fill_generic_captions(folder, model=tmp_path / "absent"))


def test_negatives_are_made_per_image_recorded_and_reused_on_a_rerun(tmp_path, tiny_path):
    folder = make_data_set(tmp_path, count=2, negatives=0)
    progress = list(
        negatives.make_negatives(folder, model=tiny_path, per_image=2, settings=FAST, batch_size=3)
    )
    assert [(p.made, p.total) for p in progress] == [(3, 4), (4, 4)]
    rows = rows_of(folder)
    assert rows[0]["negative_imgpath"] == [
        "negatives/images__0__neg0.png",
        "negatives/images__0__neg1.png",
    ]
    for name in rows[1]["negative_imgpath"]:
        assert Image.open(folder / name).size == (32, 32)
    assert data.validate_data_set(folder, need_negatives=True) == []
    rerun = list(negatives.make_negatives(folder, model=tiny_path, per_image=2, settings=FAST))
    assert [(p.made, p.total, p.reused) for p in rerun] == [(0, 0, 4)]


def test_an_interrupted_negatives_run_finishes_on_the_rerun_with_the_same_images(
    tmp_path, tiny_path
):
    straight = make_data_set(tmp_path / "straight", count=2, negatives=0)
    list(
        negatives.make_negatives(
            straight, model=tiny_path, per_image=2, settings=FAST, batch_size=2
        )
    )
    interrupted = make_data_set(tmp_path / "interrupted", count=2, negatives=0)
    run = negatives.make_negatives(
        interrupted, model=tiny_path, per_image=2, settings=FAST, batch_size=2
    )
    next(run)
    run.close()  # stopped after the first batch
    assert len(rows_of(interrupted)[0]["negative_imgpath"]) == 2
    assert (
        "negative_imgpath" not in rows_of(interrupted)[1]
        or not rows_of(interrupted)[1]["negative_imgpath"]
    )
    list(
        negatives.make_negatives(
            interrupted, model=tiny_path, per_image=2, settings=FAST, batch_size=2
        )
    )
    assert rows_of(interrupted) == rows_of(straight)
    for name in rows_of(straight)[1]["negative_imgpath"]:
        assert Image.open(straight / name).tobytes() == Image.open(interrupted / name).tobytes()


def test_negatives_can_follow_the_depth_of_the_community_image(tmp_path, tiny_path, tiny_depth):
    controlnet, depth = tiny_depth
    folder = make_data_set(tmp_path, count=1, negatives=0)
    status = main(
        [
            "negatives",
            "--data",
            str(folder),
            "--model",
            str(tiny_path),
            "--per-image",
            "1",
            "--controlnet",
            str(controlnet),
            "--depth-estimator",
            str(depth),
            "--scheduler",
            "ddim",
            "--steps",
            "2",
            "--width",
            "32",
            "--height",
            "32",
            "--quiet",
        ]
    )
    assert status == 0
    (name,) = rows_of(folder)[0]["negative_imgpath"]
    assert Image.open(folder / name).size == (32, 32)


def test_depth_conditioning_needs_both_models(tmp_path, tiny_path):
    folder = make_data_set(tmp_path, count=1, negatives=0)
    with pytest.raises(ValueError) as error:
        list(negatives.make_negatives(folder, model=tiny_path, controlnet=tmp_path, settings=FAST))
    assert str(error.value) == negatives.DEPTH_NEEDS_BOTH


def test_the_captions_command_fills_every_row(tmp_path, tiny_blip):
    folder = make_data_set(tmp_path, count=2, negatives=0, generic=False)
    status = main(["captions", "--data", str(folder), "--model", str(tiny_blip), "--quiet"])
    assert status == 0
    assert data.validate_data_set(folder, need_generic=True) == []
