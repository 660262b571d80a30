"""Thirty simulated participants over three countries take the study at once."""

import pytest
from django.test import Client

from survey import selectors
from survey.models import Page, Participant, Ranking

from .factories import COUNTRIES, make_study
from .participants import RANK_FIELD, SimulatedParticipant


@pytest.mark.django_db
def test_thirty_participants_complete_the_study_and_their_rankings_are_stored_as_sent():
    study = make_study(sets_per_country=5, pages=3, countries=COUNTRIES[:3])
    codes = [country.code for country in COUNTRIES[:3]]
    bots = [
        SimulatedParticipant(
            Client(),
            study,
            seed=number,
            country=codes[number % 3],
            query=f"?PROLIFIC_PID=bot{number}",
        )
        for number in range(30)
    ]
    # Interleave them page by page, as simultaneous arrivals would.
    for step in ("start", "consent", "profile", "practice"):
        for bot in bots:
            getattr(bot, step)()
    finals = [bot.rank_pages(fetch_images=False) for bot in bots]

    assert all("prolific.com" in final["Location"] for final in finals)
    assert Participant.objects.filter(completed_at__isnull=False).count() == 30
    assert Participant.objects.filter(attention_ok=True).count() == 30
    for bot in bots:
        assert len(bot.submitted) == 3
        for action, data in bot.submitted:
            page = Page.objects.get(public_id=action.rstrip("/").rsplit("/", 1)[1])
            stored = {
                (r.item.key, r.page_image.position): r.rank
                for r in Ranking.objects.filter(page=page).select_related("item", "page_image")
            }
            sent = {
                (match["item"], int(match["position"])): int(value)
                for name, value in data.items()
                if (match := RANK_FIELD.match(name))
            }
            assert stored == sent
            assert page.page_ms == int(data["page_ms"])
            assert page.participant.country.code == page.image_set.country_code
    assert Ranking.objects.count() == 30 * 3 * 4 * 4  # pages x items x images
    # Coverage stays balanced: 10 participants x 3 pages over 5 sets is 6 answers each.
    answers = selectors.image_set_answer_counts(study=study).values_list("answers", flat=True)
    assert set(answers) == {6}
