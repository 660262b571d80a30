import pytest
from django.utils import timezone, translation

from survey.services import (
    Recruitment,
    participant_consent,
    participant_profile_set,
    participant_start,
)


@pytest.fixture(autouse=True)
def english_after_each_test():
    """A page in a participant's language activates it for the thread (as each request
    does in production); the next test must not inherit it."""
    yield
    translation.deactivate()


@pytest.fixture
def ready_participant():
    """Makes participants who consented, chose a country and did the practice page."""

    def make(study, country="CN", recruitment=None):
        participant = participant_start(study=study, recruitment=recruitment or Recruitment())
        participant_consent(participant=participant, agreed=True)
        participant_profile_set(
            participant=participant,
            country_code=country,
            demographics={"age": "25-34", "gender": "woman", "years_in_country": "15+"},
        )
        participant.practice_done_at = timezone.now()
        participant.save()
        return participant

    return make
