"""manage.py export_rankings STUDY --format csv|parquet --out FILE: the rankings export."""

from django.core.management.base import BaseCommand, CommandError

from survey import selectors
from survey.export import CHUNK_SIZE, FORMATS, ExportError, rankings_export_write
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
        parser.add_argument("--out", required=True, help="The file to write (replaced).")
        parser.add_argument(
            "--chunk-size", type=int, default=CHUNK_SIZE, help="Rows read and written per step."
        )

    def handle(self, *args, study, file_format, out, chunk_size, **options):
        if chunk_size < 1:
            raise CommandError("--chunk-size must be at least 1.")
        try:
            result = rankings_export_write(
                study=study_or_error(study), file_format=file_format, out=out, chunk_size=chunk_size
            )
        except ExportError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"Wrote {result.rows} ranked images of study {study!r} to {result.path} "
            f"({file_format}, {result.size} bytes, sha256 {result.sha256})."
        )
