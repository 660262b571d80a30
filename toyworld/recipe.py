"""How the toy world fine-tunes a SCoFT variant: one recipe for the ablation and the demo.

The recipe is turned into the command lines of `python -m scoft_core negatives` and
`python -m scoft_core train`, so what the ablation and the demo run is exactly what a
researcher would type.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from toyworld.world import IMAGE_SIZE

# The toy world's counterpart of DreamSim (toyworld/perceptual.py): scoft_core's
# `cnn-embedding` distance with the shipped weights trained on simulated judgements.
TOY_PERCEPTUAL = "toy-perceptual"


@dataclass(frozen=True)
class ToyRecipe:
    """The toy world's fine-tuning settings; the defaults are the shipped ablation's."""

    per_culture: int = 32  # community pictures per culture (the issue asked 20-40)
    negatives_per_image: int = 3  # as the SCoFT project page shows
    negative_steps: int = 20  # DPM-Solver steps per negative (the toy latents are 8x8)
    max_steps: int = 300  # optimizer steps per variant
    batch_size: int = 8  # examples per micro-step (the toy model is small)
    grad_accumulation: int = 1
    lora_rank: int = 16  # the toy UNet's attention is 48-96 wide; 64 would exceed it
    learning_rate: float = 1e-3  # 10x the published 1e-4: a tiny model, few steps
    unroll_every: int = 10  # as published
    unroll_steps: int = 20  # as published
    # D of L_C: a distance learned from similarity judgements, as DreamSim is published;
    # L_P keeps an LPIPS-style distance, so the two terms measure different things.
    feature_distance: str = TOY_PERCEPTUAL
    perceptual_distance: str = "random-conv"  # D of L_P
    seed: int = 1024  # the published training seed
    loss_weights: str | None = None  # e.g. "contrastive=0.5"; None = the published weights
    settings: tuple[str, ...] = ()  # further `--set NAME=VALUE` of scoft_core train
    resolution: int = IMAGE_SIZE
    checkpoint_every: int = 50  # optimizer steps between checkpoints: reruns resume


def negatives_argv(recipe: ToyRecipe, data: Path, base_model: str | Path, threads: int) -> list:
    """`python -m scoft_core negatives` arguments for the community set in `data`."""
    return [
        "negatives", "--data", str(data), "--model", str(base_model),
        "--per-image", str(recipe.negatives_per_image), "--steps", str(recipe.negative_steps),
        "--width", str(recipe.resolution), "--height", str(recipe.resolution),
        "--batch-size", "16", "--threads", str(threads),
    ]  # fmt: skip


def train_argv(
    recipe: ToyRecipe,
    data: Path,
    output: Path,
    base_model: str | Path,
    variant: str,
    threads: int,
) -> list[str]:
    """`python -m scoft_core train` arguments for one variant's adapter."""
    argv = [
        "train", "--data", str(data), "--output", str(output), "--variant", variant,
        "--model", str(base_model), "--resolution", str(recipe.resolution),
        "--max-steps", str(recipe.max_steps), "--batch-size", str(recipe.batch_size),
        "--grad-accumulation", str(recipe.grad_accumulation),
        "--lora-rank", str(recipe.lora_rank), "--learning-rate", str(recipe.learning_rate),
        "--unroll-every", str(recipe.unroll_every), "--unroll-steps", str(recipe.unroll_steps),
        *_feature_argv(recipe.feature_distance),
        "--perceptual-distance", recipe.perceptual_distance,
        "--seed", str(recipe.seed), "--checkpoint-every", str(recipe.checkpoint_every),
        "--threads", str(threads),
    ]  # fmt: skip
    if recipe.loss_weights:
        argv += ["--loss-weights", recipe.loss_weights]
    for setting in recipe.settings:
        argv += ["--set", setting]
    return argv


def _feature_argv(distance: str) -> list[str]:
    """The --feature-distance arguments of L_C; the toy perceptual distance is scoft_core's
    `cnn-embedding` with the toy world's weights file."""
    if distance != TOY_PERCEPTUAL:
        return ["--feature-distance", distance]
    from toyworld.perceptual import PERCEPTUAL_FILE

    return ["--feature-distance", "cnn-embedding", "--feature-model", str(PERCEPTUAL_FILE)]
