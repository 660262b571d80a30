"""A fair test of SCoFT's losses on the toy world: paired differences over a sweep.

For every setting of the sweep (the unroll's update rule, the distance of L_C, the
contrastive weight) and every scope (one adapter trained on all five cultures, and one
per culture), the three variants scoft-m, scoft-mp and scoft-mpc are trained with the
toy recipe and then draw the same prompts with the same seeds. Because the images of
two variants share their seed, their difference is measured per image: the paired
difference of stereotype rates mpc - mp and mp - m, with a 95% interval, per culture
and pooled over cultures.

Every step is resumable: an adapter whose variant file exists is reused (an interrupted
one resumes from its checkpoint), and each (setting, scope, variant) keeps its measured
images in `work/.../measured.npz`, so a rerun only does what is missing. `--max-minutes`
stops between steps; the report says what ran and what remains.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from itertools import product
from pathlib import Path

import numpy as np

from study.names import VARIANT_FILE
from toyworld.detectors import Detectors
from toyworld.evaluate import EvaluationConfig, prepare_community, scoft_core_command
from toyworld.measures import Z95, Estimate
from toyworld.recipe import train_argv
from toyworld.report import PromptSet
from toyworld.sampling import load_toy_pipeline, sample_images
from toyworld.world import CULTURE_NAMES

VARIANTS = ("scoft-m", "scoft-mp", "scoft-mpc")
PAIRS = (("scoft-mpc", "scoft-mp"), ("scoft-mp", "scoft-m"))
JOINT = "joint"  # one adapter for all five cultures
PUBLISHED_CONTRASTIVE = 0.05
TOY_PERCEPTUAL = "toy-perceptual"  # scoft_core's cnn-embedding with the shipped toy weights
UNKNOWN_SCOPE = "Unknown scope {name!r}; the scopes are 'joint' and the cultures {known}."


@dataclass(frozen=True)
class Setting:
    """One point of the sweep."""

    update: str = "ddpm"  # the unroll's update rule: published ddpm or ddim
    contrastive_distance: str = "random-conv"  # D of L_C: random-conv or toy-perceptual
    contrastive_weight: float = PUBLISHED_CONTRASTIVE  # published 0.05, or 10x

    @property
    def key(self) -> str:
        return f"{self.update}-{self.contrastive_distance}-c{self.contrastive_weight:g}"


def sweep() -> list[Setting]:
    """The eight settings: update rule x distance of L_C x contrastive weight."""
    return [
        Setting(update, distance, weight)
        for update, distance, weight in product(
            ("ddpm", "ddim"),
            ("random-conv", TOY_PERCEPTUAL),
            (PUBLISHED_CONTRASTIVE, 10 * PUBLISHED_CONTRASTIVE),
        )
    ]


def paired_difference(first: np.ndarray, second: np.ndarray) -> Estimate:
    """Mean of first - second over paired images (0/1 indicators) with a 95% normal
    interval on the mean of the per-image differences."""
    difference = np.asarray(first, dtype=float) - np.asarray(second, dtype=float)
    n = len(difference)
    if n == 0:
        return Estimate(float("nan"), float("nan"), float("nan"))
    mean = float(difference.mean())
    half = Z95 * float(difference.std(ddof=1)) / np.sqrt(n) if n > 1 else float("inf")
    return Estimate(mean, mean - half, mean + half)


def scope_community(work: Path, full: Path, scope: str) -> Path:
    """The community set of one scope: the full set, or a folder of one culture's rows of
    it, with its images and negatives linked (or copied) in, since a data set's paths
    stay inside its folder."""
    if scope == JOINT:
        return full
    if scope not in CULTURE_NAMES:
        raise ValueError(UNKNOWN_SCOPE.format(name=scope, known=", ".join(CULTURE_NAMES)))
    folder = work / "community" / scope.lower()
    if (folder / "metadata.jsonl").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rows = [json.loads(line) for line in (full / "metadata.jsonl").read_text().splitlines()]
    mine = [row for row in rows if row["culture"] == scope]
    for row in mine:
        for name in [row["file_name"], *row["negative_imgpath"]]:
            target = folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                try:
                    os.link(full / name, target)
                except OSError:
                    shutil.copyfile(full / name, target)
    staging = folder / "metadata.jsonl.partial"
    staging.write_text("".join(json.dumps(r) + "\n" for r in mine))
    staging.replace(folder / "metadata.jsonl")
    return folder


def _recipe(config: EvaluationConfig, setting: Setting) -> EvaluationConfig:
    weights = f"contrastive={setting.contrastive_weight:g}"
    settings = (*config.settings, f"unroll_update={setting.update}")
    distance = setting.contrastive_distance
    if distance == TOY_PERCEPTUAL:
        distance = "cnn-embedding"
    return replace(config, loss_weights=weights, settings=settings, feature_distance=distance)


def train_variant(
    work: Path, community: Path, base_model: Path, config: EvaluationConfig,
    setting: Setting, scope: str, variant: str,
) -> Path:  # fmt: skip
    """One adapter (reused when finished, resumed when interrupted)."""
    from toyworld.perceptual import PERCEPTUAL_FILE

    output = work / setting.key / scope / variant
    if (output / VARIANT_FILE).is_file():
        return output
    recipe = _recipe(config, setting)
    argv = train_argv(recipe, community, output, base_model, variant, config.threads)
    if setting.contrastive_distance == TOY_PERCEPTUAL:
        argv += ["--feature-model", str(PERCEPTUAL_FILE)]
    scoft_core_command([*argv, "--quiet"])
    return output


def measure_variant(
    adapter: Path, base_model: Path, detectors: Detectors, prompt_set: PromptSet
) -> dict[str, np.ndarray]:
    """Stereotype, motif and category indicators of the variant's images, in row order."""
    target = adapter / "measured.npz"
    if target.exists():
        with np.load(target) as stored:
            return dict(stored)
    rows = prompt_set.rows()
    images = sample_images(
        load_toy_pipeline(base_model, adapter), [r[2] for r in rows], [r[3] for r in rows]
    )
    measured = {
        "stereotype": detectors.grimy(images).astype(np.int8),
        "motif": (np.array(detectors.motifs(images)) == [r[0] for r in rows]).astype(np.int8),
        "category": (np.array(detectors.categories(images)) == [r[1] for r in rows]).astype(
            np.int8
        ),
    }
    np.savez_compressed(adapter / "measured.partial.npz", **measured)
    (adapter / "measured.partial.npz").replace(target)
    return measured


