"""The generation plan: which images to make, in what order, on which process.

A job is one image: variant x prompt x seed. Every variant of a prompt uses the same
seeds, so the images of an image set differ only by model. Jobs are ordered variant by
variant so a process loads each pipeline once, and cut into contiguous shards, one per
`accelerate` process, so a process touches as few variants as possible.

No torch here: the plan is pure arithmetic, tested without launching anything.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import groupby

from study.spec import StudySpec

# Fixed layout of a study's output folder (relative to it).
IMAGE_SUFFIX = ".png"


@dataclass(frozen=True)
class Job:
    """One image to generate: a variant's picture of one prompt with one seed."""

    variant_key: str
    country_code: str
    prompt_id: str
    prompt: str
    category: str
    seed: int

    @property
    def key(self) -> str:
        """Unique within a study: names the job in manifests."""
        return f"{self.variant_key}/{self.prompt_id}/{self.seed}"

    @property
    def relative_path(self) -> str:
        """Where the image lives inside the study's output folder (ids are slugs)."""
        return f"{self.variant_key}/{self.country_code}/{self.prompt_id}-{self.seed}{IMAGE_SUFFIX}"


def plan_jobs(spec: StudySpec) -> list[Job]:
    """Every job of the study, grouped by variant in spec order, then prompt, then seed."""
    return [
        Job(variant.key, country.code, prompt.id, prompt.text, prompt.category, seed)
        for variant in spec.variants
        for country, prompt in spec.prompts()
        for seed in spec.seeds_for(prompt)
    ]


def shard_bounds(total: int, num_processes: int, process_index: int) -> tuple[int, int]:
    """[start, stop) of a process's contiguous share of `total` jobs.

    Shares differ in size by at most one; the first `total % num_processes` processes take
    the extra job. Contiguous (not strided) so a process spans as few variants as possible.
    """
    if num_processes < 1:
        raise ValueError(f"num_processes must be at least 1, not {num_processes}")
    if not 0 <= process_index < num_processes:
        raise ValueError(f"process_index {process_index} is outside 0..{num_processes - 1}")
    base, extra = divmod(total, num_processes)
    start = process_index * base + min(process_index, extra)
    stop = start + base + (1 if process_index < extra else 0)
    return start, stop


def shard(jobs: Sequence[Job], *, num_processes: int, process_index: int) -> list[Job]:
    """The jobs one process runs. The shards of all processes partition `jobs`."""
    start, stop = shard_bounds(len(jobs), num_processes, process_index)
    return list(jobs[start:stop])


def batches(jobs: Sequence[Job], batch_size: int) -> Iterator[list[Job]]:
    """Pipeline calls: up to `batch_size` jobs each, never mixing two variants."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    for _, group in groupby(jobs, key=lambda job: job.variant_key):
        group = list(group)
        for start in range(0, len(group), batch_size):
            yield group[start : start + batch_size]


def by_variant(jobs: Sequence[Job]) -> dict[str, list[Job]]:
    """Jobs per variant key, in plan order."""
    grouped: dict[str, list[Job]] = {}
    for job in jobs:
        grouped.setdefault(job.variant_key, []).append(job)
    return grouped
