"""A fair test of SCoFT's losses on the toy world: paired differences over a sweep.

For every setting of the sweep (the unroll's update rule, the distance of L_C, the
contrastive weight) and every scope (one adapter trained on all five cultures, and one
per stereotyped culture), the three variants scoft-m, scoft-mp and scoft-mpc are trained
with the toy recipe and then draw the same prompts with the same seeds. Because the
images of two variants share their seed, their difference is measured per image: the
paired difference of stereotype rates mpc - mp and mp - m, with a 95% interval, per
culture and pooled over cultures.

scoft-m has no unrolled term, so no setting of the sweep changes it: one scoft-m adapter
per scope serves every setting. scoft-mp uses the positive half of L_C (its distance
and weight), so it is trained per setting like scoft-mpc.

Every step is resumable: an adapter whose variant file exists is reused (an interrupted
one resumes from its checkpoint), and each adapter keeps its measured images in
`measured.npz`, so a rerun only does what is missing. Adapters train `jobs` at a time in
separate processes. `--max-minutes` starts no adapter after that time; the report says
what ran and what remains.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, replace
from itertools import product
from pathlib import Path

import numpy as np

from study.names import VARIANT_FILE
from toyworld.corpus import WEB_BIAS
from toyworld.detectors import Detectors
from toyworld.evaluate import EvaluationConfig, prepare_community, scoft_core_command
from toyworld.measures import Z95, Estimate
from toyworld.recipe import TOY_PERCEPTUAL, train_argv
from toyworld.report import PromptSet
from toyworld.sampling import load_toy_pipeline, sample_images
from toyworld.world import CULTURE_NAMES

VARIANTS = ("scoft-m", "scoft-mp", "scoft-mpc")
PAIRS = (("scoft-mpc", "scoft-mp"), ("scoft-mp", "scoft-m"))
SETTING_FREE = ("scoft-m",)  # variants no setting of the sweep changes
JOINT = "joint"  # one adapter for all five cultures
POOLED_CULTURES = "cultures"  # the per-culture adapters' images pooled
# The cultures the web shows mostly grimy. The others' base rates are about 0.01, so
# their per-culture adapters have no stereotype to remove; the joint scope covers them.
STEREOTYPED = tuple(name for name in CULTURE_NAMES if WEB_BIAS[name].grime >= 0.5)
DEFAULT_SCOPES = (JOINT, *STEREOTYPED)
PUBLISHED_CONTRASTIVE = 0.05
SWEEPS = ("one-at-a-time", "factorial", "published")
UNKNOWN_SCOPE = "Unknown scope {name!r}; the scopes are 'joint' and the cultures {known}."
UNKNOWN_SWEEP = "Unknown sweep {name!r}; choose one of: {choices}."


@dataclass(frozen=True)
class Setting:
    """One point of the sweep; the defaults are the published choices' toy counterparts."""

    update: str = "ddpm"  # the unroll's update rule: published ddpm or ddim
    contrastive_distance: str = TOY_PERCEPTUAL  # D of L_C: toy-perceptual or random-conv
    contrastive_weight: float = PUBLISHED_CONTRASTIVE  # published 0.05, or 10x

    @property
    def key(self) -> str:
        return f"{self.update}-{self.contrastive_distance}-c{self.contrastive_weight:g}"


PUBLISHED = Setting()


def sweep(kind: str = "one-at-a-time") -> list[Setting]:
    """The settings of a sweep.

    "one-at-a-time": the published setting and each of its three choices changed alone
    (DDIM update, random-conv for L_C, 10x contrastive weight): 4 settings.
    "factorial": every combination of the three choices: 8 settings.
    "published": the published setting only.
    """
    if kind == "published":
        return [PUBLISHED]
    if kind == "one-at-a-time":
        return [
            PUBLISHED,
            replace(PUBLISHED, update="ddim"),
            replace(PUBLISHED, contrastive_distance="random-conv"),
            replace(PUBLISHED, contrastive_weight=10 * PUBLISHED_CONTRASTIVE),
        ]
    if kind == "factorial":
        return [
            Setting(update, distance, weight)
            for update, distance, weight in product(
                ("ddpm", "ddim"),
                (TOY_PERCEPTUAL, "random-conv"),
                (PUBLISHED_CONTRASTIVE, 10 * PUBLISHED_CONTRASTIVE),
            )
        ]
    raise ValueError(UNKNOWN_SWEEP.format(name=kind, choices=", ".join(SWEEPS)))


