"""The participant's pages through the Django test client: steps, resume, errors, security."""

import re
from html import unescape

import pytest
from django.test import Client

from generation.models import ImageSet
from survey.models import Page, Participant, Ranking
from survey.services import (
    ERROR_CONSENT_REQUIRED,
    ERROR_PAGE_NOT_YOURS,
    ERROR_RANK_INCOMPLETE,
    ERROR_RANK_NOT_PERMUTATION,
    ERROR_STUDY_CLOSED,
)
from survey.views import ERROR_RECRUIT_LINK

from .factories import make_study
from .participants import ACTION, SELECT, SimulatedParticipant

pytestmark = pytest.mark.django_db
PROLIFIC_QUERY = "?PROLIFIC_PID=60a1b2c3&STUDY_ID=st-9&SESSION_ID=se-1"


def at_first_page(client, study, query=""):
    bot = SimulatedParticipant(client, study, seed=3, query=query)
    bot.start()
    bot.consent()
    bot.profile()
    bot.practice()
    return bot


def test_the_front_page_leads_to_the_only_open_study(client):
    study = make_study()
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == f"/s/{study.public_id}/"


def test_the_front_page_says_so_when_no_study_is_open(client):
    response = client.get("/")
    assert response.status_code == 200
    assert "No study is open" in response.content.decode()


def test_visiting_the_landing_page_writes_nothing(client):
    study = make_study()
    client.get(f"/s/{study.public_id}/{PROLIFIC_QUERY}")
    assert not Participant.objects.exists()


def test_prolific_ids_are_stored_and_the_same_link_resumes(client):
    study = make_study()
    bot = at_first_page(client, study, PROLIFIC_QUERY)
    participant = Participant.objects.get()
    assert (participant.recruit_source, participant.recruit_id) == ("prolific", "60a1b2c3")
    assert (participant.recruit_study_id, participant.recruit_session_id) == ("st-9", "se-1")
    # The same browser through the same link lands on the next unanswered page; another
    # browser does not (tests/survey/test_takeover.py).
    response = client.get(f"/s/{study.public_id}/{PROLIFIC_QUERY}")
    assert response.status_code == 302 and response["Location"] == f"/s/{study.public_id}/rank/"
    assert client.get(f"/s/{study.public_id}/rank/").status_code == 200
    assert Client().get(f"/s/{study.public_id}/{PROLIFIC_QUERY}").status_code == 409
    assert Participant.objects.count() == 1
    assert bot.submitted == []


def test_mturk_ids_are_stored_and_a_preview_cannot_start(client):
    study = make_study()
    preview = client.get(f"/s/{study.public_id}/?assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE&hitId=h1")
    assert "This is a preview" in preview.content.decode()
    assert '<button type="submit" class="primary">' not in preview.content.decode()
    at_first_page(client, study, "?workerId=A1B2C3&hitId=h1&assignmentId=as1")
    participant = Participant.objects.get()
    assert (participant.recruit_source, participant.recruit_id) == ("mturk", "A1B2C3")
    assert (participant.recruit_study_id, participant.recruit_session_id) == ("h1", "as1")


def test_starting_twice_in_one_browser_enrols_once(client):
    study = make_study()
    client.post(f"/s/{study.public_id}/", {})
    response = client.post(f"/s/{study.public_id}/", {})
    assert response["Location"] == f"/s/{study.public_id}/consent/"
    assert Participant.objects.count() == 1


def test_a_damaged_recruitment_link_is_explained(client):
    study = make_study()
    response = client.get(f"/s/{study.public_id}/?PROLIFIC_PID=%3Cscript%3E")
    assert response.status_code == 400
    assert str(ERROR_RECRUIT_LINK) in response.content.decode()


def test_a_closed_study_says_so_on_its_landing_page(client):
    study = make_study()
    study.is_open = False
    study.save()
    response = client.get(f"/s/{study.public_id}/")
    assert str(ERROR_STUDY_CLOSED) in response.content.decode()
    assert "Start</button>" not in response.content.decode()
    assert client.post(f"/s/{study.public_id}/", {}).status_code == 409
    assert not Participant.objects.exists()


