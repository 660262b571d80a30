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
from toyworld.recipe import negatives_argv, train_argv

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
    recipe = plan.recipe
    if community_ready(folder, recipe.negatives_per_image):
        say(f"Reusing the community set and its negatives in {folder}.")
        return folder
    if not (folder / "metadata.jsonl").is_file():
        from toyworld.corpus import write_community_set

        say(
            f"$ python -m toyworld community --out {folder} "
            f"--per-culture {recipe.per_culture}"
        )
        write_community_set(folder, per_culture=recipe.per_culture)
    scoft_core([*negatives_argv(recipe, folder, plan.base_model, plan.threads), *_quiet(plan)], say)
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
        argv = train_argv(plan.recipe, community, output, plan.base_model, variant, plan.threads)
        scoft_core([*argv, *_quiet(plan)], say)


def _quiet(plan: DemoPlan) -> list[str]:
    return [] if plan.progress else ["--quiet"]


def scoft_core(argv: list[str], say=print) -> None:
    """Run `python -m scoft_core ARGV` in this process; DemoError when it fails."""
    from scoft_core.cli import main

    say("$ python -m scoft_core " + shlex.join(argv))
    status = main(argv)
    if status != 0:
        raise DemoError(STEP_FAILED.format(command=argv[0], status=status))
