"""manage.py export_rankings STUDY --format csv|parquet (--out FILE | --to-storage): the
rankings export, to a file or to the media storage (the object store when configured)."""

from django.core.management.base import BaseCommand, CommandError

from survey import selectors
from survey.export import (
    CHUNK_SIZE,
    FORMATS,
    ExportError,
    rankings_export_store,
    rankings_export_write,
)
from survey.models import Study

ERROR_STUDY_UNKNOWN = "There is no study {slug!r}; the studies are: {known}."


def study_or_error(slug: str):
    """The study with this slug, or a CommandError naming the studies there are."""
    study = selectors.study_by_slug(slug=slug)
    if study is None:
        known = ", ".join(Study.objects.values_list("slug", flat=True)) or "none yet"
        raise CommandError(ERROR_STUDY_UNKNOWN.format(slug=slug, known=known))
    return study


class Command(BaseCommand):
    help = (
        "Write a study's rankings export (one row per ranked image: participant, image set, "
        "question and variant; a ranking, one question's ordering of a page, is k rows; "
        "excluded participants and failed attention checks flagged, not dropped) as CSV "
        "or Parquet. Streams in bounded memory; the file appears only when complete."
    )

    def add_arguments(self, parser):
        parser.add_argument("study", help="The study's slug.")
        parser.add_argument("--format", choices=FORMATS, default="csv", dest="file_format")
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--out", help="The file to write (replaced).")
        target.add_argument(
            "--to-storage",
            action="store_true",
            help="Save it in the media storage (the object store when one is configured) "
            "under exports/, with a new name each time.",
        )
        parser.add_argument(
            "--chunk-size", type=int, default=CHUNK_SIZE, help="Rows read and written per step."
        )

    def handle(self, *args, study, file_format, out, to_storage, chunk_size, **options):
        if chunk_size < 1:
            raise CommandError("--chunk-size must be at least 1.")
        found = study_or_error(study)
        try:
            if to_storage:
                result = rankings_export_store(
                    study=found, file_format=file_format, chunk_size=chunk_size
                )
            else:
                result = rankings_export_write(
                    study=found, file_format=file_format, out=out, chunk_size=chunk_size
                )
        except ExportError as error:
            raise CommandError(str(error)) from error
        where = f"the media storage as {result.stored_name}" if to_storage else result.path
        self.stdout.write(
            f"Wrote {result.rows} ranked images of study {study!r} to {where} "
            f"({file_format}, {result.size} bytes, sha256 {result.sha256})."
        )
