"""Drawing images from the toy model (base or with an adapter) through scoft_core.

Loading and sampling are scoft_core's (`load_pipeline`, `sample`): each image has its
own seeded generator, so every variant gets the same starting noise for the same
(prompt, seed) and an image set differs only by model. This module only fixes the toy
world's sampler settings and turns images into arrays for the detectors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from scoft_core.pipelines import load_pipeline
from scoft_core.sampling import SamplerSettings, sample
from toyworld.world import IMAGE_SIZE

# DPM-Solver as in SCoFT's inference, 20 steps (the toy latents are 8x8: more changes
# nothing visible), the published guidance 4.5, at the toy model's 64 px.
TOY_SAMPLER = SamplerSettings(
    scheduler="dpm-solver-multistep", steps=20, guidance=4.5, width=IMAGE_SIZE, height=IMAGE_SIZE
)


def load_toy_pipeline(model: Path, adapter: Path | None = None):
    """The toy model, with an optional LoRA adapter from `scoft_core train`."""
    return load_pipeline(model, adapter=adapter)


@torch.no_grad()
def sample_images(
    pipeline,
    prompts: list[str],
    seeds: list[int],
    settings: SamplerSettings = TOY_SAMPLER,
    batch_size: int = 32,
) -> np.ndarray:
    """One image per (prompt, seed) pair -> (N, 64, 64, 3) uint8."""
    images = sample(pipeline, prompts, seeds, settings, batch_size=batch_size)
    return np.stack([np.asarray(image.convert("RGB")) for image in images])


@torch.no_grad()
def through_vae(vae, images: np.ndarray, batch: int = 64) -> np.ndarray:
    """Encode and decode uint8 images with the VAE (posterior mean) -> uint8 images."""
    out = []
    for start in range(0, len(images), batch):
        x = torch.from_numpy(images[start : start + batch]).permute(0, 3, 1, 2).float()
        x = x / 127.5 - 1.0
        decoded = vae.decode(vae.encode(x).latent_dist.mean).sample
        pixels = ((decoded.clamp(-1, 1) + 1) * 127.5 + 0.5).permute(0, 2, 3, 1)
        out.append(pixels.to(torch.uint8).numpy())
    return np.concatenate(out)
