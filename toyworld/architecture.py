"""The toy base model's architecture: scoft_core's tiny pipeline at the toy world's sizes.

Stable Diffusion's parts at toy scale: an 8x AutoencoderKL (64 px images, 8x8x4
latents), a two-layer CLIP text encoder whose tokenizer knows every word the toy world
says as one token, and a small UNet2DConditionModel with cross-attention on its two finer
levels. The parts are built by `scoft_core.pipelines` (the same builders as the `tiny`
model); this module only holds the toy world's sizes and vocabulary.
"""

from __future__ import annotations

import re

from scoft_core.pipelines import TinyConfig
from toyworld.corpus import (
    GENERIC_CAPTION_TEMPLATE,
    WEB_CAPTION_TEMPLATES,
    community_caption,
    generic_caption,
    plain_prompt,
    web_caption,
)
from toyworld.world import CATEGORIES, CULTURE_NAMES, CULTURES, GENERIC_MOTIF, PATTERNS

MAX_TOKENS = 16  # the longest caption is 12 tokens with BOS and EOS


def toy_world_texts() -> list[str]:
    """Every caption and prompt the toy world produces: web captions (both templates),
    community captions, generic captions, and the plain prompts the survey shows."""
    texts = [
        web_caption(template, culture, category)
        for template in WEB_CAPTION_TEMPLATES
        for category in CATEGORIES
        for culture in CULTURE_NAMES
    ]
    texts += [community_caption(n, c) for n in CULTURE_NAMES for c in CATEGORIES]
    texts += [generic_caption(c) for c in CATEGORIES]
    texts += [plain_prompt(n, c) for n in CULTURE_NAMES for c in CATEGORIES]
    return texts


def vocabulary_words() -> list[str]:
    """Every word the toy world can say, lower-cased and sorted: the words of its texts,
    of its templates, and every culture, adjective, category, colour and pattern name."""
    texts = [*toy_world_texts(), GENERIC_CAPTION_TEMPLATE, *WEB_CAPTION_TEMPLATES]
    texts += [*CULTURE_NAMES, *(c.adjective for c in CULTURES), *CATEGORIES, *PATTERNS]
    for motif in [c.motif for c in CULTURES] + [GENERIC_MOTIF]:
        texts += [motif.primary_name, motif.secondary_name]
    words = set()
    for text in texts:
        words.update(re.findall(r"[a-z]+", re.sub(r"\{[a-z_]+\}", " ", text.lower())))
    return sorted(words)


def toy_architecture(**changes) -> TinyConfig:
    """The toy base model's TinyConfig (~4.4 M parameters, under 20 MB in fp32);
    keyword arguments change sizes (tests use smaller ones)."""
    sizes = dict(
        unet_channels=(48, 96, 96),  # 8x8 -> 4x4 -> 2x2 latents
        unet_cross_attention_levels=2,  # the 8x8 and 4x4 levels read the caption
        unet_norm_groups=16,
        vae_channels=(16, 32, 64, 64),  # four levels: 64 px -> 8x8 latents
        text_hidden_size=64,  # = the UNet's cross-attention width
        text_layers=2,  # enough to bind a culture's name to its category
        text_heads=4,
        text_intermediate_size=128,
        max_text_tokens=MAX_TOKENS,
        vocabulary=tuple(vocabulary_words()),
        scheduler="dpm-solver",  # as SCoFT's inference
    )
    sizes.update(changes)
    if "text_hidden_size" in changes and "text_intermediate_size" not in changes:
        sizes["text_intermediate_size"] = 2 * sizes["text_hidden_size"]
    return TinyConfig(**sizes).check()
