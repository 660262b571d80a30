"""Training the toy base model on the web corpus: first the VAE, then text encoder and UNet.

Both stages are seeded and deterministic on one machine. The training loops here do the
arithmetic only; the CLI (`python -m toyworld train-base`) saves stage checkpoints so an
interrupted run resumes from the last finished stage.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextModel, CLIPTokenizer

from scoft_core.pipelines import TinyConfig, tiny_scheduler, training_noise_scheduler
from toyworld.corpus import WebExample
from toyworld.world import render_array

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BaseTrainingConfig:
    """How the base model is trained; the defaults are the shipped weights' recipe."""

    seed: int = 0
    web_size: int = 4000  # 200 pictures per culture and category
    vae_steps: int = 500  # flat-colour images converge fast
    vae_batch: int = 32
    vae_lr: float = 1e-3
    vae_kl_weight: float = 1e-4  # keeps latents near a unit Gaussian without blurring
    denoiser_steps: int = 1500  # ~2x the first recipe, so the category word is learned too
    denoiser_batch: int = 64
    denoiser_lr: float = 5e-4
    warmup_steps: int = 100
    caption_dropout: float = 0.1  # empty captions teach the unconditional branch for CFG


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch so a run repeats exactly."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def images_tensor(arrays: list[np.ndarray]) -> torch.Tensor:
    """uint8 (H, W, 3) arrays -> float (N, 3, H, W) in [-1, 1], as the VAE expects."""
    stacked = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float()
    return stacked / 127.5 - 1.0


def render_corpus(examples: list[WebExample]) -> torch.Tensor:
    """Draw every web example; returns (N, 3, 64, 64) in [-1, 1]."""
    return images_tensor([render_array(e.depiction, e.seed) for e in examples])


def _lr_factor(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def train_vae(
    vae: AutoencoderKL,
    images: torch.Tensor,
    config: BaseTrainingConfig,
    progress: Progress | None = None,
) -> list[float]:
    """Train `vae` to reconstruct `images` (N, 3, 64, 64 in [-1, 1]); returns the losses.

    Loss: mean squared plus absolute error of the reconstruction from a sampled latent,
    plus a small KL term toward the unit Gaussian.
    """
    generator = torch.Generator().manual_seed(config.seed)
    optimizer = torch.optim.AdamW(vae.parameters(), lr=config.vae_lr, weight_decay=0.0)
    losses = []
    vae.train()
    for step in range(config.vae_steps):
        for group in optimizer.param_groups:
            group["lr"] = config.vae_lr * _lr_factor(step, config.vae_steps, config.warmup_steps)
        index = torch.randint(0, len(images), (config.vae_batch,), generator=generator)
        batch = images[index]
        if torch.rand((), generator=generator) < 0.5:
            batch = batch.flip(-1)
        posterior = vae.encode(batch).latent_dist
        latents = posterior.mean + posterior.std * torch.randn(
            posterior.mean.shape, generator=generator
        )
        reconstruction = vae.decode(latents).sample
        loss = (
            F.mse_loss(reconstruction, batch)
            + F.l1_loss(reconstruction, batch)
            + config.vae_kl_weight * posterior.kl().mean() / posterior.mean[0].numel()
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
        if progress and (step % 50 == 0 or step == config.vae_steps - 1):
            progress(f"vae step {step + 1}/{config.vae_steps} loss {np.mean(losses[-50:]):.4f}")
    vae.eval()
    return losses


@torch.no_grad()
def encode_latents(vae: AutoencoderKL, images: torch.Tensor, batch: int = 128) -> torch.Tensor:
    """The posterior means of `images`, unscaled (N, 4, 8, 8)."""
    return torch.cat(
        [vae.encode(images[i : i + batch]).latent_dist.mean for i in range(0, len(images), batch)]
    )


def set_scaling_factor(vae: AutoencoderKL, latents: torch.Tensor) -> float:
    """Store 1/std of the latents as the VAE's scaling factor, as Stable Diffusion does."""
    factor = float(1.0 / latents.std())
    vae.register_to_config(scaling_factor=factor)
    return factor


def train_denoiser(
    unet: UNet2DConditionModel,
    text_encoder: CLIPTextModel,
    tokenizer: CLIPTokenizer,
    latents: torch.Tensor,
    captions: list[str],
    config: BaseTrainingConfig,
    progress: Progress | None = None,
) -> list[float]:
    """Train UNet and text encoder together on scaled latents with epsilon prediction.

    `latents` are already multiplied by the VAE's scaling factor; a share
    `caption_dropout` of captions is replaced by "" so classifier-free guidance works.
    """
    if len(latents) != len(captions):
        raise ValueError("There must be exactly one caption per latent.")
    generator = torch.Generator().manual_seed(config.seed + 1)
    scheduler = training_noise_scheduler()
    token_ids = _tokenize(tokenizer, captions)
    empty_ids = _tokenize(tokenizer, [""])[0]
    params = list(unet.parameters()) + list(text_encoder.parameters())
    optimizer = torch.optim.AdamW(params, lr=config.denoiser_lr, weight_decay=1e-2)
    unet.train()
    text_encoder.train()
    losses = []
    for step in range(config.denoiser_steps):
        factor = _lr_factor(step, config.denoiser_steps, config.warmup_steps)
        for group in optimizer.param_groups:
            group["lr"] = config.denoiser_lr * factor
        index = torch.randint(0, len(latents), (config.denoiser_batch,), generator=generator)
        clean = latents[index]
        ids = token_ids[index].clone()
        dropped = torch.rand(len(ids), generator=generator) < config.caption_dropout
        ids[dropped] = empty_ids
        noise = torch.randn(clean.shape, generator=generator)
        timesteps = torch.randint(0, 1000, (len(clean),), generator=generator)
        noisy = scheduler.add_noise(clean, noise, timesteps)
        hidden = text_encoder(ids)[0]
        prediction = unet(noisy, timesteps, hidden).sample
        loss = F.mse_loss(prediction, noise)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        losses.append(loss.item())
        if progress and (step % 50 == 0 or step == config.denoiser_steps - 1):
            progress(
                f"denoiser step {step + 1}/{config.denoiser_steps} loss {np.mean(losses[-50:]):.4f}"
            )
    unet.eval()
    text_encoder.eval()
    return losses


def _tokenize(tokenizer: CLIPTokenizer, captions: list[str]) -> torch.Tensor:
    return tokenizer(
        captions,
        padding="max_length",
        max_length=tokenizer.model_max_length,
        truncation=True,
        return_tensors="pt",
    ).input_ids


def assemble_pipeline(
    vae: AutoencoderKL,
    text_encoder: CLIPTextModel,
    tokenizer: CLIPTokenizer,
    unet: UNet2DConditionModel,
    arch: TinyConfig,
) -> StableDiffusionPipeline:
    """The trained parts as an ordinary Stable Diffusion pipeline (no safety checker)."""
    return StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=tiny_scheduler(arch),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
