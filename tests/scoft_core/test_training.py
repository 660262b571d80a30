"""Training: variants end to end from the CLI, adapters stock diffusers reads, exact resume."""

import csv
import json
import math

import pytest
import torch
from diffusers import DDPMScheduler, StableDiffusionPipeline
from diffusers.optimization import get_scheduler
from safetensors.torch import load_file

from scoft_core import adapters, run_folder, training, variants
from scoft_core.cli import main
from scoft_core.data import DataSetError
from scoft_core.pipelines import resolve_model
from study.names import LORA_WEIGHTS_FILE
from tests.scoft_core.community import make_data_set

FAST = {"resolution": 32, "lora_rank": 4, "batch_size": 2, "grad_accumulation": 2}


def fast_config(variant="scoft-m", **overrides):
    return variants.preset(variant, **{**FAST, **overrides})


def adapter_weights(folder):
    return load_file(folder / LORA_WEIGHTS_FILE)


@pytest.fixture
def community(tmp_path):
    return make_data_set(tmp_path / "community", count=4, negatives=2)


def test_the_presets_match_the_papers_ablation():
    m, mp, mpc = (variants.PRESETS[name] for name in ("scoft-m", "scoft-mp", "scoft-mpc"))
    assert (m.memorization, m.contrastive, m.perceptual) == (True, "off", False)
    assert (mp.memorization, mp.contrastive, mp.perceptual) == (True, "positive", True)
    assert (mpc.memorization, mpc.contrastive, mpc.perceptual) == (True, "full", True)
    assert mpc.lora_rank == 64 and mpc.lora_targets == ("to_q", "to_k", "to_v", "to_out.0")
    assert (mpc.learning_rate, mpc.adam_betas, mpc.weight_decay) == (1e-4, (0.9, 0.999), 1e-2)
    assert (mpc.seed, mpc.grad_accumulation, mpc.unroll_every) == (1024, 4, 10)


def test_pretrained_is_not_a_training_variant_and_unknown_names_are_refused():
    with pytest.raises(ValueError, match="nothing to train"):
        variants.preset("pretrained")
    with pytest.raises(ValueError, match="Unknown variant 'scoft-x'"):
        variants.preset("scoft-x")
    with pytest.raises(ValueError, match="Unknown training setting 'rank'"):
        variants.preset("scoft-m", rank=3)
    with pytest.raises(ValueError, match="grad_step must be one of"):
        variants.preset("scoft-m", grad_step="middle")


def test_the_config_survives_a_trip_through_json():
    config = fast_config("scoft-mpc", max_steps=7)
    text = json.dumps(variants.config_to_dict(config))
    assert variants.config_from_dict(json.loads(text)) == config


def test_training_writes_a_complete_adapter_folder(community, tmp_path, tiny_path):
    output = tmp_path / "adapter"
    result = training.train(
        community, output, fast_config(max_steps=2), base_model=tiny_path, progress=False
    )
    assert result.steps == 2 and result.resumed_from == 0
    description = json.loads((output / run_folder.VARIANT_FILE).read_text())
    assert description["variant"] == "scoft-m"
    assert description["steps"] == 2
    assert description["base_model"] == str(tiny_path)
    assert description["loss_weights"] == {
        "ldm": 0.7,
        "memorization": 0.3,
        "contrastive": 0.05,
        "perceptual": 0.01,
    }
    assert len(description["data_set_hash"]) == 64
    assert set(description["versions"]) >= {"torch", "diffusers", "peft"}
    with (output / run_folder.LOSS_LOG).open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["step"] for row in rows] == ["1", "2"]
    assert rows[0]["ldm"] and rows[0]["memorization"] and not rows[0]["contrastive"]
    # LoRA starts as the identity (B = 0); training must have moved it.
    weights = adapter_weights(output)
    assert any(
        name.endswith("lora.up.weight") and value.abs().sum() > 0 for name, value in weights.items()
    )


def test_a_finished_run_is_not_repeated_and_a_different_one_is_refused(
    community, tmp_path, tiny_path
):
    output = tmp_path / "adapter"
    config = fast_config(max_steps=1)
    training.train(community, output, config, base_model=tiny_path, progress=False)
    again = training.train(community, output, config, base_model=tiny_path, progress=False)
    assert again.already_done
    with pytest.raises(ValueError) as error:
        training.train(
            community, output, fast_config(max_steps=2), base_model=tiny_path, progress=False
        )
    assert str(error.value) == run_folder.DIFFERENT_RUN.format(folder=output, what="settings")


def test_a_bad_data_set_stops_training_before_anything_is_written(tmp_path, tiny_path):
    community = make_data_set(tmp_path / "community", count=2, negatives=0, generic=False)
    with pytest.raises(DataSetError) as error:
        training.train(
            community, tmp_path / "adapter", fast_config(max_steps=1), base_model=tiny_path
        )
    assert error.value.problems[0].startswith("line 1: no generic caption")
    assert not (tmp_path / "adapter").exists()


