"""Images per second: `manage.py generate_batch` against a naive per-image loop.

The naive loop is how the published SCoFT inference script works: load the pipeline, then
call it once per image with that image's seeded generator, and save each image. Both make
the same jobs (variant x prompt x seed) with the same model and sampler in the same run;
generate_batch's time includes everything it does besides (manifests, hashes, records).

    .venv/bin/python benchmarks/bench_generate.py            # tiny model, CPU
    .venv/bin/python benchmarks/bench_generate.py --prompts 8 --seeds 4 --batch-size 8

Prints both rates and, last, the ratio (target: at least 1.5x on the tiny model on CPU).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", type=int, default=2, help="variants (all the tiny model)")
    parser.add_argument("--prompts", type=int, default=6)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=8, help="generate_batch's batch size")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument(
        "--repeats",
        type=int,
        default=2,
        help="runs of each, alternating; the fastest of each counts",
    )
    return parser.parse_args()


def write_spec(folder: Path, args: argparse.Namespace, slug: str = "bench") -> Path:
    lines = [
        f'[study]\nslug = "{slug}"\ntitle = "Benchmark"',
        f"[generation]\nseeds = {list(range(1000, 1000 + args.seeds))}\n"
        f"batch_size = {args.batch_size}",
    ]
    for n in range(args.variants):
        lines.append(f'[[variants]]\nkey = "v{n}"\nlabel = "Variant {n}"\nmodel = "tiny"')
    lines.append(
        '[[countries]]\ncode = "CN"\nname = "China"\nadjective = "Chinese"\nlanguage = "zh-hans"'
    )
    for n in range(args.prompts):
        lines.append(
            f'[[countries.prompts]]\nid = "p{n}"\ntext = "A festival scene, '
            f'number {n}, with lanterns"'
        )
    path = folder / f"{slug}.toml"
    path.write_text("\n\n".join(lines) + "\n")
    return path


def naive_loop(spec, settings, folder: Path) -> int:
    """The published script's way: one pipeline call per image, saved as PNG."""
    import torch

    from generation.services.plan import by_variant, plan_jobs
    from scoft_core.pipelines import load_pipeline
    from scoft_core.sampling import scheduler_for

    made = 0
    for key, jobs in by_variant(plan_jobs(spec)).items():
        variant = spec.variant(key)
        pipe = load_pipeline(variant.model, adapter=variant.adapter)
        pipe.scheduler = scheduler_for(settings.scheduler, pipe.scheduler.config)
        for job in jobs:
            image = pipe(
                job.prompt,
                generator=torch.Generator("cpu").manual_seed(job.seed),
                num_inference_steps=settings.steps,
                guidance_scale=settings.guidance,
                width=settings.width,
                height=settings.height,
            ).images[0]
            path = folder / job.relative_path
            path.parent.mkdir(parents=True, exist_ok=True)
            image.save(path)
            made += 1
    return made


def main() -> None:
    args = parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-generate-"))
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        SQLITE_PATH=str(work / "db.sqlite3"),
        MEDIA_ROOT=str(work / "media"),
        HF_HUB_OFFLINE="1",
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import torch
    from diffusers.utils import logging as diffusers_logging
    from django.core.management import call_command

    from generation.services.generate import sampler_settings
    from scoft_core.pipelines import load_pipeline, tiny_pipeline_path
    from scoft_core.sampling import sample
    from study.spec import load_spec

    torch.set_num_threads(args.threads)
    diffusers_logging.disable_progress_bar()
    call_command("migrate", verbosity=0)
    tiny_pipeline_path()  # built once, outside both timings
    # Each repeat is a fresh study, so generate_batch has every image to make again.
    specs = [load_spec(write_spec(work, args, f"bench-{r}")) for r in range(args.repeats)]
    spec = specs[0]
    settings = sampler_settings(spec)
    total = len(spec.variants) * spec.image_set_count
    # Warm up torch's kernels so neither timing pays for the first call.
    sample(load_pipeline("tiny"), ["warm up"], [0], settings)

    naive_times, batch_times = [], []
    for repeat, study in enumerate(specs):
        start = time.perf_counter()
        made = naive_loop(study, settings, work / f"naive-{repeat}")
        naive_times.append(time.perf_counter() - start)
        assert made == total

        start = time.perf_counter()
        with open(os.devnull, "w") as quiet:
            call_command("generate_batch", str(study.path), "--no-progress", stdout=quiet)
        batch_times.append(time.perf_counter() - start)
    naive_seconds, batch_seconds = min(naive_times), min(batch_times)

    naive_rate, batch_rate = total / naive_seconds, total / batch_seconds
    print(
        f"jobs: {len(spec.variants)} variants x {spec.image_set_count} image sets = {total} "
        f"images; sampler {settings}; torch threads {args.threads}"
    )
    print(
        f"naive loop (one pipeline call per image): {naive_rate:.2f} images/s "
        f"({naive_seconds:.1f} s)"
    )
    print(
        f"generate_batch (batch size {args.batch_size}): {batch_rate:.2f} images/s "
        f"({batch_seconds:.1f} s)"
    )
    print(f"speed-up of generate_batch over the naive loop: {batch_rate / naive_rate:.2f}x")


if __name__ == "__main__":
    main()
