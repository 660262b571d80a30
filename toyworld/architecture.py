"""The tiny text-to-image architecture the toy base model is trained in.

Stable Diffusion's parts at toy scale: an 8x AutoencoderKL (64 px images, 8x8x4
latents), a two-layer CLIP text encoder over a word-level vocabulary of the toy world,
and a small UNet2DConditionModel with cross-attention. Everything is a stock diffusers
or transformers class, so the saved folder is an ordinary StableDiffusionPipeline.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers import (
    AutoencoderKL,
    DDPMScheduler,
    DPMSolverMultistepScheduler,
    UNet2DConditionModel,
)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from toyworld.corpus import WEB_CAPTION_TEMPLATES, community_caption, generic_caption
from toyworld.world import CATEGORIES, CULTURE_NAMES, CULTURES, GENERIC_MOTIF, PATTERNS

BOS, EOS = "<|startoftext|>", "<|endoftext|>"


@dataclass(frozen=True)
class TinyArchitecture:
    """Sizes of the toy model's parts: ~4.4 M parameters, under 20 MB in fp32."""

    text_width: int = 64  # text encoder hidden size = UNet cross-attention width
    text_layers: int = 2  # enough to bind a culture's name to its category
    max_tokens: int = 16  # the longest community caption is 13 tokens with BOS/EOS
    vae_channels: tuple[int, ...] = (16, 32, 64, 64)  # four levels: 64 px -> 8x8 latents
    unet_channels: tuple[int, ...] = (48, 96, 96)  # 8x8 -> 4x4 -> 2x2
    latent_channels: int = 4


def vocabulary_words() -> list[str]:
    """Every word the toy world's captions and prompts use, lower-cased, sorted."""
    texts = [
        t.format(category=c, culture=n)
        for t in WEB_CAPTION_TEMPLATES
        for c in CATEGORIES
        for n in CULTURE_NAMES
    ]
    texts += [community_caption(n, c) for n in CULTURE_NAMES for c in CATEGORIES]
    texts += [generic_caption(c) for c in CATEGORIES]
    texts += [c.adjective for c in CULTURES]
    texts += [" ".join(PATTERNS), GENERIC_MOTIF.primary_name, GENERIC_MOTIF.secondary_name]
    words = set()
    for text in texts:
        words.update(text.lower().replace(",", " ").split())
    return sorted(words)


def _byte_alphabet() -> list[str]:
    """The 256 printable stand-ins for bytes that byte-level BPE (and CLIP) uses."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    codes, extra = list(printable), 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return [chr(code) for code in codes]


def build_tokenizer(max_tokens: int = TinyArchitecture.max_tokens) -> CLIPTokenizer:
    """A CLIP tokenizer whose BPE merges spell the toy world's words as whole tokens.

    Any other text still tokenizes (byte by byte), so no prompt ever fails. The merges
    are chained left to right per word; where two words' chains compete a word may end
    up as several tokens ("diamonds", "photo" and "plain" do; the longest community
    caption then fills the 16 tokens and loses the end of "diamonds", harmless since the
    base model never saw that word). Every culture name and category is a single token.
    """
    alphabet = _byte_alphabet()
    vocab: dict[str, int] = {}
    for token in [*alphabet, *(a + "</w>" for a in alphabet)]:
        vocab[token] = len(vocab)
    merges: list[tuple[str, str]] = []
    for word in vocabulary_words():
        pieces = list(word[:-1]) + [word[-1] + "</w>"]
        current = pieces[0]
        for piece in pieces[1:]:
            merged = current + piece
            if merged not in vocab:
                vocab[merged] = len(vocab)
                merges.append((current, piece))
            current = merged
    vocab[BOS] = len(vocab)
    vocab[EOS] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=max_tokens)


def build_text_encoder(tokenizer: CLIPTokenizer, arch: TinyArchitecture) -> CLIPTextModel:
    """A small CLIP text encoder for `tokenizer` (random weights)."""
    config = CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=arch.text_width,
        intermediate_size=arch.text_width * 2,
        num_hidden_layers=arch.text_layers,
        num_attention_heads=4,
        max_position_embeddings=arch.max_tokens,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        projection_dim=arch.text_width,
    )
    return CLIPTextModel(config)


def build_vae(arch: TinyArchitecture) -> AutoencoderKL:
    """An 8x AutoencoderKL for 64 px images (random weights)."""
    levels = len(arch.vae_channels)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * levels,
        up_block_types=("UpDecoderBlock2D",) * levels,
        block_out_channels=arch.vae_channels,
        layers_per_block=1,
        latent_channels=arch.latent_channels,
        norm_num_groups=8,
        sample_size=64,
    )


def build_unet(arch: TinyArchitecture) -> UNet2DConditionModel:
    """A small cross-attention UNet over 8x8 latents (random weights)."""
    levels = len(arch.unet_channels)
    return UNet2DConditionModel(
        sample_size=8,
        in_channels=arch.latent_channels,
        out_channels=arch.latent_channels,
        block_out_channels=arch.unet_channels,
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D",) * (levels - 1) + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * (levels - 1),
        cross_attention_dim=arch.text_width,
        attention_head_dim=8,
        norm_num_groups=16,
    )


def training_scheduler() -> DDPMScheduler:
    """Stable Diffusion's noise schedule (1000 steps, scaled linear betas)."""
    return DDPMScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        steps_offset=1,  # as Stable Diffusion 1.x; silences diffusers' deprecation
    )


def sampling_scheduler() -> DPMSolverMultistepScheduler:
    """The scheduler saved with the pipeline: DPM-Solver over the training schedule."""
    return DPMSolverMultistepScheduler.from_config(training_scheduler().config)


def parameter_count(module: torch.nn.Module) -> int:
    """How many parameters `module` has."""
    return sum(p.numel() for p in module.parameters())
