"""Many participants arriving at once still spread evenly over the image sets.

Runs on PostgreSQL (CI reruns every database test there), where assignment takes row
locks; SQLite serialises writers by itself, which the other tests cover.
"""

import threading

import pytest
from django.db import connection, connections
from django.utils import timezone

from survey.services import (
    Recruitment,
    page_next_for_participant,
    participant_consent,
    participant_profile_set,
    participant_start,
)

from .factories import COUNTRIES, make_study

ARRIVALS = 12
SETS = 4


@pytest.mark.django_db(transaction=True)
def test_simultaneous_arrivals_are_assigned_evenly():
    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent connections: run on PostgreSQL (CI does)")
    study = make_study(sets_per_country=SETS, pages=1, countries=COUNTRIES[:1])
    participants = []
    for _ in range(ARRIVALS):
        participant = participant_start(study=study, recruitment=Recruitment())
        participant_consent(participant=participant, agreed=True)
        participant_profile_set(
            participant=participant,
            country_code="NG",
            demographics={"age": "18-24", "gender": "man", "years_in_country": "15+"},
        )
        participant.practice_done_at = timezone.now()
        participant.save()
        participants.append(participant)

    barrier = threading.Barrier(ARRIVALS)
    assigned, errors = [], []

    def arrive(participant):
        try:
            barrier.wait()
            assigned.append(page_next_for_participant(participant=participant).image_set_id)
        except Exception as error:  # reported below; a thread cannot fail the test itself
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=arrive, args=(p,)) for p in participants]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    counts = {image_set: assigned.count(image_set) for image_set in set(assigned)}
    assert sorted(counts.values()) == [ARRIVALS // SETS] * SETS
