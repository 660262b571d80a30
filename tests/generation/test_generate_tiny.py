"""generate_batch end to end on the tiny model on CPU, including a real SIGKILL mid-batch."""

import os
import signal
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from generation.management.commands.generate_batch import (
    BAD_BATCH_SIZE,
    BAD_SAMPLER,
    SOME_IMAGES_FAILED,
)
from generation.models import GeneratedImage, ImageSet
from generation.services import archive
from generation.services.generate import accelerate_processes, sampler_settings

from .conftest import spec_text

ROOT = Path(__file__).resolve().parents[2]
SMALL = "scheduler = 'dpm-solver-multistep'\nsteps = 2\nwidth = 32\nheight = 32"


@pytest.mark.django_db
def test_a_tiny_model_study_runs_end_to_end_on_cpu_with_its_records(
    tiny_model, tmp_path, media_root
):
    spec = tmp_path / "study.toml"
    spec.write_text(spec_text(countries={"CN": 1}, seeds=(3, 4), sampler=SMALL))
    out = StringIO()
    call_command("generate_batch", str(spec), "--no-progress", stdout=out)
    assert "generated 4, skipped 0, failed 0" in out.getvalue()
    assert ImageSet.objects.count() == 2 and GeneratedImage.objects.count() == 4
    for image in GeneratedImage.objects.select_related("image_set"):
        assert (image.scheduler, image.steps, image.guidance) == ("dpm-solver-multistep", 2, 4.5)
        assert (image.width, image.height, image.device) == (32, 32, "cpu")
        assert {"torch", "diffusers", "python"} <= set(image.library_versions)
        path = media_root / image.file.name
        assert archive.sha256_file(path) == image.sha256
        with Image.open(path) as png:
            assert png.size == (32, 32)
            assert f'"seed": {image.seed}' in png.text["parameters"]
    # Both variants are the same tiny model, so the same seed must give the same pixels.
    pixels = {}
    for image in GeneratedImage.objects.select_related("image_set"):
        with Image.open(media_root / image.file.name) as png:
            pixels.setdefault(image.image_set.seed, set()).add(png.tobytes())
    assert [len(p) for p in pixels.values()] == [1, 1]
    assert pixels[3] != pixels[4]

    out = StringIO()
    call_command("generate_batch", str(spec), "--no-progress", stdout=out)
    assert "generated 0, skipped 4, failed 0" in out.getvalue()


@pytest.mark.django_db
def test_the_dry_run_prints_the_plan_and_generates_nothing(tmp_path, media_root):
    spec = tmp_path / "study.toml"
    spec.write_text(spec_text(countries={"CN": 2}, seeds=(3, 4)))
    out = StringIO()
    call_command("generate_batch", str(spec), "--dry-run", stdout=out)
    text = out.getvalue()
    assert "Dry run" in text and "4 image sets x 2 variants = 8 images" in text
    assert "sampler: scheduler=dpm-solver-multistep, steps=8" in text  # the tiny defaults
    assert not media_root.exists() and GeneratedImage.objects.count() == 0


def test_published_sampler_defaults_apply_unless_every_variant_is_tiny(write_spec):
    real = write_spec(model="CompVis/stable-diffusion-v1-4")
    settings = sampler_settings(real)
    assert (settings.scheduler, settings.steps, settings.guidance) == (
        "dpm-solver-multistep",
        50,
        4.5,
    )
    assert (settings.width, settings.height) == (512, 512)
    assert sampler_settings(write_spec(sampler="steps = 3")).steps == 3


def test_a_bad_spec_or_sampler_stops_the_command_before_any_work(tmp_path):
    spec = tmp_path / "study.toml"
    spec.write_text(spec_text(variants=("a", "a")))
    with pytest.raises(CommandError, match="variant key 'a' is used by more than one"):
        call_command("generate_batch", str(spec))
    spec.write_text(spec_text(sampler="scheduler = 'warp-drive'"))
    with pytest.raises(CommandError) as caught:
        call_command("generate_batch", str(spec))
    assert str(caught.value).startswith(BAD_SAMPLER.format(error="Unknown scheduler"))


def subprocess_env(tmp_path: Path, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        SQLITE_PATH=str(tmp_path / "db.sqlite3"),
        MEDIA_ROOT=str(tmp_path / "media"),
        SCOFT_CACHE_DIR=str(cache),
        HF_HUB_OFFLINE="1",
        OMP_NUM_THREADS="1",
    )
    return env


