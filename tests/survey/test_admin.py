"""The researcher's admin: staff only, exclusion with a reason, progress, downloads."""

import csv
import io

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from survey.admin import ERROR_REASON_REQUIRED, MESSAGE_EXCLUDED
from survey.models import Participant, Ranking
from survey.progress import study_progress

from .answered import answer_pages, china_and_india, recruit

pytestmark = pytest.mark.django_db


@pytest.fixture
def study():
    return china_and_india(sets_per_country=3, pages=3, answers=2)


@pytest.fixture
def staff(client):
    user = User.objects.create_superuser("researcher", "r@example.org", "pw")
    client.force_login(user)
    return client


def test_the_admin_and_its_study_pages_are_behind_staff_login(client, study):
    urls = [
        reverse("admin:survey_study_changelist"),
        reverse("admin:survey_study_progress", args=[study.pk]),
        reverse("admin:survey_study_export", args=[study.pk, "csv"]),
        reverse("admin:survey_participant_changelist"),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))
    User.objects.create_user("participant", password="pw")
    client.login(username="participant", password="pw")
    assert client.get(urls[1]).status_code == 302


def test_excluding_participants_asks_for_a_reason_and_keeps_their_rankings(
    staff, study, ready_participant
):
    participant = answer_pages(ready_participant(study, "CN", recruit(1)))
    rankings = Ranking.objects.filter(page__participant=participant).count()
    url = reverse("admin:survey_participant_changelist")
    choose = {"action": "exclude_participants", "_selected_action": [participant.pk]}
    form = staff.post(url, choose)
    assert form.status_code == 200
    assert b"Exclude 1 participant(s)" in form.content
    blank = staff.post(url, {**choose, "apply": "1", "reason": "  "})
    assert blank.status_code == 200  # the form again, nothing stored
    assert not Participant.objects.get(pk=participant.pk).excluded
    done = staff.post(url, {**choose, "apply": "1", "reason": "answered in 3 seconds"}, follow=True)
    assert MESSAGE_EXCLUDED.format(count=1) in done.content.decode()
    participant.refresh_from_db()
    assert (participant.excluded, participant.exclusion_reason) == (True, "answered in 3 seconds")
    assert Ranking.objects.filter(page__participant=participant).count() == rankings > 0


def test_including_a_participant_again_clears_the_reason(staff, study, ready_participant):
    participant = ready_participant(study, "CN", recruit(1))
    Participant.objects.filter(pk=participant.pk).update(excluded=True, exclusion_reason="x")
    staff.post(
        reverse("admin:survey_participant_changelist"),
        {"action": "include_participants", "_selected_action": [participant.pk]},
    )
    participant.refresh_from_db()
    assert (participant.excluded, participant.exclusion_reason) == (False, "")


def test_the_participant_form_refuses_an_exclusion_without_a_reason(
    staff, study, ready_participant
):
    participant = ready_participant(study, "CN", recruit(1))
    url = reverse("admin:survey_participant_change", args=[participant.pk])
    page = staff.get(url)
    assert participant.token not in page.content.decode()  # the secret is never shown
    response = staff.post(url, {"excluded": "on", "exclusion_reason": ""})
    assert ERROR_REASON_REQUIRED in response.content.decode()
    assert not Participant.objects.get(pk=participant.pk).excluded


def test_rankings_cannot_be_added_or_changed_in_the_admin(staff, study, ready_participant):
    answer_pages(ready_participant(study, "CN", recruit(1)), pages=1)
    ranking = Ranking.objects.first()
    assert staff.get(reverse("admin:survey_ranking_changelist")).status_code == 200
    assert staff.get(reverse("admin:survey_ranking_add")).status_code == 403
    response = staff.post(reverse("admin:survey_ranking_change", args=[ranking.pk]), {"rank": 9})
    assert response.status_code == 403
    assert Ranking.objects.get(pk=ranking.pk).rank == ranking.rank