def test_a_run_resumed_after_a_checkpoint_ends_with_the_same_weights(
    community, tmp_path, tiny_path
):
    # SCoFT-MPC unrolling every third micro-step, so the replayed steps include unrolls.
    config = fast_config(
        "scoft-mpc",
        max_steps=4,
        checkpoint_every=2,
        unroll_every=3,
        unroll_cadence="global",
        unroll_steps=3,
        feature_distance="random-conv",
        perceptual_distance="ssim",
    )
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    training.train(community, straight, config, base_model=tiny_path, progress=False)
    # Stop one step after the checkpoint at step 2, as a crash would.
    stopped = training.train(
        community, interrupted, config, base_model=tiny_path, progress=False, stop_after=3
    )
    assert stopped.steps == 3 and not (interrupted / LORA_WEIGHTS_FILE).exists()
    resumed = training.train(community, interrupted, config, base_model=tiny_path, progress=False)
    assert resumed.resumed_from == 2
    expected, got = adapter_weights(straight), adapter_weights(interrupted)
    assert expected.keys() == got.keys()
    assert all(torch.equal(expected[key], got[key]) for key in expected)
    logs = [(folder / run_folder.LOSS_LOG).read_text() for folder in (straight, interrupted)]
    assert logs[0] == logs[1]
    unrolled = [row["contrastive"] != "" for row in csv.DictReader(logs[0].splitlines())]
    assert unrolled == [True, True, False, True]  # micro-steps 0, 3 and 6 of 0..7


def test_an_adapter_round_trips_through_stock_diffusers_with_identical_outputs(tmp_path, tiny_path):
    pipe = StableDiffusionPipeline.from_pretrained(tiny_path)
    unet = pipe.unet
    adapters.add_lora(unet, fast_config())
    torch.manual_seed(0)
    with torch.no_grad():
        for name, parameter in unet.named_parameters():
            if "lora_B" in name:
                parameter.normal_(std=0.05)  # trained adapters are not zero
    latents, t = torch.randn(2, 4, 8, 8), torch.tensor([10, 500])
    words = torch.randn(2, 77, unet.config.cross_attention_dim)
    with torch.no_grad():
        trained = unet(latents, t, words).sample
    adapters.save_adapter(unet, tmp_path)

    stock = StableDiffusionPipeline.from_pretrained(tiny_path)
    with torch.no_grad():
        base = stock.unet(latents, t, words).sample
    stock.load_lora_weights(tmp_path)
    with torch.no_grad():
        loaded = stock.unet(latents, t, words).sample
    assert torch.allclose(loaded, trained, atol=1e-6)
    assert not torch.allclose(loaded, base, atol=1e-3)


def test_gradient_reaches_only_the_lora_parameters(community, tiny_path):
    from scoft_core import data, objective

    config = fast_config()
    pipe = StableDiffusionPipeline.from_pretrained(tiny_path)
    unet = pipe.unet
    adapters.add_lora(unet, config)
    parts = objective.FrozenParts(
        vae=pipe.vae.requires_grad_(False),
        text_encoder=pipe.text_encoder.requires_grad_(False),
        tokenizer=pipe.tokenizer,
        noise_scheduler=DDPMScheduler.from_config(pipe.scheduler.config),
    )
    examples = data.load_data_set(community)
    batch = data.collate(community, examples[:2], [False, True], resolution=32)
    terms = objective.scoft_terms(
        unet, parts, batch, config, micro_step=0, generator=torch.Generator().manual_seed(0)
    )
    terms["ldm"].add(terms["memorization"]).backward()
    with_grad = {name for name, p in unet.named_parameters() if p.grad is not None}
    assert with_grad and all("lora_" in name for name in with_grad)
    assert all(p.grad is None for p in [*pipe.vae.parameters(), *pipe.text_encoder.parameters()])


def test_the_cli_trains_a_variant_and_samples_with_its_adapter(
    community, tmp_path, tiny_path, capsys
):
    output = tmp_path / "adapter"
    status = main(
        ["train", "--data", str(community), "--output", str(output), "--variant", "scoft-m",
         "--model", str(tiny_path), "--resolution", "32", "--max-steps", "2", "--lora-rank", "4",
         "--batch-size", "2", "--grad-accumulation", "1", "--quiet",
         "--loss-weights", "ldm=1,memorization=0.5", "--set", "weight_decay=0"]
    )  # fmt: skip
    assert status == 0, capsys.readouterr().err
    _, config = run_folder.read_variant(output)
    assert (config.weights.ldm, config.weights.memorization, config.weight_decay) == (1, 0.5, 0)
    images = tmp_path / "images"
    args = [
        "sample",
        "--model",
        str(tiny_path),
        "--prompt",
        "a gele headwrap",
        "--seeds",
        "1,2",
        "--output",
        str(images),
        "--steps",
        "2",
        "--width",
        "32",
        "--height",
        "32",
        "--quiet",
    ]
    assert main([*args, "--adapter", str(output)]) == 0
    rows = list(csv.DictReader((images / "images.csv").open()))
    assert [(row["prompt"], row["seed"]) for row in rows] == [
        ("a gele headwrap", "1"),
        ("a gele headwrap", "2"),
    ]
    assert all((images / row["file_name"]).is_file() for row in rows)


