"""The project's foundation: settings per environment, migrations, the web process."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db.utils import ConnectionHandler

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "DJANGO_SECRET_KEY": "a-production-secret-that-is-long-enough-and-random-0123456789abcdef",
    "DJANGO_ALLOWED_HOSTS": "study.example.org",
    # Production needs a shared cache; nothing connects to it in these checks.
    "CACHE_URL": "redis://127.0.0.1:6379/12",
}


def clean_environment(**env: str) -> dict[str, str]:
    """This process's environment without Django or service settings, plus `env`.

    Other test modules may set Django variables (DJANGO_ALLOW_ASYNC_UNSAFE for the browser
    test); a subprocess that checks the deployment must not inherit them.
    """
    prefixes = ("DJANGO_", "DATABASE_URL", "CACHE_URL", "AXES_", "GUNICORN_")
    base = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    return {**base, **env}


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=clean_environment(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.django_db
def test_every_model_change_has_a_migration():
    # makemigrations --check exits non-zero when a model differs from its migrations.
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_production_settings_pass_the_deployment_check():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=clean_environment(**PRODUCTION_ENV),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_refuses_to_start_without_a_secret_key():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "DJANGO_SECRET_KEY"}
    result = run_python("import django; django.setup()", **env)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_the_web_process_starts_without_the_ml_stack():
    code = (
        "import sys, django; django.setup();"
        "from django.contrib import admin; admin.autodiscover();"
        "import config.urls, config.wsgi;"
        "from django.urls import get_resolver; get_resolver().url_patterns;"
        "heavy = ('torch', 'diffusers', 'transformers', 'scoft_core');"
        "print(','.join(sorted(m for m in heavy if m in sys.modules)))"
    )
    result = run_python(code, **PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path, django_db_blocker):
    config = {**settings.SQLITE_DEFAULT, "NAME": str(tmp_path / "study.sqlite3")}
    connection = ConnectionHandler({"default": config})["default"]
    try:
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode")
            assert cursor.fetchone()[0] == "wal"
            cursor.execute("PRAGMA busy_timeout")
            assert cursor.fetchone()[0] == 20_000
    finally:
        connection.close()


def test_database_url_selects_postgresql_and_cache_url_selects_redis():
    code = (
        "from config.settings import base;"
        "print(base.DATABASES['default']['ENGINE']);"
        "print(base.CACHES['default']['BACKEND'])"
    )
    result = run_python(
        code,
        DATABASE_URL="postgres://study:secret@db.internal:5432/scoft",
        CACHE_URL="redis://127.0.0.1:6379/1",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.postgresql",
        "django_redis.cache.RedisCache",
    ]


def test_without_urls_the_defaults_are_sqlite_and_local_memory():
    code = (
        "from config.settings import base;"
        "print(base.DATABASES['default']['ENGINE']);"
        "print(base.CACHES['default']['BACKEND'])"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.sqlite3",
        "django.core.cache.backends.locmem.LocMemCache",
    ]
