"""The SCoFT objective for one micro-batch: UNet passes, the unroll, and the loss terms.

Pure computation on models and tensors handed in; no files, no logging, no accelerator.
The loss functions themselves live in `scoft_core.losses`, the unrolled denoising in
`scoft_core.unroll`, the feature distances in `scoft_core.features`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from scoft_core import losses
from scoft_core.data import Batch
from scoft_core.unroll import unroll_to_x0
from scoft_core.variants import TrainingConfig


@dataclass
class FrozenParts:
    """The parts of the base model that training does not change, plus the distances."""

    vae: torch.nn.Module
    text_encoder: torch.nn.Module
    tokenizer: object
    noise_scheduler: object  # a DDPM scheduler with the base model's noise schedule
    feature_distance: object | None = None  # D of L_C: (x, y) -> (B,)
    perceptual_distance: object | None = None  # D of L_P: (x, y) -> (B,)


@torch.no_grad()
def encode_prompts(parts: FrozenParts, texts: list[str], device, dtype) -> Tensor:
    """Text-encoder hidden states (B, tokens, width) for the prompts."""
    tokens = parts.tokenizer(
        texts,
        padding="max_length",
        max_length=parts.tokenizer.model_max_length,
        truncation=True,
        return_tensors="pt",
    )
    return parts.text_encoder(tokens.input_ids.to(device))[0].to(dtype)


@torch.no_grad()
def encode_images(parts: FrozenParts, pixels: Tensor, generator: torch.Generator) -> Tensor:
    """Scaled VAE latents of images in [-1, 1], sampled with the step's own generator."""
    vae = parts.vae
    distribution = vae.encode(pixels.to(vae.device, vae.dtype)).latent_dist
    noise = torch.randn(distribution.mean.shape, generator=generator).to(vae.device, vae.dtype)
    latents = distribution.mean + distribution.std * noise
    return latents * vae.config.scaling_factor


def regression_target(scheduler, latents: Tensor, noise: Tensor, timesteps: Tensor) -> Tensor:
    """What the UNet must predict: the noise, or the velocity for v-prediction models."""
    kind = scheduler.config.prediction_type
    if kind == "epsilon":
        return noise
    if kind == "v_prediction":
        return scheduler.get_velocity(latents, noise, timesteps)
    raise ValueError(f"The base model's prediction type {kind!r} is not supported.")


def unrolls_at(
    config: TrainingConfig, micro_step: int, batches_per_epoch: int | None = None
) -> bool:
    """Whether this micro-step computes L_C and L_P: one in `unroll_every`, the first one.

    With the published cadence (``unroll_cadence="epoch"``) the count restarts at every
    epoch of `batches_per_epoch` micro-steps, as the published script counts its batch
    index within an epoch; with "global" (or no epoch length given) it runs on.
    """
    counter = micro_step
    if config.unroll_cadence == "epoch" and batches_per_epoch:
        counter = micro_step % batches_per_epoch
    return config.unrolls and counter % config.unroll_every == 0


def contrastive_distances(distance, x0_hat: Tensor, batch: Batch) -> tuple[Tensor, Tensor]:
    """d_pos (B,) and d_neg (B, K) in one pass of the feature network.

    A FeatureDistance compares x0_hat with the positive and every negative slot through
    ``to_each``, which computes x0_hat's features (the ones that carry gradient) once.
    For a plain callable, absent negatives are left out of the pass. Either way absent
    slots are ignored by the contrastive loss through the mask.
    """
    present = batch.negative_present.to(x0_hat.device)
    if hasattr(distance, "to_each"):
        references = torch.cat([batch.pixels[:, None], batch.negatives], dim=1)
        both = distance.to_each(x0_hat, references.to(x0_hat.device, x0_hat.dtype))
        return both[:, 0], both[:, 1:]
    count, slots = present.shape
    expanded = x0_hat.unsqueeze(1).expand(-1, slots, -1, -1, -1)[present]
    negatives = batch.negatives.to(x0_hat.device, x0_hat.dtype)[present]
    positives = batch.pixels.to(x0_hat.device, x0_hat.dtype)
    distances = distance(torch.cat([x0_hat, expanded]), torch.cat([positives, negatives]))
    d_neg = torch.zeros(count, slots, device=x0_hat.device, dtype=distances.dtype)
    d_neg = d_neg.masked_scatter(present, distances[count:])
    return distances[:count], d_neg


def scoft_terms(
    unet: torch.nn.Module,
    parts: FrozenParts,
    batch: Batch,
    config: TrainingConfig,
    *,
    micro_step: int,
    generator: torch.Generator,
    batches_per_epoch: int | None = None,
) -> dict[str, Tensor]:
    """Every loss term this micro-step computes, as 0-d tensors keyed like LossWeights.

    `batches_per_epoch` is the epoch length in micro-steps, for the unroll cadence.
    """
    device, dtype = parts.vae.device, parts.vae.dtype
    latents = encode_images(parts, batch.pixels, generator)
    count = latents.shape[0]
    noise = torch.randn(latents.shape, generator=generator).to(device, dtype)
    steps = parts.noise_scheduler.config.num_train_timesteps
    timesteps = torch.randint(0, steps, (count,), generator=generator).to(device)
    noisy = parts.noise_scheduler.add_noise(latents, noise, timesteps)
    cond = encode_prompts(parts, batch.texts, device, dtype)

    pred = unet(noisy, timesteps, cond).sample
    target = regression_target(parts.noise_scheduler, latents, noise, timesteps)
    terms = {"ldm": losses.ldm_loss(pred, target)}
    if config.memorization:
        generic = encode_prompts(parts, batch.generic_texts, device, dtype)
        with torch.no_grad():
            pred_generic = unet(noisy, timesteps, generic).sample
        terms["memorization"] = losses.memorization_loss(pred, pred_generic)
    if unrolls_at(config, micro_step, batches_per_epoch):
        terms.update(
            _unrolled_terms(unet, parts, batch, config, noisy, timesteps, cond, pred, generator)
        )
    return terms


def _unrolled_terms(unet, parts, batch, config, noisy, timesteps, cond, pred, generator):
    uncond = encode_prompts(parts, [""] * noisy.shape[0], noisy.device, noisy.dtype)
    x0_hat = unroll_to_x0(
        unet,
        parts.noise_scheduler,
        parts.vae,
        noisy,
        timesteps,
        cond,
        uncond,
        steps=config.unroll_steps,
        guidance=config.unroll_guidance,
        grad_step=config.grad_step,
        first_eps=pred if config.grad_step == "first" else None,
        eta=config.unroll_eta,
        timestep_rule=config.unroll_timesteps,
        generator=generator,
    )
    terms = {}
    positives = batch.pixels.to(x0_hat.device, x0_hat.dtype)
    if config.contrastive == "full":
        d_pos, d_neg = contrastive_distances(parts.feature_distance, x0_hat, batch)
        present = batch.negative_present.to(x0_hat.device)
        terms["contrastive"] = losses.contrastive_loss(d_pos, d_neg, present)
    elif config.contrastive == "positive":
        d_pos = parts.feature_distance(x0_hat, positives)
        terms["contrastive"] = losses.contrastive_positive_half(d_pos)
    if config.perceptual:
        terms["perceptual"] = losses.perceptual_loss(parts.perceptual_distance(x0_hat, positives))
    return terms
