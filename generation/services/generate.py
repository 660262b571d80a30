"""generate_batch's service: make a study's images, resumably, on one CPU or many GPUs.

`batch_generate` plans the jobs (variant x prompt x seed), keeps this process's shard,
skips every image already finished (file present, hash and recipe matching its manifest
entry), and generates the rest variant by variant, several images per pipeline call. It
yields progress events as it goes. Under `accelerate launch` every process runs it on its
own shard and writes its own manifest; the main process waits for the others, then
registers the complete image sets in the database.

The ML stack (torch, diffusers, scoft_core) is imported only inside functions, so the web
process never pays for it.
"""

from __future__ import annotations

import contextlib
import json
import platform
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from django.conf import settings as django_settings

from study.spec import StudySpec, Variant

from . import archive
from .plan import Job, batches, by_variant, plan_jobs, shard
from .register import ImageRecord, RegisterResult, VariantRecord, image_sets_register

OUTPUT_FOLDER = "generated"  # under MEDIA_ROOT: generated/<study slug>/
LIBRARIES = ("torch", "diffusers", "transformers", "peft", "accelerate", "Pillow")

MODEL_LOAD_FAILED = "Could not load variant {key!r} ({model}): {error}"
BATCH_FAILED = "A pipeline call for variant {key!r} failed on {jobs}: {error}"


# --- processes and model backends -------------------------------------------------------


@dataclass(frozen=True)
class Processes:
    """Where this process stands among `accelerate launch`'s processes."""

    index: int = 0
    count: int = 1
    device: str = "cpu"
    wait: Callable[[], None] = lambda: None  # returns once every process has called it

    @property
    def is_main(self) -> bool:
        return self.index == 0


def accelerate_processes() -> Processes:
    """This process's place under `accelerate launch` (one CPU process when not launched)."""
    import torch
    from accelerate import PartialState

    # Without a GPU, accelerate only forms a process group (gloo) when told it is on CPUs;
    # then `torchrun --nproc_per_node N` (or accelerate's MPI launcher) shards on one machine.
    state = PartialState(cpu=not torch.cuda.is_available())
    return Processes(
        state.process_index, state.num_processes, str(state.device), state.wait_for_everyone
    )


class Backend(Protocol):
    """Loads variants' pipelines and samples images; tests swap in a fake one."""

    settings: Any  # scoft_core.sampling.SamplerSettings (or alike): scheduler, steps, ...
    device: str

    def library_versions(self) -> dict[str, str]: ...
    def load(self, variant: Variant) -> Any: ...
    def sample(self, pipe: Any, prompts: Sequence[str], seeds: Sequence[int]) -> list: ...


def sampler_settings(spec: StudySpec):
    """The spec's sampler: published defaults (tiny-model defaults if only the tiny model
    is used), overridden by whatever [sampler] gives. Raises ValueError for bad settings."""
    from scoft_core.sampling import TINY_SAMPLER, SamplerSettings, check_settings

    defaults = TINY_SAMPLER if spec.uses_only_tiny_model else SamplerSettings()
    settings = replace(defaults, **spec.sampler.given())
    check_settings(settings)
    return settings


class ScoftBackend:
    """The real backend: scoft_core's pipelines and seeded batched sampling."""

    def __init__(self, spec: StudySpec, *, device: str = "cpu"):
        self.settings = sampler_settings(spec)
        self.device = device

    def library_versions(self) -> dict[str, str]:
        from importlib.metadata import PackageNotFoundError, version

        versions = {"python": platform.python_version()}
        for name in LIBRARIES:
            with contextlib.suppress(PackageNotFoundError):
                versions[name] = version(name)
        return versions

    def dtype(self):
        import torch

        # Half precision on GPUs as published; CPUs compute float32 faster and exactly.
        return torch.float16 if self.device.startswith("cuda") else None

    def load(self, variant: Variant):
        from diffusers.utils import logging as diffusers_logging
        from transformers.utils import logging as transformers_logging

        from scoft_core.pipelines import load_pipeline

        # Their loading bars would interleave with ours; our bar already shows progress.
        diffusers_logging.disable_progress_bar()
        transformers_logging.disable_progress_bar()

        return load_pipeline(
            variant.model, adapter=variant.adapter, device=self.device, dtype=self.dtype()
        )

    def sample(self, pipe, prompts: Sequence[str], seeds: Sequence[int]) -> list:
        import torch

        from scoft_core.sampling import sample

        with torch.inference_mode():
            return sample(pipe, prompts, seeds, self.settings, batch_size=len(prompts))