def test_progress_counts_participants_answers_attention_and_time_per_page(study, ready_participant):
    answer_pages(ready_participant(study, "CN", recruit(1)), page_ms=10_000)
    answer_pages(ready_participant(study, "CN", recruit(2)), fail_attention=True, page_ms=20_000)
    answer_pages(ready_participant(study, "IN", recruit(3)), pages=1, page_ms=5_000)
    excluded = answer_pages(ready_participant(study, "IN", recruit(4)), pages=3)
    Participant.objects.filter(pk=excluded.pk).update(excluded=True, exclusion_reason="bot")
    progress = study_progress(study=study)
    rows = {row.code: row for row in progress.countries}
    assert (rows["CN"].started, rows["CN"].completed, rows["CN"].attention_failed) == (2, 2, 1)
    assert (rows["IN"].started, rows["IN"].completed, rows["IN"].excluded) == (2, 1, 1)
    assert rows["CN"].median_page_ms == 15_000
    assert (rows["IN"].pages_answered, rows["IN"].median_page_ms) == (1, 5_000)
    # CN: 2 participants x 3 pages over 3 sets, of which the 3 of the one failing a check
    # do not count; IN: 1 counted page (the excluded don't count) of 4.
    counted = {(s.country, s.prompt_id): s.answers for s in progress.image_sets}
    every = {(s.country, s.prompt_id): s.all_answers for s in progress.image_sets}
    assert sum(v for (c, _), v in counted.items() if c == "CN") == 3
    assert sum(v for (c, _), v in every.items() if c == "CN") == 6
    assert sum(v for (c, _), v in counted.items() if c == "IN") == 1
    assert sum(v for (c, _), v in every.items() if c == "IN") == 4
    assert (progress.answers, progress.all_answers) == (4, 10)
    assert progress.image_sets_reached == 0
    assert progress.answers_wanted == 6 * 2
    assert progress.balance == 1
    # The per-country summary: sets, sets at target, answers counted and all.
    cn, india = rows["CN"], rows["IN"]
    assert (len(cn.image_sets), cn.image_sets_reached, cn.answers, cn.all_answers) == (3, 0, 3, 6)
    assert (len(india.image_sets), india.image_sets_reached, india.answers) == (3, 0, 1)
    assert india.all_answers == 4
    assert rows["CN"].median_page_minutes == 0.25
    # Within a country the sets furthest from their target come first.
    assert [s.answers for s in rows["IN"].image_sets] == [0, 0, 1]


def test_progress_page_shows_the_study_to_staff(staff, study, ready_participant):
    ready_participant(study, "CN", recruit(1))
    response = staff.get(reverse("admin:survey_study_progress", args=[study.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Per country" in html and "Answers per image set" in html
    assert "0 of 6 image sets have the" in html
    # A summary row per country, then each country's sets folded away.
    assert html.index('id="countries"') < html.index('<details class="sets" id="sets-CN">')
    assert "CN China: 0 of 3 sets at target" in html


def test_a_staff_member_without_the_view_permission_cannot_see_progress(client, study):
    user = User.objects.create_user("helper", password="pw", is_staff=True)
    client.force_login(user)
    url = reverse("admin:survey_study_progress", args=[study.pk])
    assert client.get(url).status_code == 404
    user.user_permissions.add(Permission.objects.get(codename="view_study"))
    assert client.get(url).status_code == 200


def test_the_admin_streams_the_export_download(staff, study, ready_participant):
    answer_pages(ready_participant(study, "CN", recruit(1)))
    response = staff.get(reverse("admin:survey_study_export", args=[study.pk, "csv"]))
    assert response.status_code == 200 and response.streaming
    assert response["Content-Disposition"] == 'attachment; filename="demo-rankings.csv"'
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 3 * 4 * 4
    unknown = staff.get(reverse("admin:survey_study_export", args=[study.pk, "xlsx"]))
    assert unknown.status_code == 404


def test_the_study_list_links_each_study_to_its_researcher_pages(staff, study):
    html = staff.get(reverse("admin:survey_study_changelist")).content.decode()
    assert reverse("admin:survey_study_progress", args=[study.pk]) in html
    assert reverse("admin:survey_study_export", args=[study.pk, "parquet"]) in html
    assert f'href="/s/{study.public_id}/"' in html
