"""Loading the toy base model and drawing images from it with shared seeds.

Each image has its own seeded generator, so image i of a prompt is the same picture
whichever batch it was drawn in, and every model variant gets the same starting noise
for the same (prompt, seed): an image set differs only by model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from diffusers import StableDiffusionPipeline

from toyworld.world import IMAGE_SIZE


@dataclass(frozen=True)
class ToySampling:
    """Sampler settings for the toy model (its DPM-Solver scheduler is in the folder)."""

    steps: int = 20  # the toy latents are 8x8; more steps change nothing visible
    guidance: float = 4.5  # the SCoFT inference guidance
    batch_size: int = 32


def load_base_pipeline(folder: Path) -> StableDiffusionPipeline:
    """The toy base model as an fp32 pipeline (the weights are stored in fp16)."""
    pipeline = StableDiffusionPipeline.from_pretrained(folder, dtype=torch.float32)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


@torch.no_grad()
def sample_images(
    pipeline: StableDiffusionPipeline,
    prompts: list[str],
    seeds: list[int],
    settings: ToySampling | None = None,
) -> np.ndarray:
    """One image per (prompt, seed) pair -> (N, 64, 64, 3) uint8."""
    settings = settings or ToySampling()
    if len(prompts) != len(seeds):
        raise ValueError("There must be exactly one seed per prompt.")
    images = []
    for start in range(0, len(prompts), settings.batch_size):
        chunk = slice(start, start + settings.batch_size)
        generators = [torch.Generator().manual_seed(int(s)) for s in seeds[chunk]]
        out = pipeline(
            prompts[chunk],
            generator=generators,
            num_inference_steps=settings.steps,
            guidance_scale=settings.guidance,
            height=IMAGE_SIZE,
            width=IMAGE_SIZE,
            output_type="np",
        )
        images.append(out.images)
    return (np.concatenate(images) * 255.0 + 0.5).clip(0, 255).astype(np.uint8)


@torch.no_grad()
def through_vae(vae, images: np.ndarray, batch: int = 64) -> np.ndarray:
    """Encode and decode uint8 images with the VAE (posterior mean) -> uint8 images."""
    out = []
    for start in range(0, len(images), batch):
        x = torch.from_numpy(images[start : start + batch]).permute(0, 3, 1, 2).float()
        x = x / 127.5 - 1.0
        decoded = vae.decode(vae.encode(x).latent_dist.mean).sample
        out.append(((decoded.clamp(-1, 1) + 1) * 127.5 + 0.5).permute(0, 2, 3, 1).byte().numpy())
    return np.concatenate(out)
