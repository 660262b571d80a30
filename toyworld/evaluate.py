"""The ablation on the toy world: fine-tune scoft-m, scoft-mp and scoft-mpc, then measure.

The steps, each resumable (a rerun reuses what is finished):
1. write the community set (contract 1) into the work folder;
2. make its negatives from the frozen base model with `python -m scoft_core negatives`;
3. train each variant's LoRA adapter with `python -m scoft_core train`;
4. draw the same prompts and seeds from the base model and every adapter;
5. measure every variant per culture (report.py) and write the table.
Steps 2 and 3 go through scoft_core's command line, so this reproduces exactly what a
researcher would run by hand.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from toyworld.corpus import community_examples, write_community_set
from toyworld.detectors import Detectors
from toyworld.recipe import ToyRecipe, negatives_argv, train_argv
from toyworld.report import PromptSet, TableRow, measure_variant, near_copy_threshold
from toyworld.sampling import load_toy_pipeline, sample_images, through_vae
from toyworld.world import render_array

BASE_VARIANT = "pretrained"  # scoft_core's name for the base model without an adapter
SCOFT_CORE_FAILED = (
    "`python -m scoft_core {command}` failed (exit status {status}); its message is above. "
    "Fix the cause and rerun: finished steps are reused."
)


@dataclass(frozen=True)
class EvaluationConfig(ToyRecipe):
    """The ablation's settings: the toy recipe (toyworld.recipe) plus what to measure."""

    variants: tuple[str, ...] = ("scoft-m", "scoft-mp", "scoft-mpc")
    seeds_per_prompt: int = 16  # images per (culture, category) prompt and variant
    threads: int = 1
    parallel: bool = True  # train the variants in separate processes at the same time


def scoft_core_command(argv: list[str]) -> None:
    """Run `python -m scoft_core <argv>` in this process; raise RuntimeError on failure."""
    from scoft_core.cli import main

    status = main(argv)
    if status != 0:
        raise RuntimeError(SCOFT_CORE_FAILED.format(command=argv[0], status=status))


def prepare_community(work: Path, base_model: Path, config: EvaluationConfig) -> Path:
    """Steps 1-2: the community set with the base model's negatives."""
    folder = work / "community"
    if not (folder / "metadata.jsonl").exists():
        write_community_set(folder, per_culture=config.per_culture)
    scoft_core_command([*negatives_argv(config, folder, base_model, config.threads), "--quiet"])
    return folder


def train_variants(
    work: Path, community: Path, base_model: Path, config: EvaluationConfig
) -> dict[str, Path]:
    """Step 3: one adapter folder per variant (an existing finished one is reused).

    With `config.parallel`, each variant trains in its own `python -m scoft_core train`
    process, all at once: on a small shared machine three one-thread processes finish
    far sooner than one after another, and each run is still seeded and resumable.
    """
    commands = {
        variant: _train_argv(work, community, base_model, config, variant)
        for variant in config.variants
    }
    if config.parallel:
        running = {
            variant: subprocess.Popen([sys.executable, "-m", "scoft_core", *argv])
            for variant, argv in commands.items()
        }
        for variant, process in running.items():
            if process.wait() != 0:
                raise RuntimeError(
                    SCOFT_CORE_FAILED.format(
                        command=f"train ({variant})", status=process.returncode
                    )
                )
    else:
        for argv in commands.values():
            scoft_core_command(argv)
    return {variant: work / "adapters" / variant for variant in config.variants}


def _train_argv(
    work: Path, community: Path, base_model: Path, config: EvaluationConfig, variant: str
) -> list[str]:
    output = work / "adapters" / variant
    return [*train_argv(config, community, output, base_model, variant, config.threads), "--quiet"]


def community_images(config: EvaluationConfig) -> np.ndarray:
    """The community pictures as arrays, exactly as written to the data set."""
    return np.stack(
        [render_array(e.depiction, e.seed) for e in community_examples(config.per_culture)]
    )


def measure_all(
    base_model: Path,
    adapters: dict[str, Path],
    detectors: Detectors,
    config: EvaluationConfig,
    prompt_set: PromptSet,
    progress: Callable[[str], None] = print,
    images_dir: Path | None = None,
) -> list[TableRow]:
    """Steps 4-5: sample every variant with shared seeds and measure it per culture."""
    rows = prompt_set.rows()
    prompts, seeds = [r[2] for r in rows], [r[3] for r in rows]
    base = load_toy_pipeline(base_model)
    # Compare with the community pictures as the decoder draws them: a model can only
    # copy an image in that form, and the VAE's own blur then counts for nothing.
    community = through_vae(base.vae, community_images(config))
    threshold = near_copy_threshold(community)
    progress(f"near-copy threshold (5th percentile of community nearest-other): {threshold:.4f}")
    table = []
    for variant, adapter in [(BASE_VARIANT, None), *adapters.items()]:
        pipeline = base if adapter is None else load_toy_pipeline(base_model, adapter)
        progress(f"sampling {len(rows)} images from {variant}")
        images = sample_images(pipeline, prompts, seeds)
        if images_dir is not None:  # kept so the images can be re-measured without sampling
            images_dir.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(images_dir / f"{variant}.npz", images=images)
        table += measure_variant(variant, images, prompt_set, detectors, community, threshold)
    return table


def evaluate(
    work: Path,
    base_model: Path,
    detectors_file: Path,
    config: EvaluationConfig | None = None,
    prompt_set: PromptSet | None = None,
    progress: Callable[[str], None] = print,
) -> list[TableRow]:
    """Run the whole ablation; returns the table rows and writes table.json in `work`."""
    config = config or EvaluationConfig()
    prompt_set = prompt_set or PromptSet(seeds_per_prompt=config.seeds_per_prompt)
    detectors = Detectors.load(detectors_file)  # fail early, before any training
    work.mkdir(parents=True, exist_ok=True)
    progress("community set and negatives")
    community = prepare_community(work, base_model, config)
    progress("training " + ", ".join(config.variants))
    adapters = train_variants(work, community, base_model, config)
    table = measure_all(
        base_model, adapters, detectors, config, prompt_set, progress, images_dir=work / "images"
    )
    from toyworld.report import table_records

    record = {
        "config": asdict(config),
        "prompt_set": asdict(prompt_set),
        "table": table_records(table),
    }
    (work / "table.json").write_text(json.dumps(record, indent=2) + "\n")
    return table
