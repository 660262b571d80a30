"""manage.py analyze_study STUDY --out DIR: export the rankings, then run the analysis.

The analysis runs as a separate process (``python -m analysis report``): the web side
never imports the analysis package, and the export file is the only thing that
crosses between them (docs/ARCHITECTURE.md, the rankings export). The study's own
variant order (its spec's order, kept as ``ModelVariant.position``) is passed along,
and so is its headline pair: the last variant against the first.
"""

import subprocess
import sys
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from generation.models import ModelVariant
from survey.export import ExportError, rankings_export_write

from .export_rankings import study_or_error

ERROR_ANALYSIS_MISSING = (
    "The analysis package has no report module here, so the report cannot be made. "
    "Install or update the analysis package, or export with export_rankings and run "
    "`python -m analysis report EXPORT --out DIR` where it is installed."
)
ERROR_ANALYSIS_FAILED = "The analysis stopped with status {status}: {detail}"
ERROR_NO_RANKINGS = "Study {slug!r} has no answered pages yet, so there is nothing to analyse."
# The package run as ``python -m``; a name of its own only so tests can swap it.
ANALYSIS_PACKAGE = "analysis"
# Asked in a child process, so this process never imports the analysis package.
PROBE = "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec({module!r}) else 3)"


def study_variant_arguments(slug: str) -> list[str]:
    """--variant-order and --headline from the study's variants, in the spec's order."""
    keys = list(
        ModelVariant.objects.filter(study_slug=slug)
        .order_by("position", "key")
        .values_list("key", flat=True)
    )
    if len(keys) < 2:
        return []  # the analysis orders what the export holds
    return ["--variant-order", ",".join(keys), "--headline", f"{keys[-1]}:{keys[0]}"]


def analysis_command(export: Path, out: Path, extra: list[str]) -> list[str]:
    """The command line of the analysis report for an export file."""
    return [
        sys.executable,
        "-m",
        ANALYSIS_PACKAGE,
        "report",
        str(export),
        "--out",
        str(out),
        *extra,
    ]


class Command(BaseCommand):
    help = (
        "Export a study's rankings to a temporary Parquet file and run the analysis report "
        "on it (python -m analysis report) in a separate process, writing to --out."
    )

    def add_arguments(self, parser):
        parser.add_argument("study", help="The study's slug.")
        parser.add_argument("--out", required=True, help="The report folder.")
        parser.add_argument(
            "--keep-excluded",
            action="store_true",
            help="Keep excluded participants and failed attention checks in the analysis.",
        )
        parser.add_argument(
            "--bootstrap", type=int, help="Bootstrap replicates per interval (analysis default)."
        )

    def handle(self, *args, study, out, keep_excluded, bootstrap, **options):
        study = study_or_error(study)
        probe = subprocess.run(
            [sys.executable, "-c", PROBE.format(module=f"{ANALYSIS_PACKAGE}.report")],
            cwd=settings.BASE_DIR,
            check=False,
        )
        if probe.returncode != 0:
            raise CommandError(ERROR_ANALYSIS_MISSING)
        extra = ["--study", study.slug]
        if keep_excluded:
            extra.append("--keep-excluded")
        if bootstrap is not None:
            extra += ["--bootstrap", str(bootstrap)]
        extra += study_variant_arguments(study.slug)
        with tempfile.TemporaryDirectory(prefix="scoft-export-") as folder:
            export = Path(folder) / f"{study.slug}-rankings.parquet"
            try:
                result = rankings_export_write(study=study, file_format="parquet", out=export)
            except ExportError as error:
                raise CommandError(str(error)) from error
            if result.rows == 0:
                raise CommandError(ERROR_NO_RANKINGS.format(slug=study.slug))
            self.stdout.write(
                f"Exported {result.rows} ranked images of {study.slug!r} (one row per image, "
                "page and question); analysing."
            )
            run = subprocess.run(
                analysis_command(export, Path(out).resolve(), extra),
                cwd=settings.BASE_DIR,
                capture_output=True,
                text=True,
                check=False,
            )
        if run.stdout:
            self.stdout.write(run.stdout.rstrip())
        if run.returncode != 0:
            lines = [line for line in run.stderr.strip().splitlines() if line.strip()]
            detail = lines[-1] if lines else "no message"
            raise CommandError(ERROR_ANALYSIS_FAILED.format(status=run.returncode, detail=detail))