def test_steps_cannot_be_skipped(client):
    study = make_study()
    bot = SimulatedParticipant(client, study)
    bot.start()
    for step in ("about-you", "practice", "rank", "done"):
        response = client.get(f"/s/{study.public_id}/{step}/")
        assert response["Location"] == f"/s/{study.public_id}/consent/"


def test_pages_without_a_participant_lead_to_the_landing_page(client):
    study = make_study()
    response = client.get(f"/s/{study.public_id}/rank/")
    assert response["Location"] == f"/s/{study.public_id}/"


def test_declining_consent_is_explained_and_stores_nothing(client):
    study = make_study()
    SimulatedParticipant(client, study).start()
    response = client.post(f"/s/{study.public_id}/consent/", {})
    assert response.status_code == 400
    assert str(ERROR_CONSENT_REQUIRED) in response.content.decode()
    assert Participant.objects.get().consent_at is None


def test_choosing_a_country_switches_to_its_language(client):
    study = make_study()
    bot = SimulatedParticipant(client, study, country="CN")
    bot.start()
    bot.consent()
    response = bot.profile()
    assert response.cookies["django_language"].value == "zh-hans"
    page = client.get(f"/s/{study.public_id}/practice/")
    assert '<html lang="zh-hans">' in page.content.decode()


def test_the_participant_can_switch_language(client):
    study = make_study()
    at_first_page(client, study)
    response = client.post("/language/", {"language": "es", "next": f"/s/{study.public_id}/rank/"})
    assert response["Location"] == f"/s/{study.public_id}/rank/"
    assert Participant.objects.get().language == "es"
    assert '<html lang="es">' in client.get(f"/s/{study.public_id}/rank/").content.decode()


def test_switching_language_on_the_landing_page_keeps_the_prolific_ids(client):
    study = make_study()
    html = client.get(f"/s/{study.public_id}/{PROLIFIC_QUERY}").content.decode()
    next_url = re.search(r'name="next" value="([^"]+)"', html)[1]
    response = client.post("/language/", {"language": "ko", "next": unescape(next_url)})
    assert response["Location"] == f"/s/{study.public_id}/{PROLIFIC_QUERY}"


def test_the_language_switch_does_not_redirect_to_other_sites(client):
    response = client.post("/language/", {"language": "es", "next": "https://evil.example/"})
    assert response["Location"] == "/"


def test_a_refresh_shows_the_same_page(client):
    study = make_study()
    at_first_page(client, study)
    first = ACTION.search(client.get(f"/s/{study.public_id}/rank/").content.decode())[1]
    again = ACTION.search(client.get(f"/s/{study.public_id}/rank/").content.decode())[1]
    assert first == again
    assert Page.objects.count() == 1


def test_every_rank_control_has_a_label(client):
    study = make_study()
    at_first_page(client, study)
    html = client.get(f"/s/{study.public_id}/rank/").content.decode()
    ids = [field_id for field_id, _name in SELECT.findall(html)]
    assert len(ids) == 16
    for field_id in ids:
        assert f'<label for="{field_id}">' in html
    assert all(alt for alt in re.findall(r'<img src="[^"]+" alt="([^"]*)"', html))


def answers(html, order=(1, 2, 3, 4)):
    data = {}
    for _id, name in SELECT.findall(html):
        position = int(name.rsplit("-", 1)[1])
        data[name] = str(order[position - 1])
    for name in set(re.findall(r'name="(attention-[\w-]+)"', html)):
        data[name] = {"attention-colour": "purple", "attention-number": "7"}[name]
    return data


def test_an_incomplete_ranking_is_explained_keeps_the_answers_and_stores_nothing(client):
    study = make_study()
    at_first_page(client, study)
    html = client.get(f"/s/{study.public_id}/rank/").content.decode()
    data = answers(html, order=(2, 1, 4, 3))
    data.pop("rank-culture-3")
    data["rank-offensiveness-1"] = "3"
    response = client.post(ACTION.search(html)[1], data)
    body = response.content.decode()
    assert response.status_code == 400
    assert str(ERROR_RANK_INCOMPLETE % {"number": 2}) in body
    assert str(ERROR_RANK_NOT_PERMUTATION % {"number": 4, "count": 4}) in body
    assert '<option value="2" selected>2</option>' in body
    assert not Ranking.objects.exists()


