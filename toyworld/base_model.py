"""The shipped base model: where it lives, how it is made, and how it is checked.

`train_base` runs the whole recipe (render web corpus, train VAE, train text encoder
and UNet, save a diffusers folder in fp16 with SHA-256 sums). Stage checkpoints go to a
work folder, so an interrupted run resumes at the stage it had not finished.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextModel

from scoft_core.pipelines import (
    TinyConfig,
    tiny_text_encoder,
    tiny_tokenizer,
    tiny_unet,
    tiny_vae,
)
from toyworld.architecture import toy_architecture
from toyworld.base_training import (
    BaseTrainingConfig,
    Progress,
    assemble_pipeline,
    encode_latents,
    render_corpus,
    seed_everything,
    set_scaling_factor,
    train_denoiser,
    train_vae,
)
from toyworld.corpus import WEB_BIAS, web_corpus

WEIGHTS_DIR = Path(__file__).parent / "weights"
BASE_MODEL_DIR = WEIGHTS_DIR / "base"
DETECTORS_FILE = WEIGHTS_DIR / "detectors.safetensors"
CHECKSUM_FILE = "SHA256SUMS"
CHECKSUM_MISMATCH = (
    "The toy base model's file {name} does not match its recorded checksum; "
    "restore it from git or retrain it with `python -m toyworld train-base`."
)
MISSING_BASE_MODEL = (
    "The toy base model is missing from {folder}; restore it from git or train it with "
    "`python -m toyworld train-base`."
)


def train_base(
    out: Path,
    work: Path,
    config: BaseTrainingConfig | None = None,
    arch: TinyConfig | None = None,
    progress: Progress = print,
) -> Path:
    """Train the toy base model on the web corpus and save it as a diffusers folder."""
    config = config or BaseTrainingConfig()
    arch = arch or toy_architecture()
    started = time.time()
    work.mkdir(parents=True, exist_ok=True)
    examples = web_corpus(config.web_size, seed=config.seed)
    progress(f"rendering {len(examples)} web pictures")
    images = render_corpus(examples)

    vae_dir = work / "vae"
    if (vae_dir / "config.json").exists():
        progress(f"reusing the trained VAE in {vae_dir}")
        vae = AutoencoderKL.from_pretrained(vae_dir)
    else:
        seed_everything(config.seed)
        vae = tiny_vae(arch)
        train_vae(vae, images, config, progress)
        _save_atomically(vae, vae_dir)
    vae.eval()
    latents = encode_latents(vae, images)
    factor = set_scaling_factor(vae, latents)
    progress(f"latent scaling factor {factor:.4f}")

    tokenizer = tiny_tokenizer(arch)
    denoiser_dir = work / "denoiser"
    if (denoiser_dir / "unet" / "config.json").exists():
        progress(f"reusing the trained denoiser in {denoiser_dir}")
        unet = UNet2DConditionModel.from_pretrained(denoiser_dir / "unet")
        text_encoder = CLIPTextModel.from_pretrained(denoiser_dir / "text_encoder")
    else:
        seed_everything(config.seed + 1)
        text_encoder = tiny_text_encoder(tokenizer, arch)
        unet = tiny_unet(arch)
        captions = [e.caption for e in examples]
        train_denoiser(unet, text_encoder, tokenizer, latents * factor, captions, config, progress)
        _save_atomically(unet, denoiser_dir / "unet")
        _save_atomically(text_encoder, denoiser_dir / "text_encoder")

    pipeline = assemble_pipeline(vae, text_encoder, tokenizer, unet, arch)
    save_base_model(pipeline, out, config, arch, minutes=(time.time() - started) / 60)
    progress(f"saved the base model to {out} in {(time.time() - started) / 60:.1f} min")
    return out


def _save_atomically(model, folder: Path) -> None:
    staging = folder.with_name(folder.name + ".partial")
    if staging.exists():
        shutil.rmtree(staging)
    model.save_pretrained(staging)
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(staging, folder)


def save_base_model(pipeline, out: Path, config, arch, minutes: float) -> None:
    """Save in fp32 with a recipe and checksums.

    fp32, not fp16: diffusers loads weights in the dtype they are stored in unless told
    otherwise, and an fp16 pipeline does not run on a CPU; fp32 still fits in ~18 MB.
    """
    staging = out.with_name(out.name + ".partial")
    if staging.exists():
        shutil.rmtree(staging)
    pipeline.save_pretrained(staging, safe_serialization=True)
    recipe = {
        "command": "python -m toyworld train-base",
        "training": asdict(config),
        "architecture": asdict(arch),
        "web_bias": {culture: asdict(bias) for culture, bias in WEB_BIAS.items()},
        "minutes": round(minutes, 1),
        "torch": torch.__version__,
    }
    (staging / "toyworld_recipe.json").write_text(json.dumps(recipe, indent=2) + "\n")
    (staging / CHECKSUM_FILE).write_text(_checksum_lines(staging))
    if out.exists():
        shutil.rmtree(out)
    os.replace(staging, out)


def _weight_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.safetensors"))


def _checksum_lines(folder: Path) -> str:
    lines = [f"{_sha256(p)}  {p.relative_to(folder).as_posix()}" for p in _weight_files(folder)]
    return "\n".join(lines) + "\n"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_base_model(folder: Path = BASE_MODEL_DIR) -> list[str]:
    """Check every weight file against SHA256SUMS; returns the checked names.

    Raises FileNotFoundError when the model is missing and ValueError on a mismatch.
    """
    sums = folder / CHECKSUM_FILE
    if not sums.exists():
        raise FileNotFoundError(MISSING_BASE_MODEL.format(folder=folder))
    checked = []
    for line in sums.read_text().splitlines():
        expected, name = line.split(maxsplit=1)
        path = folder / name
        if not path.exists():
            raise FileNotFoundError(MISSING_BASE_MODEL.format(folder=folder))
        if _sha256(path) != expected:
            raise ValueError(CHECKSUM_MISMATCH.format(name=name))
        checked.append(name)
    return checked
