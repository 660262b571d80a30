"""Images from a pipeline: one seed per image, several images per pipeline call.

Each image gets its own CPU ``torch.Generator`` seeded with its seed, so an image
depends only on (model, prompt, seed, settings): not on the machine's device, nor on
which other images shared its batch. That is what lets every variant of a prompt be
drawn from the same seed, so an image set differs only by model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from diffusers import (
    DDIMScheduler,
    DDPMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    HeunDiscreteScheduler,
    LMSDiscreteScheduler,
    PNDMScheduler,
    UniPCMultistepScheduler,
)
from PIL import Image

SCHEDULERS = {
    "dpm-solver-multistep": DPMSolverMultistepScheduler,
    "ddim": DDIMScheduler,
    "ddpm": DDPMScheduler,
    "euler": EulerDiscreteScheduler,
    "euler-ancestral": EulerAncestralDiscreteScheduler,
    "heun": HeunDiscreteScheduler,
    "lms": LMSDiscreteScheduler,
    "pndm": PNDMScheduler,
    "unipc": UniPCMultistepScheduler,
}

UNKNOWN_SCHEDULER = "Unknown scheduler {name!r}; choose one of: {choices}."
SEEDS_DO_NOT_MATCH_PROMPTS = "Got {prompts} prompts but {seeds} seeds; give one seed per prompt."
BAD_SIZE = "Width and height must be positive multiples of {factor} pixels; got {width}x{height}."
BAD_STEPS = "The number of sampling steps must be at least 1; got {steps}."
CONTROL_IMAGES_DO_NOT_MATCH = "Got {prompts} prompts but {images} control images; give one each."
BAD_BATCH_SIZE = "The batch size must be at least 1; got {batch_size}."


@dataclass(frozen=True)
class SamplerSettings:
    """How images are drawn; the defaults are the published SCoFT inference settings."""

    scheduler: str = "dpm-solver-multistep"  # SCoFT's inference.py uses DPM-Solver multistep
    steps: int = 50  # denoising steps, as published
    guidance: float = 4.5  # classifier-free guidance scale, as published
    width: int = 512  # SD v1's native resolution
    height: int = 512


TINY_SAMPLER = SamplerSettings(steps=8, width=64, height=64)
"""Settings for the tiny pipeline: its native 64 px, and few steps since it is random."""


def scheduler_for(name: str, base_config) -> object:
    """A scheduler of the named kind, sharing the model's noise schedule (`base_config`)."""
    try:
        cls = SCHEDULERS[name]
    except KeyError:
        raise ValueError(
            UNKNOWN_SCHEDULER.format(name=name, choices=", ".join(SCHEDULERS))
        ) from None
    return cls.from_config(base_config)


def check_settings(settings: SamplerSettings, *, vae_scale_factor: int = 8) -> None:
    """Raise ValueError with a clear sentence for settings no pipeline could honour."""
    if settings.scheduler not in SCHEDULERS:
        raise ValueError(
            UNKNOWN_SCHEDULER.format(name=settings.scheduler, choices=", ".join(SCHEDULERS))
        )
    if settings.steps < 1:
        raise ValueError(BAD_STEPS.format(steps=settings.steps))
    sizes = (settings.width, settings.height)
    if any(size <= 0 or size % vae_scale_factor for size in sizes):
        raise ValueError(
            BAD_SIZE.format(factor=vae_scale_factor, width=settings.width, height=settings.height)
        )


def sample(
    pipe,
    prompts: Sequence[str],
    seeds: Sequence[int],
    settings: SamplerSettings,
    *,
    batch_size: int = 4,
    control_images: Sequence[Image.Image] | None = None,
) -> list[Image.Image]:
    """Draw one image per (prompt, seed) pair, `batch_size` images per pipeline call.

    The pipeline's scheduler is swapped for `settings.scheduler` (keeping the model's
    noise schedule) for the duration of the call and restored afterwards.
    `control_images`, one per prompt, go to a ControlNet pipeline as its `image`.
    """
    prompts, seeds = list(prompts), [int(seed) for seed in seeds]
    if len(prompts) != len(seeds):
        raise ValueError(SEEDS_DO_NOT_MATCH_PROMPTS.format(prompts=len(prompts), seeds=len(seeds)))
    if control_images is not None and len(control_images) != len(prompts):
        raise ValueError(
            CONTROL_IMAGES_DO_NOT_MATCH.format(prompts=len(prompts), images=len(control_images))
        )
    if batch_size < 1:
        raise ValueError(BAD_BATCH_SIZE.format(batch_size=batch_size))
    check_settings(settings, vae_scale_factor=getattr(pipe, "vae_scale_factor", 8))
    original_scheduler = pipe.scheduler
    pipe.scheduler = scheduler_for(settings.scheduler, original_scheduler.config)
    images: list[Image.Image] = []
    try:
        for start in range(0, len(prompts), batch_size):
            batch_prompts = prompts[start : start + batch_size]
            generators = [
                torch.Generator("cpu").manual_seed(seed)
                for seed in seeds[start : start + batch_size]
            ]
            extra = {}
            if control_images is not None:
                extra["image"] = list(control_images[start : start + batch_size])
            result = pipe(
                **extra,
                prompt=batch_prompts,
                generator=generators,
                num_inference_steps=settings.steps,
                guidance_scale=settings.guidance,
                width=settings.width,
                height=settings.height,
                output_type="pil",
            )
            images.extend(result.images)
    finally:
        pipe.scheduler = original_scheduler
    return images