# --- events -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    """The plan of this process: how many of its images exist and how many to make."""

    spec: StudySpec
    output: Path
    settings: dict[str, Any]
    process_index: int
    num_processes: int
    jobs: int  # this process's jobs
    to_generate: list[Job]
    skipped: int
    batch_size: int

    def describe(self) -> list[str]:
        """The plan in lines a researcher reads (printed by --dry-run)."""
        spec = self.spec
        todo = by_variant(self.to_generate)
        calls = sum(1 for _ in batches(self.to_generate, self.batch_size))
        lines = [
            f"Study {spec.slug!r}: {spec.title}",
            f"  {len(spec.countries)} countries, {sum(1 for _ in spec.prompts())} prompts, "
            f"{spec.image_set_count} image sets x {len(spec.variants)} variants "
            f"= {spec.image_set_count * len(spec.variants)} images",
            "  sampler: " + ", ".join(f"{k}={v}" for k, v in self.settings.items()),
            f"  output: {self.output}",
        ]
        if self.num_processes > 1:
            lines.append(
                f"  process {self.process_index + 1} of {self.num_processes}: "
                f"{self.jobs} of those images"
            )
        lines.append(
            f"  already done (skipped): {self.skipped}; to generate: "
            f"{len(self.to_generate)} in {calls} pipeline calls of up to "
            f"{self.batch_size}"
        )
        for variant in spec.variants:
            adapter = f" + adapter {variant.adapter}" if variant.adapter else ""
            lines.append(
                f"    {variant.key} ({variant.label}): {variant.model}{adapter}: "
                f"{len(todo.get(variant.key, []))} to generate"
            )
        return lines


@dataclass(frozen=True)
class Progress:
    """After each pipeline call: images made and failed so far by this process."""

    generated: int
    failed: int
    total: int


@dataclass
class Summary:
    """The end of a run."""

    generated: int = 0
    skipped: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    registered: RegisterResult | None = None  # main process only
    partials_removed: int = 0

    def describe(self) -> str:
        line = f"generated {self.generated}, skipped {self.skipped}, failed {self.failed}"
        if self.registered is not None:
            r = self.registered
            line += (
                f"; database: {r.image_sets_registered} complete image sets "
                f"({r.image_sets_created} new), images {r.images_created} new, "
                f"{r.images_updated} updated, {r.images_unchanged} unchanged, "
                f"{r.participant_copies} participant copies made"
            )
            if r.incomplete_image_sets:
                line += f"; {len(r.incomplete_image_sets)} image sets incomplete"
        return line


# --- the service ------------------------------------------------------------------------


def study_output(spec: StudySpec) -> Path:
    """The study's image folder under MEDIA_ROOT."""
    return Path(django_settings.MEDIA_ROOT) / OUTPUT_FOLDER / spec.slug


def storage_name(spec: StudySpec, job: Job) -> str:
    """The image's FileField name (relative to MEDIA_ROOT)."""
    return f"{OUTPUT_FOLDER}/{spec.slug}/{job.relative_path}"


class _Recipes:
    """What determines each variant's images; a change makes a rerun remake them."""

    def __init__(self, spec: StudySpec, settings: dict[str, Any]):
        self.settings = settings
        self.adapter_sha256 = {
            v.key: archive.sha256_folder(v.adapter) if v.adapter else "" for v in spec.variants
        }
        self.models = {v.key: v.model for v in spec.variants}

    def of(self, job: Job) -> str:
        key = job.variant_key
        return archive.recipe_hash(
            [job.prompt, job.seed, self.models[key], self.adapter_sha256[key], self.settings]
        )


