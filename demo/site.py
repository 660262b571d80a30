"""The web side of the demo, through Django's own commands: database, image sets,
survey, researcher account, and the report.

`use_demo_settings` points Django at the demo's SQLite database and media folder under
the run's var folder before Django starts; every command below then runs in this
process with `call_command`, exactly as `manage.py <command>` would run it.
"""

from __future__ import annotations

import os
import secrets
import shlex
from pathlib import Path

from demo.plan import PROJECT_DIR, VARIANTS, DemoPlan

RESEARCHER = "researcher"
PASSWORD_ENV = "DEMO_RESEARCHER_PASSWORD"
SIMULATED_MARK = "simulated"
ANALYSIS_FAILED = "The analysis report stopped with status {status}; its message is above."


def use_demo_settings(plan: DemoPlan) -> None:
    """Configure and start Django for the demo (child processes inherit the settings)."""
    plan.var.mkdir(parents=True, exist_ok=True)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    os.environ["SQLITE_PATH"] = str(plan.database)
    os.environ["MEDIA_ROOT"] = str(plan.media)
    os.environ["STATIC_ROOT"] = str(plan.var / "static")
    # The demo is the embedded set-up: its own SQLite file and an in-process cache, even
    # when the environment (or .env) names a PostgreSQL server or Redis.
    os.environ["DATABASE_URL"] = ""
    os.environ["CACHE_URL"] = ""
    import django

    django.setup()


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def image_sets_registered(plan: DemoPlan) -> int:
    """How many of the demo study's image sets are in the database."""
    from generation.models import ImageSet

    return ImageSet.objects.filter(study_slug=plan.study_slug).count()


def generate_image_sets(plan: DemoPlan, spec: Path, say=print) -> None:
    from django.core.management import call_command

    say(f"$ python manage.py generate_batch {spec}")
    options = {} if plan.progress else {"no_progress": True}
    call_command("generate_batch", str(spec), **options)


def setup_study(spec: Path, say=print):
    """Create or update the study from the spec; returns the Study."""
    from django.core.management import call_command

    from study.spec import Purpose, load_spec
    from survey.models import Study

    say(f"$ python manage.py setup_study {spec}")
    call_command("setup_study", str(spec), verbosity=0, stdout=open(os.devnull, "w"))  # noqa: SIM115
    return Study.objects.get(slug=load_spec(spec, purpose=Purpose.SURVEY).slug)


def participant_link(study) -> str:
    from django.urls import reverse

    return reverse("survey:study", kwargs={"study_id": study.public_id})


def researcher_account(plan: DemoPlan) -> tuple[str, str]:
    """The demo's staff account (username, password), created on the first run.

    The password comes from DEMO_RESEARCHER_PASSWORD when set; otherwise one is made
    up and kept in var/researcher-password.txt (readable by its owner only), so later
    runs print the same one.
    """
    from django.contrib.auth import get_user_model

    users = get_user_model()
    password = os.environ.get(PASSWORD_ENV, "")
    stored = plan.password_file.read_text().strip() if plan.password_file.is_file() else ""
    user = users.objects.filter(username=RESEARCHER).first()
    if user is not None and not password and stored and user.check_password(stored):
        return RESEARCHER, stored
    password = password or stored or secrets.token_urlsafe(12)
    if user is None:
        users.objects.create_superuser(RESEARCHER, email="", password=password)
    else:
        user.set_password(password)
        user.is_staff = user.is_superuser = True
        user.save()
    if not os.environ.get(PASSWORD_ENV):
        plan.password_file.parent.mkdir(parents=True, exist_ok=True)
        staging = plan.password_file.with_suffix(".partial")
        staging.write_text(password + "\n")
        staging.chmod(0o600)
        staging.replace(plan.password_file)
    return RESEARCHER, password


def mark_simulated(plan: DemoPlan, prefix: str) -> int:
    """Tag the simulated participants' demographics with simulated = true.

    They are recognisable by their recruitment id already; the tag puts it in the
    participant record too, where the admin shows it. Returns how many are tagged.
    """
    from survey.models import Participant

    tagged = 0
    for participant in Participant.objects.filter(
        study__slug=plan.study_slug, recruit_id__startswith=prefix
    ):
        if participant.demographics.get(SIMULATED_MARK) is not True:
            participant.demographics = {**participant.demographics, SIMULATED_MARK: True}
            participant.save(update_fields=["demographics"])
        tagged += 1
    return tagged


def analyze(plan: DemoPlan, say=print) -> Path:
    """Export the rankings (manage.py export_rankings), then write the analysis report
    (python -m analysis report, in its own process) with the variants in display order
    and the published headline: the full model against the pretrained one."""
    import subprocess
    import sys

    from django.core.management import call_command
    from django.core.management.base import CommandError

    export = plan.demo_dir / "rankings.parquet"
    say(f"$ python manage.py export_rankings {plan.study_slug} --format parquet --out {export}")
    call_command(
        "export_rankings", plan.study_slug, file_format="parquet", out=str(export), verbosity=0
    )
    order = [key for key, _label, _adapter in VARIANTS]
    argv = ["report", str(export), "--out", str(plan.report_dir),
            "--variant-order", ",".join(order), "--headline", f"{order[-1]}:{order[0]}",
            "--bootstrap", str(plan.bootstrap)]  # fmt: skip
    say("$ python -m analysis " + shlex.join(argv))
    run = subprocess.run(
        [sys.executable, "-m", "analysis", *argv], cwd=PROJECT_DIR, check=False, text=True
    )
    if run.returncode != 0:
        raise CommandError(ANALYSIS_FAILED.format(status=run.returncode))
    return plan.report_dir
