"""manage.py import_batch PATH: register image sets generated elsewhere, from manifest CSVs."""

from django.core.management.base import BaseCommand, CommandError

from generation.services.importing import ImportProblems, import_apply, import_plan
from study.spec import Purpose, SpecError, load_spec

BAD_PAIR = "{option} {value!r} must look like NAME=VALUE."


def _pairs(option: str, values: list[str]) -> dict[str, str]:
    pairs = {}
    for value in values:
        name, sep, target = value.rpartition("=")
        if not sep or not target.strip():
            raise CommandError(BAD_PAIR.format(option=option, value=value))
        pairs[name.strip()] = target.strip()
    return pairs


class Command(BaseCommand):
    help = (
        "Import image sets from a manifest CSV (prompt, seed, one column per variant holding "
        "an image path) or a folder in the published SCoFT survey layout (a folder per "
        "country with <Country>_files.csv). Everything is checked before anything is written; "
        "one bad file stops the import unless --skip-incomplete is given."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="a manifest CSV, a country folder, or their parent")
        parser.add_argument(
            "--spec",
            help="the study spec: its slug; its variants, countries and prompt ids when it "
            "lists them (else the published survey's columns and countries apply)",
        )
        parser.add_argument("--study", help="the study slug (when no --spec is given)")
        parser.add_argument(
            "--variant",
            action="append",
            default=[],
            metavar="COLUMN=KEY",
            help="map a CSV column to a variant key (repeatable); the published columns "
            "map to pretrained, scoft-m, scoft-mp, scoft-mpc by default",
        )
        parser.add_argument(
            "--country",
            action="append",
            default=[],
            metavar="NAME=CODE",
            help="country code for <NAME>_files.csv (repeatable); '=CODE' for a plain CSV",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="check everything and write nothing"
        )
        parser.add_argument(
            "--skip-incomplete",
            action="store_true",
            help="import every complete row and list each row left out, with why (an "
            "image missing, unreadable or of the wrong size); without it one bad file "
            "stops the whole import",
        )

    def handle(
        self, *args, path, spec, study, variant, country, dry_run, skip_incomplete, **options
    ):
        variants = _pairs("--variant", variant)
        countries = {}
        for value in country:  # "=CN" (or plain "CN") is the code of a plain manifest CSV
            name, _, code = value.rpartition("=")
            if not code.strip():
                raise CommandError(BAD_PAIR.format(option="--country", value=value))
            countries[name.strip()] = code.strip()
        try:
            study_spec = load_spec(spec, purpose=Purpose.IMPORT) if spec else None
            plan = import_plan(
                path,
                spec=study_spec,
                study_slug=study,
                variant_keys=variants,
                country_codes=countries,
                skip_incomplete=skip_incomplete,
            )
        except (SpecError, ImportProblems) as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"Checked {len(plan.images)} images in {plan.image_set_count} image sets for "
            f"study {plan.study_slug!r}, variants: " + ", ".join(v.key for v in plan.variants)
        )
        for row in plan.skipped:
            self.stdout.write(
                f"Skipped {row.csv} line {row.line} ({row.prompt!r}): " + "; ".join(row.reasons)
            )
        if plan.skipped:
            self.stdout.write(
                f"Skipped {len(plan.skipped)} incomplete rows; nothing was written for them."
            )
        if dry_run:
            self.stdout.write("Dry run: nothing was written.")
            return
        result = import_apply(plan)
        self.stdout.write(
            f"Imported: {result.image_sets_registered} complete image sets "
            f"({result.image_sets_created} new), images {result.images_created} new, "
            f"{result.images_updated} updated, {result.images_unchanged} unchanged."
        )
        if result.incomplete_image_sets:
            self.stdout.write(
                f"Skipped {len(result.incomplete_image_sets)} image sets that lack an image "
                "for some variant (the manifests have different variant columns)."
            )
