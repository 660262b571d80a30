"""Schemathesis against the researcher API's OpenAPI schema: no input may cause a 5xx.

The schema comes from drf-spectacular without a request; the calls go to the Django
WSGI application in-process, authenticated with a staff token. Half the cases aim at
the real study and participant so the fuzzed queries and bodies reach the code behind
the 404s.
"""

import json
import zlib

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token

from .answered import answer_pages, recruit
from .factories import make_study

# Fuzzed cases per API operation: enough to find a crash, small enough to stay fast.
EXAMPLES = 12

schema = schemathesis.openapi.from_dict(
    json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True), default=str))
)
schema.app = get_wsgi_application()


@pytest.fixture
def connections_kept_open():
    """Keep the test's database connection across WSGI calls, as Django's test client does.

    A real request closes old connections when it ends; inside a test that would close
    the connection holding the test's transaction (PostgreSQL).
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def staff_token(django_user_model):
    user = django_user_model.objects.create_superuser("fuzz", "f@example.org", "pw")
    return Token.objects.create(user=user).key


@pytest.fixture
def real_objects(ready_participant):
    study = make_study(sets_per_country=2, pages=2, answers=1, slug="fuzzed")
    participant = answer_pages(ready_participant(study, "CN", recruit(1)))
    return {"slug": study.slug, "participant_id": participant.public_id}


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_request_to_the_api_causes_a_server_error(
    case, connections_kept_open, staff_token, real_objects
):
    cache.clear()  # throttling must not hide the endpoints from the fuzzer
    if (
        case.path_parameters
        and zlib.crc32(json.dumps(case.path_parameters, sort_keys=True).encode()) % 2
    ):
        for name, value in real_objects.items():
            if name in case.path_parameters:
                case.path_parameters[name] = value
    response = case.call(headers={"Authorization": f"Token {staff_token}"})
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:500])