def batch_generate(
    *,
    spec: StudySpec,
    dry_run: bool = False,
    batch_size: int | None = None,
    processes: Processes | None = None,
    backend: Backend | None = None,
) -> Iterator[Planned | Progress | Summary]:
    """Generate the study's images; yield a Planned, Progress after each call, a Summary.

    Raises ValueError (before any work) when the sampler settings are unusable.
    """
    processes = processes or accelerate_processes()
    backend = backend or ScoftBackend(spec, device=processes.device)
    batch_size = batch_size or spec.batch_size
    output = study_output(spec)
    settings = asdict(backend.settings)
    recipes = _Recipes(spec, settings)
    all_jobs = plan_jobs(spec)
    mine = shard(all_jobs, num_processes=processes.count, process_index=processes.index)
    entries = archive.read_manifests(output)
    todo = [
        j for j in mine if not archive.is_intact(entries.get(j.key), output, recipe=recipes.of(j))
    ]
    skipped = len(mine) - len(todo)
    yield Planned(
        spec,
        output,
        settings,
        processes.index,
        processes.count,
        len(mine),
        todo,
        skipped,
        batch_size,
    )
    if dry_run:
        return
    summary = Summary(skipped=skipped)
    if todo:
        with archive.ManifestWriter(archive.manifest_path(output, processes.index)) as writer:
            run = _Run(spec, backend, writer, recipes, summary, total=len(todo))
            for key, jobs in by_variant(todo).items():
                yield from run.variant(spec.variant(key), jobs, batch_size)
    processes.wait()
    if processes.is_main:
        summary.partials_removed = archive.remove_partials(output)
        summary.registered = _register(spec, output, all_jobs, recipes)
    yield summary


class _Run:
    """One process's generation: pipeline calls, images saved, manifest lines, counts."""

    def __init__(self, spec, backend, writer, recipes: _Recipes, summary: Summary, *, total):
        self.spec = spec
        self.backend = backend
        self.writer = writer
        self.recipes = recipes
        self.summary = summary
        self.total = total
        self.versions = backend.library_versions()

    def progress(self) -> Progress:
        return Progress(self.summary.generated, self.summary.failed, self.total)

    def variant(self, variant: Variant, jobs: list[Job], batch_size: int) -> Iterator[Progress]:
        """Load the variant's pipeline once and make its images, a batch per call."""
        summary = self.summary
        try:
            pipe = self.backend.load(variant)
        except Exception as error:  # report, and go on with the other variants
            summary.failed += len(jobs)
            summary.errors.append(
                MODEL_LOAD_FAILED.format(key=variant.key, model=variant.model, error=error)
            )
            yield self.progress()
            return
        for batch in batches(jobs, batch_size):
            try:
                images = self.backend.sample(
                    pipe, [j.prompt for j in batch], [j.seed for j in batch]
                )
            except Exception as error:  # one bad call should not cost the whole run
                summary.failed += len(batch)
                keys = ", ".join(j.key for j in batch)
                summary.errors.append(BATCH_FAILED.format(key=variant.key, jobs=keys, error=error))
            else:
                for job, image in zip(batch, images, strict=True):
                    self.save(variant, job, image)
                    summary.generated += 1
            yield self.progress()

    def save(self, variant: Variant, job: Job, image) -> None:
        """Write one image atomically, then its manifest line (in that order: crash-safe)."""
        settings = self.recipes.settings
        adapter_sha256 = self.recipes.adapter_sha256[variant.key]
        parameters = {
            "prompt": job.prompt,
            "seed": job.seed,
            "variant": variant.key,
            "base_model": variant.model,
            "adapter_sha256": adapter_sha256,
            **settings,
        }
        path = self.writer.path.parent / job.relative_path
        sha = archive.save_png(image, path, text={"parameters": json.dumps(parameters)})
        record = ImageRecord(
            variant_key=job.variant_key,
            country_code=job.country_code,
            prompt_id=job.prompt_id,
            prompt=job.prompt,
            category=job.category,
            seed=job.seed,
            file=storage_name(self.spec, job),
            sha256=sha,
            width=image.width,
            height=image.height,
            base_model=variant.model,
            adapter_sha256=adapter_sha256,
            scheduler=settings["scheduler"],
            steps=settings["steps"],
            guidance=settings["guidance"],
            device=self.backend.device,
            library_versions=self.versions,
        )
        self.writer.append(
            archive.ManifestEntry(
                job.key, job.relative_path, sha, self.recipes.of(job), record.as_dict()
            )
        )


def _register(spec: StudySpec, output: Path, jobs: list[Job], recipes: _Recipes):
    """Register every intact image of the plan (any process's) whose set is complete."""
    entries = archive.read_manifests(output)
    images = []
    for job in jobs:
        entry = entries.get(job.key)
        if archive.is_intact(entry, output, recipe=recipes.of(job)):
            images.append(ImageRecord.from_dict(dict(entry.record)))
    variants = [
        VariantRecord(
            v.key, v.label, v.model, str(v.adapter or ""), recipes.adapter_sha256[v.key], v.position
        )
        for v in spec.variants
    ]
    return image_sets_register(
        study_slug=spec.slug,
        variants=variants,
        images=images,
        image_format=spec.survey.image_format,
    )