def adapter_dir(work: Path, setting: Setting, scope: str, variant: str) -> Path:
    """Where one adapter lives; variants that no setting changes have one per scope."""
    if variant in SETTING_FREE:
        return work / "adapters" / scope / variant
    return work / "adapters" / scope / variant / setting.key


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


def check_scope(scope: str) -> None:
    """Raise ValueError naming the scopes there are, unless `scope` is one of them."""
    if scope != JOINT and scope not in CULTURE_NAMES:
        raise ValueError(UNKNOWN_SCOPE.format(name=scope, known=", ".join(CULTURE_NAMES)))


def scope_community(work: Path, full: Path, scope: str) -> Path:
    """The community set of one scope: the full set, or a folder of one culture's rows of
    it, with its images and negatives linked (or copied) in, since a data set's paths
    stay inside its folder."""
    check_scope(scope)
    if scope == JOINT:
        return full
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
    return replace(
        config,
        loss_weights=weights,
        settings=settings,
        feature_distance=setting.contrastive_distance,
    )


def train_variant(job: Job, base_model: Path, config: EvaluationConfig) -> None:
    """The job's adapter (reused when finished, resumed when interrupted)."""
    if (job.adapter / VARIANT_FILE).is_file():
        return
    recipe = _recipe(config, job.setting)
    argv = train_argv(recipe, job.community, job.adapter, base_model, job.variant, config.threads)
    scoft_core_command([*argv, "--quiet"])