def test_a_double_submit_stores_once_and_moves_on(client):
    study = make_study()
    at_first_page(client, study)
    html = client.get(f"/s/{study.public_id}/rank/").content.decode()
    action, data = ACTION.search(html)[1], answers(html)
    first = client.post(action, data)
    second = client.post(action, answers(html, order=(4, 3, 2, 1)))
    assert first.status_code == second.status_code == 302
    assert Ranking.objects.count() == 16
    assert set(Ranking.objects.filter(page_image__position=1).values_list("rank", flat=True)) == {1}


def test_another_participants_page_is_refused_and_nothing_is_stored(client):
    study = make_study()
    owner = at_first_page(client, study)
    html = owner.client.get(f"/s/{study.public_id}/rank/").content.decode()
    intruder = Client()
    at_first_page(intruder, study)
    response = intruder.post(ACTION.search(html)[1], answers(html))
    assert response.status_code == 404
    assert str(ERROR_PAGE_NOT_YOURS) in response.content.decode()
    assert not Ranking.objects.exists()


def test_another_participants_images_are_not_served(client):
    study = make_study()
    owner = at_first_page(client, study)
    html = owner.client.get(f"/s/{study.public_id}/rank/").content.decode()
    src = re.search(r'<img src="([^"]+)"', html)[1]
    intruder = Client()
    at_first_page(intruder, study)
    assert intruder.get(src).status_code == 404
    assert Client().get(src).status_code == 404  # no viewer cookie: the link opens nothing
    assert owner.client.get(src).status_code == 200


def test_the_last_page_sends_prolific_arrivals_back_with_the_code(client):
    study = make_study(pages=2, completion_code="C1A2B3")
    bot = SimulatedParticipant(client, study, query=PROLIFIC_QUERY)
    final = bot.take_study(fetch_images=False)
    assert final["Location"] == "https://app.prolific.com/submissions/complete?cc=C1A2B3"
    done = client.get(f"/s/{study.public_id}/done/").content.decode()
    assert "C1A2B3" in done


def test_a_direct_participant_sees_the_completion_code(client):
    study = make_study(pages=2, completion_code="C1A2B3")
    final = SimulatedParticipant(client, study).take_study(fetch_images=False)
    assert final["Location"] == f"/s/{study.public_id}/done/"
    done = client.get(final["Location"]).content.decode()
    assert 'id="completion-code">C1A2B3<' in done
    # Coming back after the end shows the code again; nothing restarts.
    assert client.get(f"/s/{study.public_id}/")["Location"] == f"/s/{study.public_id}/done/"


def test_every_form_needs_the_csrf_token():
    study = make_study()
    strict = Client(enforce_csrf_checks=True)
    assert strict.post(f"/s/{study.public_id}/", {}).status_code == 403
    assert strict.post("/language/", {"language": "es"}).status_code == 403
    assert not Participant.objects.exists()


def test_participant_pages_keep_the_referrer_and_are_not_cached(client):
    study = make_study()
    bot = at_first_page(client, study)
    response = client.get(f"/s/{study.public_id}/rank/")
    assert response["Referrer-Policy"] == "same-origin"
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    token = Participant.objects.get().token
    for url, answer in bot.responses:
        assert token not in url
        assert token not in answer.content.decode(errors="replace")
        assert token not in answer.get("Location", "")


def test_withdrawn_image_sets_end_the_study_early_instead_of_looping(client):
    study = make_study(sets_per_country=3, pages=3)
    at_first_page(client, study)
    html = client.get(f"/s/{study.public_id}/rank/").content.decode()
    client.post(ACTION.search(html)[1], answers(html))
    # The researcher withdraws the country's sets nobody has seen yet.
    shown = Page.objects.values_list("image_set_id", flat=True)
    ImageSet.objects.filter(study_slug=study.slug, country_code="NG").exclude(pk__in=shown).delete()
    response = client.get(f"/s/{study.public_id}/rank/")
    assert response["Location"] == f"/s/{study.public_id}/done/"
    assert client.get(response["Location"]).status_code == 200
    assert Participant.objects.get().completed_at is not None