def test_the_cli_reports_a_bad_data_set_as_a_sentence(tmp_path, tiny_path, capsys):
    community = make_data_set(tmp_path / "community", count=1, negatives=0)
    status = main(
        [
            "train",
            "--data",
            str(community),
            "--output",
            str(tmp_path / "a"),
            "--variant",
            "scoft-mpc",
            "--model",
            str(tiny_path),
            "--quiet",
        ]
    )
    assert status == 2
    assert "line 1: no negative images (negative_imgpath)" in capsys.readouterr().err


@pytest.mark.parametrize("variant", ["scoft-m", "scoft-mp", "scoft-mpc"])
def test_each_preset_trains_a_few_steps_end_to_end_from_the_cli(variant, community, tmp_path):
    output = tmp_path / variant
    status = main(
        ["train", "--data", str(community), "--output", str(output), "--variant", variant,
         "--model", "tiny", "--resolution", "32", "--max-steps", "2", "--lora-rank", "4",
         "--batch-size", "2", "--grad-accumulation", "2", "--unroll-every", "3",
         "--unroll-steps", "4", "--quiet"]
    )  # fmt: skip
    assert status == 0
    description, config = run_folder.read_variant(output)
    assert description["variant"] == variant == config.variant
    assert config.feature_distance == "random-conv"  # the tiny model's offline default
    with (output / run_folder.LOSS_LOG).open() as handle:
        first = next(csv.DictReader(handle))
    assert bool(first["contrastive"]) == (variant != "scoft-m")
    assert bool(first["perceptual"]) == (variant != "scoft-m")
    assert description["base_model"] == "tiny"
    pipe = StableDiffusionPipeline.from_pretrained(resolve_model("tiny"))
    pipe.load_lora_weights(output)  # stock diffusers reads the adapter


def test_any_setting_and_the_loss_weights_can_be_given_on_the_command_line():
    overrides = variants.parse_settings(
        ["weight_decay=0", "lora-alpha=32", "random_flip=false", "lora_targets=to_q, to_v"]
    )
    assert overrides == {
        "weight_decay": 0.0,
        "lora_alpha": 32,
        "random_flip": False,
        "lora_targets": ("to_q", "to_v"),
    }
    weights = variants.parse_loss_weights("ldm=1,contrastive=0.2")
    assert (weights.ldm, weights.memorization, weights.contrastive) == (1.0, 0.3, 0.2)
    with pytest.raises(ValueError, match="Unknown training setting 'speed'"):
        variants.parse_settings(["speed=3"])
    with pytest.raises(ValueError, match="takes a whole number; got 'many'"):
        variants.parse_settings(["lora_rank=many"])
    with pytest.raises(ValueError, match="Unknown loss term 'style'"):
        variants.parse_loss_weights("style=1")


@pytest.mark.parametrize(
    ("length", "expected_end"), [("published", 0.5 * (1 + math.cos(math.pi / 4))), ("run", 0.0)]
)
def test_the_published_schedule_length_leaves_the_rate_at_085_of_its_peak(length, expected_end):
    config = fast_config(max_steps=100, grad_accumulation=4, schedule_length=length)
    steps = training.schedule_steps(config, 100)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    schedule = get_scheduler(
        "cosine", optimizer, num_warmup_steps=steps.warmup, num_training_steps=steps.total
    )
    for _ in range(100):
        optimizer.step()
        schedule.step()
    assert schedule.get_last_lr()[0] == pytest.approx(expected_end, abs=1e-9)


@pytest.mark.parametrize(
    "setting",
    ["unroll_update=euler", "unroll_timesteps=odd", "unroll_cadence=daily", "lpips_relu=gelu",
     "schedule_length=long"],
)  # fmt: skip
def test_an_unknown_choice_for_a_published_switch_is_refused_with_the_choices(setting):
    name, _, value = setting.partition("=")
    with pytest.raises(ValueError) as error:
        fast_config(**variants.parse_settings([setting]))
    assert str(error.value).startswith(f"The training setting {name} must be one of")
    assert repr(value) in str(error.value)