def scope_rows(scope: str, seeds_per_prompt: int) -> list[tuple[str, str, str, int]]:
    """The (culture, category, prompt, seed) rows a scope's adapters draw.

    A culture's own adapter draws its prompts with `seeds_per_prompt` seeds each. The
    joint adapter draws every culture's, with a third of the seeds for the cultures the web
    shows fairly: their stereotype rates are near 0 for every variant, so their paired
    differences are narrow with fewer images.
    """
    if scope != JOINT:
        return PromptSet(cultures=(scope,), seeds_per_prompt=seeds_per_prompt).rows()
    rows = []
    for culture in CULTURE_NAMES:
        seeds = seeds_per_prompt if culture in STEREOTYPED else max(1, seeds_per_prompt // 3)
        rows += PromptSet(cultures=(culture,), seeds_per_prompt=seeds).rows()
    return rows


def load_measured(path: Path) -> dict[str, np.ndarray]:
    """The indicators a measured.npz holds, read into memory."""
    with np.load(path) as stored:
        return dict(stored)


def measure_variant(
    adapter: Path, base_model: Path, detectors: Detectors, rows: list
) -> dict[str, np.ndarray]:
    """Stereotype, motif and category indicators of the variant's images, in row order."""
    target = adapter / "measured.npz"
    if target.exists():
        return load_measured(target)
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


@dataclass(frozen=True)
class Job:
    """One adapter to train and measure."""

    setting: Setting
    scope: str
    variant: str
    adapter: Path
    community: Path
    seeds_per_prompt: int

    @property
    def name(self) -> str:
        return f"{self.scope}/{self.variant}" + (
            "" if self.variant in SETTING_FREE else f"/{self.setting.key}"
        )

    @property
    def rows(self) -> list[tuple[str, str, str, int]]:
        return scope_rows(self.scope, self.seeds_per_prompt)

    @property
    def finished(self) -> bool:
        return (self.adapter / "measured.npz").exists()


def run_job(job: Job, base_model: Path, detectors_file: Path, config: EvaluationConfig) -> str:
    """Train and measure one adapter; in a worker process, or in this one."""
    import torch

    torch.set_num_threads(config.threads)
    train_variant(job, base_model, config)
    measure_variant(job.adapter, base_model, Detectors.load(detectors_file), job.rows)
    return job.name


def plan_jobs(
    work: Path, full: Path, settings: list[Setting], scopes: list[str], seeds_per_prompt: int
) -> list[Job]:
    """Every adapter the sweep needs, once each, setting by setting (published first)."""
    jobs: dict[Path, Job] = {}
    for setting, scope in product(settings, scopes):
        community = scope_community(work, full, scope)
        for variant in VARIANTS:
            adapter = adapter_dir(work, setting, scope, variant)
            jobs.setdefault(
                adapter, Job(setting, scope, variant, adapter, community, seeds_per_prompt)
            )
    return list(jobs.values())


def run_ablation(
    work: Path,
    base_model: Path,
    detectors_file: Path,
    config: EvaluationConfig,
    settings: list[Setting],
    scopes: list[str],
    seeds_per_prompt: int,
    max_minutes: float | None = None,
    jobs: int = 1,
    progress: Callable[[str], None] = print,
) -> dict:
    """Train and measure what is missing, within `max_minutes`; returns the record.

    With `jobs` > 1 the adapters train and sample in that many worker processes at once
    (each with `config.threads` torch threads); with 1 they run in this process.
    """
    started = time.time()
    for scope in scopes:  # a typo is reported before minutes of negatives, not after
        check_scope(scope)
    Detectors.load(detectors_file)  # fail early, before any training
    work.mkdir(parents=True, exist_ok=True)
    full = prepare_community(work, base_model, replace(config, threads=max(jobs, 1)))
    planned = plan_jobs(work, full, settings, scopes, seeds_per_prompt)
    pending = [job for job in planned if not job.finished]

    def late() -> bool:
        return max_minutes is not None and (time.time() - started) / 60 > max_minutes

    if jobs <= 1:
        while pending and not late():
            job = pending.pop(0)
            progress(f"training and measuring {job.name}")
            run_job(job, base_model, detectors_file, config)
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            running: dict[Future, Job] = {}
            while pending or running:
                while pending and len(running) < jobs and not late():
                    job = pending.pop(0)
                    progress(f"training and measuring {job.name}")
                    future = pool.submit(run_job, job, base_model, detectors_file, config)
                    running[future] = job
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    progress(f"finished {future.result()} ({_minutes(started)} min)")
                    del running[future]
    return {
        "config": asdict(config),
        "seeds_per_prompt": seeds_per_prompt,
        "done": collect(work, settings, scopes, seeds_per_prompt),
        "remaining": [job.name for job in planned if not job.finished],
        "minutes": _minutes(started),
    }


def _minutes(started: float) -> float:
    return round((time.time() - started) / 60, 1)


def collect(
    work: Path, settings: list[Setting], scopes: list[str], seeds_per_prompt: int
) -> list[dict]:
    """The paired records of every (setting, scope) whose three adapters are measured,
    and per setting the per-culture adapters' images pooled (scope "cultures")."""
    done = []
    for setting in settings:
        pooled: dict[str, list] = {variant: [] for variant in VARIANTS}
        pooled_cultures: list[str] = []
        for scope in scopes:
            files = [adapter_dir(work, setting, scope, v) / "measured.npz" for v in VARIANTS]
            if not all(file.exists() for file in files):
                continue
            measured = {v: load_measured(f) for v, f in zip(VARIANTS, files, strict=True)}
            labels = [r[0] for r in scope_rows(scope, seeds_per_prompt)]
            done.append(_paired_record(setting, scope, labels, measured))
            if scope != JOINT:
                pooled_cultures += labels
                for variant in VARIANTS:
                    pooled[variant].append(measured[variant])
        if len(pooled["scoft-m"]) > 1:
            merged = {
                variant: {m: np.concatenate([part[m] for part in parts]) for m in parts[0]}
                for variant, parts in pooled.items()
            }
            done.append(_paired_record(setting, POOLED_CULTURES, pooled_cultures, merged))
    return done


def _paired_record(setting: Setting, scope: str, labels: list[str], measured: dict) -> dict:
    cultures = np.array(labels)
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
    """The paired differences of stereotype rate: per setting, the joint adapter per culture
    and pooled, each culture's own adapter, and those pooled ("cultures")."""
    lines = [f"{'setting':<36} {'scope':<8} {'culture':<8} {'mpc - mp':<24} {'mp - m':<24}"]
    for done in record["done"]:
        stereotype = {pair: done["pairs"][pair]["stereotype"] for pair in done["pairs"]}
        first, second = (stereotype[f"{a} - {b}"] for a, b in PAIRS)
        shown = list(first) if done["scope"] == JOINT else ["pooled"]
        for culture in shown:
            label = done["scope"] if culture == "pooled" and done["scope"] != JOINT else culture
            lines.append(
                f"{done['key']:<36} {done['scope']:<8} {label:<8} "
                f"{_text(first[culture]):<24} {_text(second[culture]):<24}"
            )
    return "\n".join(lines)


def _text(value: dict) -> str:
    return f"{value['value']:+.3f} [{value['low']:+.3f}, {value['high']:+.3f}]"
