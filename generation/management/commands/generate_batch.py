"""manage.py generate_batch SPEC: make a study's image sets, resumably, on one CPU or many."""

from django.core.management.base import BaseCommand, CommandError

from study.spec import SpecError, load_spec

SOME_IMAGES_FAILED = (
    "{failed} image(s) could not be generated; the others are saved. Fix the cause and run "
    "the same command again to make only the missing ones. First error: {error}"
)
BAD_SAMPLER = "The study spec's sampler settings cannot be used: {error}"
BAD_BATCH_SIZE = "--batch-size must be at least 1."


class Command(BaseCommand):
    help = (
        "Generate the image sets of a study spec (TOML): every variant x prompt x seed. "
        "A rerun skips finished images; under `accelerate launch` the jobs are sharded."
    )

    def add_arguments(self, parser):
        parser.add_argument("spec", help="the study spec file (TOML)")
        parser.add_argument(
            "--dry-run", action="store_true", help="print the plan and generate nothing"
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=None,
            help="images per pipeline call (default: the spec's batch_size)",
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, spec, dry_run, batch_size, no_progress, **options):
        # Imported here: the ML stack loads only when images are actually made.
        from generation.services.generate import Progress, Summary, batch_generate, sampler_settings

        if batch_size is not None and batch_size < 1:
            raise CommandError(BAD_BATCH_SIZE)
        try:
            study = load_spec(spec)
        except SpecError as error:
            raise CommandError(str(error)) from error
        try:
            sampler_settings(study)
        except ValueError as error:
            raise CommandError(BAD_SAMPLER.format(error=error)) from error
        events = batch_generate(spec=study, dry_run=dry_run, batch_size=batch_size)
        planned = next(events)
        if dry_run:
            self.stdout.write(
                "\n".join(["Dry run: nothing will be generated.", *planned.describe()])
            )
            return
        # Under accelerate, one bar (the main process's) keeps the terminal readable.
        bar = self.progress_bar(
            len(planned.to_generate), disable=no_progress or planned.process_index > 0
        )
        summary = None
        done = 0
        for event in events:
            if isinstance(event, Progress):
                bar.update(event.generated + event.failed - done)
                done = event.generated + event.failed
            elif isinstance(event, Summary):
                summary = event
        bar.close()
        self.stdout.write(
            f"Study {study.slug!r}, process {planned.process_index + 1} of "
            f"{planned.num_processes}: {summary.describe()}"
        )
        if summary.failed:
            raise CommandError(
                SOME_IMAGES_FAILED.format(failed=summary.failed, error=summary.errors[0])
            )

    def progress_bar(self, total: int, *, disable: bool):
        from tqdm import tqdm

        # tqdm shows images/s and the time left; it writes to stderr, the summary to stdout.
        return tqdm(
            total=total,
            unit="img",
            desc="generating",
            disable=disable or not total,
            dynamic_ncols=True,
        )