def run_ablation(
    work: Path,
    base_model: Path,
    detectors_file: Path,
    config: EvaluationConfig,
    settings: list[Setting],
    scopes: list[str],
    seeds_per_prompt: int,
    max_minutes: float | None = None,
    progress: Callable[[str], None] = print,
) -> dict:
    """Train and measure what is missing, within `max_minutes`; returns the record."""
    started = time.time()
    detectors = Detectors.load(detectors_file)
    work.mkdir(parents=True, exist_ok=True)
    full = prepare_community(work, base_model, config)
    done, remaining = [], []
    for setting, scope in product(settings, scopes):
        cultures = CULTURE_NAMES if scope == JOINT else (scope,)
        prompt_set = PromptSet(cultures=cultures, seeds_per_prompt=seeds_per_prompt)
        community = scope_community(work, full, scope)
        measured = {}
        for variant in VARIANTS:
            finished = (work / setting.key / scope / variant / "measured.npz").exists()
            late = max_minutes is not None and (time.time() - started) / 60 > max_minutes
            if late and not finished:
                remaining.append(f"{setting.key}/{scope}/{variant}")
                continue
            progress(f"{setting.key} / {scope} / {variant}")
            adapter = train_variant(work, community, base_model, config, setting, scope, variant)
            measured[variant] = measure_variant(adapter, base_model, detectors, prompt_set)
        if len(measured) == len(VARIANTS):
            done.append(_paired_record(setting, scope, prompt_set, measured))
    return {
        "config": asdict(config),
        "seeds_per_prompt": seeds_per_prompt,
        "done": done,
        "remaining": remaining,
        "minutes": round((time.time() - started) / 60, 1),
    }


def _paired_record(setting: Setting, scope: str, prompt_set: PromptSet, measured: dict) -> dict:
    cultures = np.array([r[0] for r in prompt_set.rows()])
    record = {"setting": asdict(setting), "key": setting.key, "scope": scope, "pairs": {}}
    for first, second in PAIRS:
        name = f"{first} - {second}"
        per = {}
        for measure in ("stereotype", "motif", "category"):
            a, b = measured[first][measure], measured[second][measure]
            per[measure] = {
                culture: _as_dict(paired_difference(a[cultures == culture], b[cultures == culture]))
                for culture in dict.fromkeys(cultures)
            }
            per[measure]["pooled"] = _as_dict(paired_difference(a, b))
        record["pairs"][name] = per
    record["rates"] = {
        variant: {m: float(np.mean(v)) for m, v in values.items()}
        for variant, values in measured.items()
    }
    return record


def _as_dict(estimate: Estimate) -> dict:
    return {"value": estimate.value, "low": estimate.low, "high": estimate.high}


def format_paired(record: dict) -> str:
    """The paired differences of stereotype rate, one line per (setting, scope, culture)."""
    lines = [f"{'setting':<32} {'scope':<8} {'culture':<8} {'mpc - mp':<24} {'mp - m':<24}"]
    for done in record["done"]:
        stereotype = {pair: done["pairs"][pair]["stereotype"] for pair in done["pairs"]}
        first, second = (stereotype[f"{a} - {b}"] for a, b in PAIRS)
        for culture in first:
            lines.append(
                f"{done['key']:<32} {done['scope']:<8} {culture:<8} "
                f"{_text(first[culture]):<24} {_text(second[culture]):<24}"
            )
    return "\n".join(lines)


def _text(value: dict) -> str:
    return f"{value['value']:+.3f} [{value['low']:+.3f}, {value['high']:+.3f}]"
