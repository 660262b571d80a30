"""A recruit id alone never opens someone else's participation (issue 13, point 1).

The browser that enrolled with a recruit id resumes through its session; any other
browser arriving with the same id gets a page saying the study is open elsewhere, and
writes nothing, until a researcher releases the participation in the admin.
"""

import pytest
from django.test import Client

from survey.models import Participant, Ranking
from survey.services import (
    ERROR_OPEN_ELSEWHERE,
    Recruitment,
    SurveyError,
    participant_start,
)

from .factories import make_study
from .participants import SELECT, SimulatedParticipant

pytestmark = pytest.mark.django_db
QUERY = "?PROLIFIC_PID=60a1b2c3&STUDY_ID=st-9&SESSION_ID=se-1"


def at_first_page(client, study, query=QUERY):
    bot = SimulatedParticipant(client, study, seed=3, query=query)
    bot.start()
    bot.consent()
    bot.profile()
    bot.practice()
    return bot


def test_a_second_browser_with_the_same_recruit_id_gets_a_clear_page_and_no_access():
    study = make_study()
    owner = Client()
    at_first_page(owner, study)
    owner.get(f"/s/{study.public_id}/rank/")  # assigns the first page
    page = Participant.objects.get().pages.get()
    attacker = Client()
    response = attacker.get(f"/s/{study.public_id}/{QUERY}")
    assert response.status_code == 409
    assert str(ERROR_OPEN_ELSEWHERE) in response.content.decode()
    # Neither the GET nor a POST of the start form lets it in.
    assert attacker.post(f"/s/{study.public_id}/", {"PROLIFIC_PID": "60a1b2c3"}).status_code == 409
    assert attacker.get(f"/s/{study.public_id}/rank/")["Location"] == f"/s/{study.public_id}/"
    response = attacker.post(f"/s/{study.public_id}/rank/{page.public_id}/", {"rank-x-1": "1"})
    assert response.status_code == 403
    assert not Ranking.objects.exists()
    assert Participant.objects.count() == 1


def test_the_same_browser_resumes_through_the_same_link():
    study = make_study()
    browser = Client()
    at_first_page(browser, study)
    response = browser.get(f"/s/{study.public_id}/{QUERY}")
    assert response.status_code == 302
    assert response["Location"] == f"/s/{study.public_id}/rank/"
    html = browser.get(f"/s/{study.public_id}/rank/").content.decode()
    assert SELECT.search(html)


def test_a_link_with_someone_elses_id_does_not_switch_the_victims_browser():
    study = make_study()
    at_first_page(Client(), study, "?PROLIFIC_PID=attacker1")
    victim = Client()
    at_first_page(victim, study, "?PROLIFIC_PID=victim1")
    # The attacker makes the victim's browser open a link carrying the attacker's id.
    response = victim.get(f"/s/{study.public_id}/?PROLIFIC_PID=attacker1")
    assert response.status_code == 409
    own = Participant.objects.get(recruit_id="victim1")
    assert victim.session[f"survey:{study.slug}"] == own.token


def test_the_researcher_releases_a_participant_to_a_new_browser(admin_client):
    study = make_study()
    old = Client()
    at_first_page(old, study)
    participant = Participant.objects.get()
    response = admin_client.post(
        "/admin/survey/participant/",
        {"action": "release_participants", "_selected_action": [participant.pk]},
    )
    assert response.status_code == 302
    assert Participant.objects.get().released_at is not None
    new = Client()
    landing = new.get(f"/s/{study.public_id}/{QUERY}")
    assert landing.status_code == 200 and "Start</button>" in landing.content.decode()
    response = new.post(f"/s/{study.public_id}/", {"PROLIFIC_PID": "60a1b2c3"})
    assert response["Location"] == f"/s/{study.public_id}/rank/"
    # The old browser is logged out, and the release is used up.
    assert old.get(f"/s/{study.public_id}/rank/")["Location"] == f"/s/{study.public_id}/"
    assert Client().get(f"/s/{study.public_id}/{QUERY}").status_code == 409
    assert Participant.objects.count() == 1


def test_the_service_never_hands_out_an_enrolled_recruit_id():
    study = make_study()
    recruitment = Recruitment(source="prolific", recruit_id="p1")
    participant_start(study=study, recruitment=recruitment)
    with pytest.raises(SurveyError) as caught:
        participant_start(study=study, recruitment=recruitment)
    assert caught.value.messages == [str(ERROR_OPEN_ELSEWHERE)]
