"""Make the participant copies of a study's images (for studies registered before them)."""

from django.core.management.base import BaseCommand, CommandError

from generation.models import ImageSet
from generation.services.copies import CopyError, participant_copies_make
from study.spec import ImageFormat, Purpose, SpecError, load_spec

NO_SUCH_STUDY = "No image sets are registered for study {slug!r}."
GIVE_ONE = "Give --study SLUG or --spec SPEC (whose [survey] image_format is used)."


class Command(BaseCommand):
    help = (
        "Write the blinded, size-padded participant copy of every image of a study that "
        "lacks one in the spec's [survey] image_format (or the default format). Reruns "
        "make only what is missing; --redo remakes every copy."
    )

    def add_arguments(self, parser):
        parser.add_argument("--spec", help="study spec: its slug and [survey] image_format")
        parser.add_argument("--study", help="study slug (the default format, without --spec)")
        parser.add_argument("--redo", action="store_true", help="remake every copy")

    def handle(self, *args, spec=None, study=None, redo=False, **options):
        if spec:
            try:
                parsed = load_spec(spec, purpose=Purpose.SURVEY)
            except SpecError as error:
                raise CommandError(str(error)) from error
            slug, image_format = parsed.slug, parsed.survey.image_format
        elif study:
            slug, image_format = study, ImageFormat()
        else:
            raise CommandError(GIVE_ONE)
        if not ImageSet.objects.filter(study_slug=slug).exists():
            raise CommandError(NO_SUCH_STUDY.format(slug=slug))

        def progress(result):
            if result.image_sets % 100 == 0:
                self.stdout.write(f"  {result.image_sets} image sets ...")

        try:
            result = participant_copies_make(
                study_slug=slug, image_format=image_format, redo=redo, progress=progress
            )
        except CopyError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"Study {slug!r}: {result.copies} participant copies ({image_format.key}) in "
            f"{result.image_sets} image sets; {result.sources_uploaded} sources uploaded."
        )
