"""The researcher API: staff only, per-object permissions, throttling, CSRF, exclusion."""

import csv
import io

import pyarrow.parquet as pq
import pytest
from django.contrib.auth.models import Permission, User
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from survey.apis import ERROR_EXCLUDED_FILTER, ExportThrottle, ResearcherThrottle
from survey.models import Participant, Ranking

from .answered import answer_pages, china_and_india, recruit
from .factories import make_study

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_throttles():
    cache.clear()


@pytest.fixture
def study():
    return china_and_india(sets_per_country=3, pages=3, answers=2)


@pytest.fixture
def participant(study, ready_participant):
    return answer_pages(ready_participant(study, "CN", recruit(1)))


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def researcher():
    return token_client(User.objects.create_superuser("researcher", "r@example.org", "pw"))


def staff_with(*codenames) -> APIClient:
    user = User.objects.create_user(f"staff{len(codenames)}", password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return token_client(user)


def endpoints(study, participant):
    base = f"/api/studies/{study.slug}/"
    person = f"{base}participants/{participant.public_id}/"
    return [
        ("get", "/api/studies/"),
        ("get", base),
        ("get", base + "progress/"),
        ("get", base + "export/csv/"),
        ("get", base + "export/parquet/"),
        ("get", base + "participants/"),
        ("post", person + "exclude/"),
        ("post", person + "include/"),
        ("get", "/api/schema/"),
        ("get", "/api/docs/"),
    ]


def test_anonymous_users_get_401_or_403_from_every_researcher_endpoint(study, participant):
    client = APIClient()
    for method, url in endpoints(study, participant):
        response = getattr(client, method)(url, {"reason": "x"} if method == "post" else None)
        assert response.status_code in (401, 403), (url, response.status_code)
    assert not Participant.objects.get(pk=participant.pk).excluded


def test_a_logged_in_participant_account_without_staff_status_is_refused(study, participant):
    client = token_client(User.objects.create_user("volunteer", password="pw"))
    for method, url in endpoints(study, participant):
        assert getattr(client, method)(url).status_code == 403, url


def test_a_tampered_api_token_is_refused_with_a_clear_message(study, participant, researcher):
    token = Token.objects.get().key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token[:-1]}{'a' if token[-1] != 'a' else 'b'}")
    url = f"/api/studies/{study.slug}/participants/{participant.public_id}/exclude/"
    response = client.post(url, {"reason": "forged"}, format="json")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}
    assert not Participant.objects.get(pk=participant.pk).excluded


def test_staff_see_studies_with_their_countries_and_items(researcher, study):
    body = researcher.get("/api/studies/").json()
    assert [s["slug"] for s in body] == [study.slug]
    assert [c["code"] for c in body[0]["countries"]] == ["CN", "IN"]
    assert len(body[0]["items"]) == 4
    assert body[0]["participant_url"] == f"/s/{study.public_id}/"
    assert researcher.get("/api/studies/nope/").status_code == 404


def test_each_operation_needs_its_permission_on_the_object(study, participant):
    nothing = staff_with()
    assert nothing.get(f"/api/studies/{study.slug}/").status_code == 403
    assert nothing.get("/api/studies/").json() == []
    viewer = staff_with("view_study")
    assert viewer.get(f"/api/studies/{study.slug}/progress/").status_code == 200
    url = f"/api/studies/{study.slug}/participants/{participant.public_id}/exclude/"
    assert viewer.post(url, {"reason": "too fast"}).status_code == 403
    assert not Participant.objects.get(pk=participant.pk).excluded
    editor = staff_with("view_study", "change_participant")
    assert editor.post(url, {"reason": "too fast"}).status_code == 200


def test_excluding_keeps_the_answers_and_flags_them_in_the_export(researcher, study, participant):
    rankings = Ranking.objects.count()
    url = f"/api/studies/{study.slug}/participants/{participant.public_id}/"
    response = researcher.post(url + "exclude/", {"reason": " straight-lining "}, format="json")
    assert response.status_code == 200
    assert response.json()["excluded"] is True
    assert response.json()["exclusion_reason"] == "straight-lining"
    assert Ranking.objects.count() == rankings
    rows = list(csv.DictReader(io.StringIO(export_bytes(researcher, study, "csv").decode())))
    assert {(r["excluded"], r["exclusion_reason"]) for r in rows} == {("true", "straight-lining")}
    back = researcher.post(url + "include/").json()
    assert (back["excluded"], back["exclusion_reason"], back["pages_answered"]) == (False, "", 3)


