"""Export benchmark: a million rankings export in bounded memory.

Fills a fresh SQLite database with two studies, a small one and a large one (default
1,000,000 rankings: participants x pages x 4 items x 4 variants), then runs
`manage.py export_rankings` on each, as CSV and as Parquet, in a separate process, and
prints the rows, seconds, rows/s and the process's peak memory (max RSS). The ratio
printed last is the large export's peak memory over the small one's: near 1 means the
memory does not grow with the study.

    .venv/bin/python benchmarks/bench_export_memory.py
    .venv/bin/python benchmarks/bench_export_memory.py --rankings 200000
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
ITEMS = ("alignment", "culture", "stereotypes", "offensiveness")
VARIANTS = ("pretrained", "finetune", "perceptual", "scoft")
PAGES = 10
PER_PAGE = len(ITEMS) * len(VARIANTS)


def fill(slug: str, rankings: int) -> None:
    """One study with ``rankings`` rankings (rounded to whole participants), in bulk."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import transaction
    from django.utils import timezone

    from generation.models import GeneratedImage, ImageSet, ModelVariant
    from survey.models import Country, Page, PageImage, Participant, Ranking, Study, SurveyItem

    call_command("migrate", verbosity=0)
    now = timezone.now()
    participants = max(1, rankings // (PAGES * PER_PAGE))
    with transaction.atomic():
        study = Study.objects.create(slug=slug, title=slug)
        country = Country.objects.create(study=study, code="CN", name="China", adjective="Chinese")
        items = SurveyItem.objects.bulk_create(
            SurveyItem(study=study, key=key, position=i, question=key, best_end="+", worst_end="-")
            for i, key in enumerate(ITEMS)
        )
        variants = ModelVariant.objects.bulk_create(
            ModelVariant(study_slug=slug, key=key, label=key.title(), base_model="tiny", position=i)
            for i, key in enumerate(VARIANTS)
        )
        sets = ImageSet.objects.bulk_create(
            ImageSet(
                study_slug=slug,
                country_code="CN",
                prompt_id=f"cn-{n:03d}",
                prompt=f"A street market, scene {n}",
                seed=1024,
            )
            for n in range(PAGES * 5)
        )
        images = {
            (image.image_set_id, image.variant_id): image
            for image in GeneratedImage.objects.bulk_create(
                GeneratedImage(
                    image_set=s,
                    variant=v,
                    file=f"images/{s.pk}-{v.key}.png",
                    sha256="0" * 64,
                    width=8,
                    height=8,
                    seed=1024,
                )
                for s in sets
                for v in variants
            )
        }
    for first in range(0, participants, 500):
        with transaction.atomic():
            people = Participant.objects.bulk_create(
                Participant(study=study, country=country, completed_at=now, attention_ok=True)
                for _ in range(first, min(first + 500, participants))
            )
            pages = Page.objects.bulk_create(
                Page(
                    participant=person,
                    image_set=sets[(n + index) % len(sets)],
                    index=index,
                    shuffle_seed=n,
                    submitted_at=now,
                    page_ms=10_000,
                )
                for n, person in enumerate(people)
                for index in range(PAGES)
            )
            shown = PageImage.objects.bulk_create(
                PageImage(page=page, image=images[(page.image_set_id, v.pk)], position=p + 1)
                for page in pages
                for p, v in enumerate(variants)
            )
            Ranking.objects.bulk_create(
                (
                    Ranking(page_id=image.page_id, item=item, page_image=image, rank=image.position)
                    for image in shown
                    for item in items
                ),
                batch_size=5000,
            )


# Runs manage.py in this interpreter and reports the process's own peak memory.
MEASURED = (
    "import resource, runpy, sys\n"
    "sys.argv = ['manage.py', *sys.argv[1:]]\n"
    "try:\n"
    "    runpy.run_path('manage.py', run_name='__main__')\n"
    "finally:\n"
    "    print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
)


def export(env: dict, slug: str, file_format: str, out: Path) -> tuple[float, float]:
    """(seconds, peak RSS in MiB) of one export_rankings process."""
    started = time.perf_counter()
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            MEASURED,
            "export_rankings",
            slug,
            "--format",
            file_format,
            "--out",
            str(out),
        ],
        env=env,
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    seconds = time.perf_counter() - started
    peak_kib = int(next(line for line in run.stderr.splitlines() if line.startswith("PEAK"))[5:])
    return seconds, peak_kib / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rankings", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=20_000, help="rankings of the small study")
    parser.add_argument("--fill", nargs=2, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.fill:
        fill(options.fill[0], int(options.fill[1]))
        return 0
    with tempfile.TemporaryDirectory(prefix="scoft-export-") as folder:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
            "DJANGO_DEBUG": "false",
            "SQLITE_PATH": str(Path(folder) / "export.sqlite3"),
            "LOG_LEVEL": "ERROR",
        }
        env.pop("DATABASE_URL", None)
        script = [sys.executable, str(Path(__file__).resolve()), "--fill"]
        started = time.perf_counter()
        for slug, count in (("small", options.small), ("large", options.rankings)):
            subprocess.run([*script, slug, str(count)], env=env, cwd=ROOT, check=True)
        print(f"filled the database in {time.perf_counter() - started:.0f} s")
        peaks = {}
        for file_format in ("csv", "parquet"):
            for slug in ("small", "large"):
                out = Path(folder) / f"{slug}.{file_format}"
                seconds, peak = export(env, slug, file_format, out)
                rows = count_rows(out, file_format)
                peaks[(slug, file_format)] = peak
                print(
                    f"{slug:5s} {file_format:7s} {rows:9d} rows  {seconds:6.1f} s  "
                    f"{rows / seconds:9.0f} rows/s  peak {peak:6.0f} MiB  "
                    f"file {out.stat().st_size / 2**20:7.2f} MiB"
                )
                out.unlink()
    ratio = max(peaks[("large", f)] / peaks[("small", f)] for f in ("csv", "parquet"))
    print(f"peak memory, large export / small export: {ratio:.2f}")
    return 0


def count_rows(path: Path, file_format: str) -> int:
    if file_format == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    with path.open("rb") as handle:
        return sum(1 for _ in handle) - 1


if __name__ == "__main__":
    sys.exit(main())
