"""The ML steps of the demo: the community set, its negatives, and the three adapters.

Each step runs the real command line of its package in this process (`python -m
scoft_core negatives|train`, the toy world's community set), printed first so a reader
can run it by hand, and each reuses what an earlier run finished: an existing community
set, negatives already on disk, an adapter whose variant file is written.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from demo.plan import VARIANTS, DemoPlan
from study.names import VARIANT_FILE

STEP_FAILED = (
    "`python -m scoft_core {command}` stopped (exit status {status}); its message is above. "
    "Fix the cause and run the demo again: finished steps are reused."
)


class DemoError(RuntimeError):
    """A step of the demo cannot go on; the message says what to do."""


def trained_variants(plan: DemoPlan) -> list[str]:
    """The fine-tuned variants whose adapter is already complete."""
    return [
        adapter
        for _key, _label, adapter in VARIANTS
        if adapter and (plan.adapter_dir(adapter) / VARIANT_FILE).is_file()
    ]


def adapters_complete(plan: DemoPlan) -> bool:
    """True when every fine-tuned variant has a finished adapter."""
    return len(trained_variants(plan)) == sum(1 for *_rest, a in VARIANTS if a)


def community_ready(folder: Path, per_image: int) -> bool:
    """True when the community set exists and every row lists its negatives."""
    metadata = folder / "metadata.jsonl"
    if not metadata.is_file():
        return False
    for line in metadata.read_text(encoding="utf-8").splitlines():
        if line.strip():
            negatives = json.loads(line).get("negative_imgpath") or []
            if len(negatives) < per_image or not all((folder / n).is_file() for n in negatives):
                return False
    return True


def prepare_community(plan: DemoPlan, say=print) -> Path:
    """The toy world's community set (contract 1) with the base model's negatives."""
    folder = plan.community_dir
    if community_ready(folder, plan.negatives_per_image):
        say(f"Reusing the community set and its negatives in {folder}.")
        return folder
    if not (folder / "metadata.jsonl").is_file():
        from toyworld.corpus import write_community_set

        say(
            f"$ python -m toyworld community --out {folder} "
            f"--per-culture {plan.community_per_culture}"
        )
        write_community_set(folder, per_culture=plan.community_per_culture)
    scoft_core(
        ["negatives", "--data", str(folder), "--model", plan.base_model,
         "--per-image", str(plan.negatives_per_image), "--steps", str(plan.sampler_steps),
         "--width", str(plan.resolution), "--height", str(plan.resolution),
         "--batch-size", "16", "--threads", str(plan.threads), *_quiet(plan)],
        say,
    )  # fmt: skip
    return folder


def train_adapters(plan: DemoPlan, community: Path, say=print) -> None:
    """Fine-tune scoft-m, scoft-mp and scoft-mpc (a finished adapter is reused)."""
    for _key, _label, variant in VARIANTS:
        if variant is None:
            continue
        output = plan.adapter_dir(variant)
        if (output / VARIANT_FILE).is_file():
            say(f"Reusing the trained {variant} adapter in {output}.")
            continue
        scoft_core(
            ["train", "--data", str(community), "--output", str(output),
             "--variant", variant, "--model", plan.base_model,
             "--resolution", str(plan.resolution), "--max-steps", str(plan.train_steps),
             "--batch-size", str(plan.batch_size), "--grad-accumulation", "1",
             "--lora-rank", str(plan.lora_rank), "--learning-rate", str(plan.learning_rate),
             "--unroll-every", str(plan.unroll_every), "--unroll-steps", str(plan.unroll_steps),
             "--feature-distance", "random-conv", "--perceptual-distance", "random-conv",
             "--checkpoint-every", "50", "--threads", str(plan.threads), *_quiet(plan)],
            say,
        )  # fmt: skip


def _quiet(plan: DemoPlan) -> list[str]:
    return [] if plan.progress else ["--quiet"]


def scoft_core(argv: list[str], say=print) -> None:
    """Run `python -m scoft_core ARGV` in this process; DemoError when it fails."""
    from scoft_core.cli import main

    say("$ python -m scoft_core " + shlex.join(argv))
    status = main(argv)
    if status != 0:
        raise DemoError(STEP_FAILED.format(command=argv[0], status=status))
