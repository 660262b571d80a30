"""manage.py setup_study SPEC.toml: create or update a study from its spec (idempotent)."""

from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from study.names import LANGUAGES
from study.spec import Purpose, SpecError, load_spec
from survey.recruitment import PLATFORMS_BY_KEY, platform_link
from survey.services import SetupError, study_setup
from survey.texts import is_translated

INCOMPLETE_LANGUAGE = "{language} ({name}) is incomplete; shown in English: {missing}."


class Command(BaseCommand):
    help = (
        "Create or update the study, its countries, its survey items and its texts in "
        "every language from the [study], [survey] and [[countries]] tables of a study "
        "spec, and list the texts a language lacks. Safe to rerun."
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
        except SetupError as error:
            raise CommandError(str(error)) from error
        verb = "Created" if created else "Updated"
        self.stdout.write(
            f"{verb} study {study.slug!r}: {study.countries.count()} countries, "
            f"{study.items.count()} items, {study.pages_per_participant} pages per "
            f"participant, {study.answers_per_image_set} answers wanted per image set "
            f"(counted: {study.quota_counts}), {study.attention_checks} attention checks, "
            f"completion code {study.completion_code}."
        )
        missing = study_spec.missing_translations(is_translated)
        for language, texts in missing.items():
            self.stdout.write(
                INCOMPLETE_LANGUAGE.format(
                    language=language, name=LANGUAGES[language], missing=", ".join(texts)
                )
            )
        if not missing:
            self.stdout.write("Every language of the study has all its texts.")
        link = reverse("survey:study", kwargs={"study_id": study.public_id})
        self.stdout.write(f"Participant link: {link}")
        platform = PLATFORMS_BY_KEY[study.recruitment_platform]
        self.stdout.write(
            f"For {platform.name}: {platform_link(link=link, platform_key=platform.key)}"
        )
