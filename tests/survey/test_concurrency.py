"""Many participants at once: spread evenly, never locked out by bots, never over target.

Runs on PostgreSQL (CI reruns every database test there), where assignment takes row
locks; SQLite serialises writers by itself, which the other tests cover. Each arrival
runs in its own thread with its own connection, all released at once by a barrier.

Run it with DATABASE_URL=postgres://postgres@127.0.0.1:5432/NAME (any database name).
"""

import threading

import pytest
from django.db import connection, connections
from django.utils import timezone

from survey import selectors
from survey.models import Page, Participant
from survey.services import (
    ERROR_COUNTRY_FULL,
    Recruitment,
    SurveyError,
    page_next_for_participant,
    participant_consent,
    participant_profile_set,
    participant_start,
)

from .answered import answer_pages
from .factories import COUNTRIES, make_study

DEMOGRAPHICS = {"age": "18-24", "gender": "man", "years_in_country": "15+"}

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent connections: run on PostgreSQL (CI does)")


def at_once(count, action):
    """Run ``action(number)`` in ``count`` threads released together; their results."""
    barrier = threading.Barrier(count)
    results, errors = [None] * count, []

    def run(number):
        try:
            barrier.wait()
            results[number] = action(number)
        except Exception as error:  # reported below; a thread cannot fail the test itself
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(number,)) for number in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    return results


def consented(study):
    participant = participant_start(study=study, recruitment=Recruitment())
    return participant_consent(participant=participant, agreed=True)


def arrive(participant, country="NG"):
    """Choose the country (admission) and do the practice; False when turned away."""
    try:
        participant_profile_set(
            participant=participant, country_code=country, demographics=DEMOGRAPHICS
        )
    except SurveyError as error:
        assert error.messages == [str(ERROR_COUNTRY_FULL)]
        return False
    Participant.objects.filter(pk=participant.pk).update(practice_done_at=timezone.now())
    participant.refresh_from_db()
    return True


def test_simultaneous_arrivals_are_assigned_evenly():
    arrivals, sets = 12, 4
    study = make_study(sets_per_country=sets, pages=1, countries=COUNTRIES[:1])
    people = [consented(study) for _ in range(arrivals)]

    def first_page(number):
        assert arrive(people[number])
        return page_next_for_participant(participant=people[number]).image_set_id

    assigned = at_once(arrivals, first_page)
    counts = {image_set: assigned.count(image_set) for image_set in set(assigned)}
    assert sorted(counts.values()) == [arrivals // sets] * sets


def test_eight_bots_opening_a_page_and_never_answering_do_not_close_a_country():
    # The case: each of 8 sets needs one answer, and 8 bots open one page each.
    study = make_study(sets_per_country=8, pages=1, answers=1, countries=COUNTRIES[:1])
    bots = [consented(study) for _ in range(8)]

    def bot(number):
        assert arrive(bots[number])
        return page_next_for_participant(participant=bots[number]).image_set_id

    assert len(set(at_once(8, bot))) == 8
    country = study.countries.get()
    assert not selectors.country_is_full(country=country)

    people = [consented(study) for _ in range(8)]

    def person(number):
        if not arrive(people[number]):
            return False
        answer_pages(people[number])
        return True

    assert at_once(8, person) == [True] * 8  # nobody turned away while sets were short
    counts = [s.answers for s in selectors.image_set_answer_counts(study=study)]
    assert counts == [1] * 8  # every set has its valid answer ...
    assert selectors.country_is_full(country=country)  # ... so now the country is full
    for late_bot in bots:  # and when the bots answer after all, one answer too many at most
        answer_pages(late_bot)
    counts = [s.answers for s in selectors.image_set_answer_counts(study=study)]
    assert max(counts) <= 1 + 1


def test_twenty_arrivals_when_one_set_needs_one_answer_give_at_most_one_too_many():
    # The case: 20 sets x 5 answers = 100 wanted, 99 given, 20 arrive at once.
    study = make_study(sets_per_country=20, pages=7, answers=5, countries=COUNTRIES[:1])
    sets = list(selectors.image_sets_for_country(country=study.countries.get()).order_by("pk"))
    for number in range(5):
        filler = consented(study)
        Participant.objects.filter(pk=filler.pk).update(
            country=study.countries.get(), completed_at=timezone.now(), attention_ok=True
        )
        answered = sets if number < 4 else sets[:-1]
        Page.objects.bulk_create(
            Page(
                participant=filler,
                image_set=image_set,
                index=index,
                shuffle_seed=index,
                submitted_at=timezone.now(),
            )
            for index, image_set in enumerate(answered)
        )
    people = [consented(study) for _ in range(20)]

    def person(number):
        if not arrive(people[number]):
            return 0
        return answer_pages(people[number]).pages.filter(submitted_at__isnull=False).count()

    pages = at_once(20, person)
    counts = [s.answers for s in selectors.image_set_answer_counts(study=study)]
    assert sum(counts) <= 100 + 1 and max(counts) <= 5 + 1 and min(counts) == 5
    assert 1 <= sum(1 for n in pages if n) <= 2  # admitted: the page needed, one extra