@pytest.mark.django_db
def test_a_batch_killed_with_sigkill_and_rerun_ends_with_exactly_the_expected_images(
    tiny_model, scoft_cache, tmp_path, settings
):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    spec = tmp_path / "study.toml"
    # 2 variants x 3 prompts x 2 seeds = 12 images in 6 sets, 2 per pipeline call.
    spec.write_text(
        spec_text(
            countries={"CN": 3},
            seeds=(1, 2),
            batch_size=2,
            sampler="steps = 4\nwidth = 32\nheight = 32",
        )
    )
    output = tmp_path / "media" / "generated" / "test-study"
    process = subprocess.Popen(
        [sys.executable, "manage.py", "generate_batch", str(spec), "--no-progress"],
        cwd=ROOT,
        env=subprocess_env(tmp_path, scoft_cache),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    manifest = archive.manifest_path(output, 0)
    deadline = time.monotonic() + 240
    while not (manifest.exists() and manifest.read_text().count("\n") >= 2):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert process.returncode == -signal.SIGKILL
    finished = len(archive.read_manifests(output))
    assert 2 <= finished < 12  # killed mid-run, with some images done
    # The killed run never reached its database (the records are written last): the
    # subprocess's SQLite file was never even created.
    assert not (tmp_path / "db.sqlite3").exists()

    out = StringIO()
    call_command("generate_batch", str(spec), "--no-progress", stdout=out)
    assert f"generated {12 - finished}, skipped {finished}, failed 0" in out.getvalue()
    pngs = sorted(output.rglob("*.png"))
    assert len(pngs) == 12 and not list(output.rglob("*.partial"))
    assert ImageSet.objects.count() == 6 and GeneratedImage.objects.count() == 12
    files = set(GeneratedImage.objects.values_list("file", flat=True))
    assert files == {p.relative_to(tmp_path / "media").as_posix() for p in pngs}
    for image in GeneratedImage.objects.all():
        assert archive.sha256_file(tmp_path / "media" / image.file.name) == image.sha256
    assert len(archive.read_manifests(output)) == 12


@pytest.mark.django_db
def test_a_model_that_cannot_load_fails_its_images_and_the_command_says_rerun(
    tiny_model, tmp_path, media_root
):
    spec = tmp_path / "study.toml"
    text = spec_text(countries={"CN": 1}, seeds=(3,), sampler=SMALL)
    spec.write_text(text.replace('model = "tiny"', 'model = "nobody/no-such-model"', 1))
    out = StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("generate_batch", str(spec), "--no-progress", stdout=out)
    message = str(caught.value)
    assert message.startswith(SOME_IMAGES_FAILED.split("{error}")[0].format(failed=1))
    assert "Could not load variant 'pretrained' (nobody/no-such-model)" in message
    assert "generated 1, skipped 0, failed 1" in out.getvalue()
    assert GeneratedImage.objects.count() == 0  # the image set is incomplete


def test_one_process_without_a_launcher_is_the_main_process_on_the_cpu():
    processes = accelerate_processes()
    assert (processes.index, processes.count, processes.is_main) == (0, 1, True)
    assert processes.device == "cpu"


def test_a_batch_size_below_one_is_refused(tmp_path):
    spec = tmp_path / "study.toml"
    spec.write_text(spec_text())
    with pytest.raises(CommandError, match=BAD_BATCH_SIZE):
        call_command("generate_batch", str(spec), "--batch-size", "0")


def write_lora_adapter(tiny_model: Path, folder: Path) -> Path:
    """A LoRA adapter for the tiny UNet, with random (not zero) weights so it shows."""
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig, get_peft_model_state_dict

    from scoft_core.pipelines import load_pipeline

    pipe = load_pipeline(tiny_model)
    pipe.unet.add_adapter(
        LoraConfig(
            r=4,
            lora_alpha=4,
            init_lora_weights=False,
            target_modules=["to_q", "to_k", "to_v", "to_out.0"],
        )
    )
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(pipe.unet))
    StableDiffusionPipeline.save_lora_weights(folder, unet_lora_layers=layers)
    return folder


@pytest.mark.django_db
def test_a_variant_with_an_adapter_draws_its_own_images_and_records_the_adapter_hash(
    tiny_model, tmp_path, media_root
):
    adapter = write_lora_adapter(tiny_model, tmp_path / "adapters" / "scoft-mpc")
    spec = tmp_path / "study.toml"
    text = spec_text(countries={"CN": 1}, seeds=(3,), sampler=SMALL)
    marker = 'label = "Variant scoft-mpc"'
    spec.write_text(text.replace(marker, marker + '\nadapter = "adapters/scoft-mpc"'))
    call_command("generate_batch", str(spec), "--no-progress", stdout=StringIO())
    base, tuned = GeneratedImage.objects.order_by("variant__position")
    assert (base.adapter_sha256, tuned.adapter_sha256) == ("", archive.sha256_folder(adapter))
    assert tuned.variant.adapter_path == str(adapter)
    with (
        Image.open(media_root / base.file.name) as a,
        Image.open(media_root / tuned.file.name) as b,
    ):
        assert a.tobytes() != b.tobytes()
