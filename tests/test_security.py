"""The site's own defences (issue 13): error reports, debug, lockouts, throttles, health.

Participant-facing attacks are in tests/survey (test_takeover, test_hostile_input,
test_study_permissions); the live replay of every attack against gunicorn is
benchmarks/attack_replay.py.
"""

import sys

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import RequestFactory, override_settings
from django.views.debug import ExceptionReporter
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from config.middleware import ERROR_DEBUG_REMOTE
from config.reporting import hide_url_credentials
from demo.server import server_environment
from survey.authentication import ERROR_TOO_MANY_TOKEN_FAILURES
from tests.test_foundation import PRODUCTION_ENV, run_python


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()


def error_page(**meta) -> str:
    """The debug page of an error raised where a participant's token is a local variable."""
    request = RequestFactory().get("/s/x/rank/", **meta)
    # Built at run time, so the page's source excerpt cannot show it, only the variables.
    token = "-".join(["participant", "token", "0123456789"])  # noqa: F841
    try:
        raise ValueError("boom")
    except ValueError:
        reporter = ExceptionReporter(request, *sys.exc_info())
        return reporter.get_traceback_html()


@override_settings(DEBUG=True)
def test_the_error_page_hides_passwords_in_urls_and_tokens():
    html = error_page(
        DATABASE_URL="postgres://scoft:db-password-42@db.internal:5432/scoft",
        CACHE_URL="redis://:cache-password-43@127.0.0.1:6379/1",
        SENTRY_DSN_URL="https://key-44@sentry.example.org/1",
    )
    for secret in ("db-password-42", "cache-password-43", "key-44", "participant-token-0123456789"):
        assert secret not in html
    assert "db.internal:5432/scoft" in html  # the rest of the URL stays readable


def test_url_credentials_are_replaced_and_the_rest_kept():
    assert hide_url_credentials("postgres://u:p@h/db") == "postgres://********************@h/db"
    assert hide_url_credentials("https://example.org/a@b") == "https://example.org/a@b"


def test_the_demo_serves_with_debug_off():
    assert server_environment()["DJANGO_DEBUG"] == "false"


@override_settings(DEBUG=True)
def test_with_debug_on_only_this_machine_is_answered(client):
    response = client.get("/healthz/", REMOTE_ADDR="192.0.2.10")
    assert response.status_code == 403
    assert ERROR_DEBUG_REMOTE in response.content.decode()
    assert client.get("/healthz/", REMOTE_ADDR="127.0.0.1").status_code == 200


@pytest.mark.django_db
def test_the_api_login_page_works(client):
    response = client.get("/api/auth/login/")
    assert response.status_code == 200
    assert 'name="username"' in response.content.decode()


@pytest.mark.django_db
def test_admin_logins_are_locked_after_the_configured_failures(client, settings):
    settings.AXES_ENABLED = True
    User.objects.create_superuser("researcher", "r@example.org", "right-password")
    statuses = [
        client.post("/admin/login/", {"username": "researcher", "password": "wrong"}).status_code
        for _ in range(settings.AXES_FAILURE_LIMIT)
    ]
    # The form again with its error, until the last allowed failure locks the account.
    assert statuses == [200] * (settings.AXES_FAILURE_LIMIT - 1) + [429]
    response = client.post(
        "/admin/login/", {"username": "researcher", "password": "right-password", "next": "/admin/"}
    )
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_a_correct_login_below_the_limit_goes_through(client, settings):
    settings.AXES_ENABLED = True
    User.objects.create_superuser("researcher", "r@example.org", "right-password")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        client.post("/admin/login/", {"username": "researcher", "password": "wrong"})
    response = client.post(
        "/admin/login/", {"username": "researcher", "password": "right-password", "next": "/admin/"}
    )
    assert response.status_code == 302


@pytest.mark.django_db
def test_wrong_api_tokens_are_throttled_then_even_the_right_one_waits(settings):
    user = User.objects.create_superuser("researcher", "r@example.org", "pw")
    right = Token.objects.create(user=user).key
    client = APIClient()
    limit = int(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["token-failures"].split("/")[0])
    statuses = []
    for number in range(limit + 5):
        client.credentials(HTTP_AUTHORIZATION=f"Token wrong{number:036d}")
        statuses.append(client.get("/api/studies/").status_code)
    assert statuses == [401] * limit + [429] * 5
    client.credentials(HTTP_AUTHORIZATION=f"Token {right}")
    response = client.get("/api/studies/")
    assert response.status_code == 429
    assert response.json()["detail"].startswith(ERROR_TOO_MANY_TOKEN_FAILURES.split("{")[0])
    # Another address is not affected.
    assert client.get("/api/studies/", REMOTE_ADDR="127.0.0.2").status_code == 200


def test_production_refuses_to_start_without_a_shared_cache():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "CACHE_URL"}
    result = run_python("import django; django.setup()", **env)
    assert result.returncode != 0
    assert "CACHE_URL" in result.stderr


def test_production_answers_the_health_check_over_plain_http():
    code = (
        "import django; django.setup();"
        "from django.test import Client;"
        "c = Client(HTTP_HOST='study.example.org');"
        "print(c.get('/healthz/').status_code, c.get('/').status_code)"
    )
    result = run_python(code, **PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    # The health check answers; every other page still goes to HTTPS.
    assert result.stdout.split() == ["200", "301"]


def test_the_gunicorn_config_loads_and_uses_threaded_workers():
    code = (
        "import runpy; c = runpy.run_path('config/gunicorn.conf.py');"
        "print(c['worker_class'], c['wsgi_app'], c['timeout'] >= 30)"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["gthread", "config.wsgi:application", "True"]
    check = run_python(
        "import sys; from gunicorn.app.wsgiapp import run;"
        "sys.argv = ['gunicorn', '--check-config', '-c', 'config/gunicorn.conf.py']; run()",
        **PRODUCTION_ENV,
    )
    assert check.returncode == 0, check.stderr