def test_an_exclusion_without_a_reason_is_refused_and_writes_nothing(
    researcher, study, participant
):
    url = f"/api/studies/{study.slug}/participants/{participant.public_id}/exclude/"
    for body in ({}, {"reason": "   "}, {"reason": "x" * 2001}):
        response = researcher.post(url, body, format="json")
        assert response.status_code == 400
        assert "reason" in response.json()
    assert not Participant.objects.get(pk=participant.pk).excluded


def test_a_participant_of_another_study_is_not_found_through_this_study(
    researcher, study, participant
):
    other = make_study(slug="other", sets_per_country=1)
    url = f"/api/studies/{other.slug}/participants/{participant.public_id}/exclude/"
    assert researcher.post(url, {"reason": "x"}).status_code == 404
    assert not Participant.objects.get(pk=participant.pk).excluded


def test_participants_are_listed_with_filters(researcher, study, participant, ready_participant):
    ready_participant(study, "IN", recruit(2))
    base = f"/api/studies/{study.slug}/participants/"
    body = researcher.get(base).json()
    assert body["count"] == 2
    assert body["results"][0]["participant"] == participant.public_id
    assert body["results"][0]["pages_answered"] == 3
    assert "token" not in body["results"][0]
    assert researcher.get(base, {"country": "IN"}).json()["count"] == 1
    assert researcher.get(base, {"excluded": "true"}).json()["count"] == 0
    wrong = researcher.get(base, {"excluded": "maybe"})
    assert (wrong.status_code, wrong.json()) == (400, {"excluded": [ERROR_EXCLUDED_FILTER]})


def test_progress_reports_participants_and_answers(researcher, study, participant):
    body = researcher.get(f"/api/studies/{study.slug}/progress/").json()
    assert (body["started"], body["completed"], body["answers"]) == (1, 1, 3)
    assert body["answers_wanted"] == 6 * 2
    cn = next(c for c in body["countries"] if c["code"] == "CN")
    assert (cn["pages_answered"], cn["median_page_ms"]) == (3, 12_000)
    assert len(body["image_sets"]) == 6


def export_bytes(client, study, file_format) -> bytes:
    response = client.get(f"/api/studies/{study.slug}/export/{file_format}/")
    assert response.status_code == 200 and response.streaming
    name = f"{study.slug}-rankings.{file_format}"
    assert response["Content-Disposition"] == f'attachment; filename="{name}"'
    return b"".join(response.streaming_content)


def test_the_export_downloads_as_csv_and_parquet(researcher, study, participant):
    assert len(export_bytes(researcher, study, "csv").splitlines()) == 1 + 48
    assert pq.read_table(io.BytesIO(export_bytes(researcher, study, "parquet"))).num_rows == 48
    assert researcher.get(f"/api/studies/{study.slug}/export/xlsx/").status_code == 404


def test_requests_beyond_the_rate_are_throttled(researcher, study, monkeypatch):
    monkeypatch.setattr(ResearcherThrottle, "THROTTLE_RATES", {"researcher": "3/minute"})
    statuses = [researcher.get("/api/studies/").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert "throttled" in researcher.get("/api/studies/").json()["detail"]


def test_exports_have_a_rate_of_their_own(researcher, study, monkeypatch):
    monkeypatch.setattr(ExportThrottle, "THROTTLE_RATES", {"researcher-export": "1/hour"})
    url = f"/api/studies/{study.slug}/export/csv/"
    assert [researcher.get(url).status_code for _ in range(2)] == [200, 429]
    assert researcher.get("/api/studies/").status_code == 200


def test_session_authenticated_changes_need_the_csrf_token(study, participant):
    User.objects.create_superuser("researcher", "r@example.org", "pw")
    client = APIClient(enforce_csrf_checks=True)
    client.login(username="researcher", password="pw")
    assert client.get(f"/api/studies/{study.slug}/").status_code == 200
    url = f"/api/studies/{study.slug}/participants/{participant.public_id}/exclude/"
    response = client.post(url, {"reason": "x"}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert not Participant.objects.get(pk=participant.pk).excluded


def test_the_schema_and_the_docs_page_describe_every_operation(researcher):
    schema = researcher.get("/api/schema/", {"format": "json"}).json()
    assert schema["openapi"].startswith("3.")
    operations = {op["operationId"] for path in schema["paths"].values() for op in path.values()}
    assert {"studies_progress", "studies_export", "participants_exclude"} <= operations
    page = researcher.get("/api/docs/")
    html = page.content.decode()
    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
    assert "/api/studies/{slug}/participants/{participant_id}/exclude/" in html
    assert "https://" not in html  # nothing loaded from elsewhere: works offline


def test_the_health_check_answers_without_touching_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz/")
    assert (response.status_code, response.content) == (200, b"ok\n")
    assert client.post("/healthz/").status_code == 405
