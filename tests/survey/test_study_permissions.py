"""Per-study permissions (issue 13, point 7): admin, API and exports follow memberships;
changing a participant needs the right to see their study; the admin's study form
checks unblinding words and the completion URL."""

import json

import pytest
from django.contrib.admin.sites import site
from django.contrib.auth.models import Permission, User
from django.core.cache import cache
from django.core.exceptions import ValidationError
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from generation.models import ModelVariant
from study.spec import NAMES_VARIANT
from survey.admin import StudyAdmin
from survey.models import Participant, Study, StudyMembership
from survey.services import participant_exclude

from .answered import answer_pages, recruit
from .factories import make_study

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_throttles():
    cache.clear()


@pytest.fixture
def two_studies(ready_participant):
    first = make_study(slug="first", sets_per_country=2, pages=1, answers=1)
    second = make_study(slug="second", sets_per_country=2, pages=1, answers=1)
    for number, study in enumerate((first, second)):
        answer_pages(ready_participant(study, "CN", recruit(number)))
    return first, second


def member_of(study, *, can_change=True, username="member") -> User:
    user = User.objects.create_user(username, password="pw", is_staff=True)
    StudyMembership.objects.create(study=study, user=user, can_change_participants=can_change)
    return user


def api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_a_member_sees_and_exports_only_their_study_through_the_api(two_studies):
    first, second = two_studies
    client = api(member_of(first))
    assert [s["slug"] for s in client.get("/api/studies/").json()] == ["first"]
    assert client.get("/api/studies/first/export/csv/").status_code == 200
    for url in ("/api/studies/second/", "/api/studies/second/export/csv/"):
        assert client.get(url).status_code == 403
    other = Participant.objects.get(study=second)
    url = f"/api/studies/second/participants/{other.public_id}/exclude/"
    assert client.post(url, {"reason": "no"}).status_code == 404
    assert not Participant.objects.get(pk=other.pk).excluded
    own = Participant.objects.get(study=first)
    url = f"/api/studies/first/participants/{own.public_id}/exclude/"
    assert client.post(url, {"reason": "speeding"}).status_code == 200


def test_a_member_without_the_change_right_cannot_exclude(two_studies):
    first, _second = two_studies
    client = api(member_of(first, can_change=False))
    own = Participant.objects.get(study=first)
    url = f"/api/studies/first/participants/{own.public_id}/exclude/"
    assert client.post(url, {"reason": "speeding"}).status_code == 403


def test_change_participant_alone_cannot_exclude_in_studies_one_cannot_view(two_studies):
    user = User.objects.create_user("changer", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="change_participant"))
    participant = Participant.objects.get(study__slug="second")
    url = f"/api/studies/second/participants/{participant.public_id}/exclude/"
    assert api(user).post(url, {"reason": "no"}).status_code == 404
    assert not Participant.objects.get(pk=participant.pk).excluded


def test_a_member_sees_only_their_study_in_the_admin(client, two_studies):
    first, second = two_studies
    client.force_login(member_of(first))
    assert client.get("/admin/survey/study/").status_code == 200
    listing = client.get("/admin/survey/participant/").content.decode()
    assert Participant.objects.get(study=first).public_id in listing
    assert Participant.objects.get(study=second).public_id not in listing
    assert client.get(f"/admin/survey/study/{first.pk}/export/csv/").status_code == 200
    assert client.get(f"/admin/survey/study/{second.pk}/export/csv/").status_code == 404
    assert client.get(f"/admin/survey/study/{second.pk}/progress/").status_code == 404
    other = Participant.objects.get(study=second)
    participant_exclude(participant=other, reason="a researcher of that study decided")
    client.post(
        "/admin/survey/participant/",
        {"action": "include_participants", "_selected_action": [other.pk]},
    )
    assert Participant.objects.get(pk=other.pk).excluded  # not one of theirs: untouched
    # Another study's participant is as if it did not exist (the admin redirects home).
    assert client.get(f"/admin/survey/participant/{other.pk}/change/").status_code == 302


def study_form(study, **changes):
    request = type("Request", (), {"user": User(is_superuser=True, is_active=True)})()
    form_class = StudyAdmin(Study, site).get_form(request, study)
    data = {
        "slug": study.slug,
        "title": study.title,
        "consent_text": study.consent_text,
        "instructions": study.instructions,
        "attention_checks": study.attention_checks,
        "seconds_per_page": study.seconds_per_page,
        "translations": json.dumps(study.translations),
        "pages_per_participant": study.pages_per_participant,
        "answers_per_image_set": study.answers_per_image_set,
        "completion_code": study.completion_code,
        "recruitment_platform": study.recruitment_platform,
        "completion_url": study.completion_url,
        "is_open": "on",
        **changes,
    }
    return form_class(data=data, instance=study)


@pytest.mark.parametrize(
    ("title", "word"),
    [
        ("How well do SCoFT images show your culture?", "SCoFT"),
        ("Pictures from the contrastive model", "contrastive"),
        ("Images from a fine-tuned model", "fine-tuned"),
        ("Our LoRA pictures", "LoRA"),
        ("Stable Diffusion pictures", "Stable Diffusion"),
        ("Made by tiny-sd-v2", "tiny-sd-v2"),
        ("Images from ft-only", "ft-only"),
        ("The finetune pictures", "finetune"),
    ],
)
def test_the_admin_refuses_a_title_that_would_unblind(title, word):
    study = make_study(slug="blind", sets_per_country=1)
    ModelVariant.objects.filter(study_slug="blind").update(base_model="org/tiny-sd-v2")
    form = study_form(study, title=title)
    assert not form.is_valid()
    message = NAMES_VARIANT.format(where="This study", key="title", word=word)
    assert message in form.errors["title"]


def test_the_admin_accepts_a_neutral_title():
    study = make_study(slug="blind", sets_per_country=1)
    assert study_form(study, title="Pictures of everyday life").is_valid()


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "app.prolific.com/submissions/complete", "http://x.org/done"]
)
def test_a_completion_url_must_be_https(url):
    study = make_study(slug="links", sets_per_country=1)
    assert "completion_url" in study_form(study, completion_url=url).errors
    study.completion_url = url
    with pytest.raises(ValidationError):
        study.full_clean()
