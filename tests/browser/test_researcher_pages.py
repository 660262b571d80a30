"""The researcher's pages in Chromium at 1280x800: the participant list fits the screen,
the progress page starts with the per-country summary, and no page asks for a missing
favicon. Screenshots go to test-artifacts/survey/researcher/."""

import pytest
from django.contrib.auth.models import User

from survey.models import Participant, Study
from tests.survey.answered import answer_pages, china_and_india, recruit
from tests.survey.conftest import ready_participant  # noqa: F401 (a fixture)

from .chromium import ARTIFACTS, new_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
DESKTOP = {"width": 1280, "height": 800}
RESEARCHER = ARTIFACTS / "researcher"


def test_the_participant_list_and_progress_fit_a_1280_px_screen(
    live_server, chromium, ready_participant  # noqa: F811
):
    study = china_and_india(sets_per_country=30, pages=3, answers=2)
    for number in range(6):
        participant = ready_participant(study, ("CN", "IN")[number % 2], recruit(number))
        answer_pages(participant, fail_attention=number == 3)
    Participant.objects.filter(recruit_id="pid5").update(excluded=True, exclusion_reason="bot")
    User.objects.create_superuser("researcher", "r@example.org", "pw")
    RESEARCHER.mkdir(parents=True, exist_ok=True)

    page = new_page(chromium, viewport=DESKTOP)
    missing = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    page.goto(live_server.url + "/admin/login/")
    page.fill("#id_username", "researcher")
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")

    page.goto(live_server.url + "/admin/survey/participant/")
    page.screenshot(path=str(RESEARCHER / "participants-1280.png"))
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    for column in ("Completed", "Attention OK", "Excluded"):
        header = page.locator("#result_list thead th", has_text=column).first
        box = header.bounding_box()
        assert box is not None and box["x"] + box["width"] <= DESKTOP["width"], column

    page.goto(live_server.url + f"/admin/survey/study/{Study.objects.get().pk}/progress/")
    page.screenshot(path=str(RESEARCHER / "progress-1280.png"), full_page=True)
    summary = page.locator("#countries").bounding_box()
    assert summary["y"] + summary["height"] <= DESKTOP["height"]  # seen without scrolling
    assert page.evaluate("document.documentElement.scrollHeight") < 2 * DESKTOP["height"]
    page.locator("#sets-CN summary").click()
    assert page.locator("#sets-CN table").is_visible()
    assert not page.locator("#sets-IN table").is_visible()

    page.goto(live_server.url + "/favicon.ico")
    assert page.url.endswith("/static/survey/favicon.svg")
    assert missing == []
