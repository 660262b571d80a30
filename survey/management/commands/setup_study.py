"""manage.py setup_study SPEC.toml: create or update a study from its spec (idempotent)."""

from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from study.spec import Purpose, SpecError, load_spec
from survey.recruitment import PLATFORMS_BY_KEY, platform_link
from survey.services import study_setup


class Command(BaseCommand):
    help = (
        "Create or update the study, its countries and its four survey items from the "
        "[study], [survey] and [[countries]] tables of a study spec. Safe to rerun."
    )

    def add_arguments(self, parser):
        parser.add_argument("spec", help="Path to the study spec (TOML).")

    def handle(self, *args, spec, **options):
        try:
            study_spec = load_spec(spec, purpose=Purpose.SURVEY)
        except SpecError as error:
            raise CommandError(str(error)) from error
        try:
            study, created = study_setup(spec=study_spec)
        except ValueError as error:
            raise CommandError(str(error)) from error
        verb = "Created" if created else "Updated"
        self.stdout.write(
            f"{verb} study {study.slug!r}: {study.countries.count()} countries, "
            f"{study.items.count()} items, {study.pages_per_participant} pages per "
            f"participant, {study.answers_per_image_set} answers wanted per image set, "
            f"completion code {study.completion_code}."
        )
        link = reverse("survey:study", kwargs={"study_id": study.public_id})
        self.stdout.write(f"Participant link: {link}")
        platform = PLATFORMS_BY_KEY[study.recruitment_platform]
        self.stdout.write(
            f"For {platform.name}: {platform_link(link=link, platform_key=platform.key)}"
        )
