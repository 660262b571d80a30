"""Hostile or broken requests to the participant pages: a 4xx, a clear message, no write.

The participant helper's tests cover incomplete rankings and another participant's
page; these add what a fuzzer or an attacker would send instead of a browser.
"""

import pytest
from django.conf import settings
from django.test import Client

from survey.models import Page, Ranking
from survey.services import ERROR_RANK_INCOMPLETE, ERROR_RANK_NOT_PERMUTATION, ERROR_RANK_UNKNOWN
from survey.views import ERROR_SESSION_LOST

from .factories import COUNTRIES, make_study
from .participants import ACTION, SELECT, SimulatedParticipant

pytestmark = pytest.mark.django_db
NIGERIA = next(country for country in COUNTRIES if country.code == "NG")


@pytest.fixture
def first_page(client):
    """(client, form action, a valid answer) for a participant on their first page."""
    study = make_study(countries=[NIGERIA], sets_per_country=3, pages=2, answers=1)
    # Nigeria's pages are in English, the language of the messages asserted on.
    bot = SimulatedParticipant(client, study, seed=5, country="NG")
    bot.start()
    bot.consent()
    bot.profile()
    bot.practice()
    html = client.get(f"/s/{study.public_id}/rank/").content.decode()
    data = {name: name.rsplit("-", 1)[1] for _id, name in SELECT.findall(html)}
    return client, ACTION.search(html)[1], data


def nothing_stored():
    return not Ranking.objects.exists() and not Page.objects.filter(submitted_at__isnull=False)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rank-culture-1": "abc"}, ERROR_RANK_INCOMPLETE % {"number": 2}),
        ({"rank-culture-1": "99"}, ERROR_RANK_NOT_PERMUTATION % {"number": 2, "count": 4}),
        ({"rank-culture-1": "-1"}, ERROR_RANK_INCOMPLETE % {"number": 2}),
        ({"rank-culture-1": "1" * 40}, ERROR_RANK_INCOMPLETE % {"number": 2}),
        ({"rank-culture-9": "1"}, ERROR_RANK_UNKNOWN),
        ({"rank-bogus-1": "1"}, ERROR_RANK_UNKNOWN),
    ],
)
def test_a_malformed_ranking_is_refused_with_a_message_and_nothing_is_stored(
    first_page, change, message
):
    client, action, data = first_page
    response = client.post(action, {**data, **change})
    assert response.status_code == 400
    assert str(message) in response.content.decode()
    assert nothing_stored()


def test_an_oversized_body_is_refused_and_nothing_is_stored(first_page):
    client, action, data = first_page
    padding = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    response = client.post(action, {**data, "page_ms": "1000", "padding": padding})
    assert response.status_code == 400
    assert "too large or malformed, so nothing was saved" in response.content.decode()
    assert nothing_stored()


def test_a_tampered_csrf_token_is_refused_and_nothing_is_stored(first_page):
    client, action, data = first_page
    strict = Client(enforce_csrf_checks=True)
    strict.cookies = client.cookies
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    response = strict.post(action, {**data, "csrfmiddlewaretoken": forged})
    assert response.status_code == 403
    assert "CSRF" in response.content.decode()
    assert nothing_stored()


def test_a_tampered_session_cookie_is_refused_and_nothing_is_stored(first_page):
    client, action, data = first_page
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    client.cookies[settings.SESSION_COOKIE_NAME] = session[:-1] + (
        "a" if session[-1] != "a" else "b"
    )
    response = client.post(action, data)
    assert response.status_code == 403
    assert str(ERROR_SESSION_LOST) in response.content.decode()
    assert nothing_stored()
