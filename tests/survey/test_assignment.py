"""Page assignment: holds, room per image set, quotas of valid answers, varied content.

The rule itself (survey.assignment) is tested on plain values; the services around it
on a database; a small run of the assignment benchmark checks the figures it prints.
Concurrency on PostgreSQL is in test_concurrency.py.
"""

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from benchmarks.bench_assignment import Design, build_study, simulate
from study.spec import BAD_CHOICE, QUOTA_NOT_EXCLUDED, SpecError, parse_spec
from survey import selectors
from survey.assignment import ImageSetLoad, ShownSoFar, choose_image_set
from survey.models import Page, Participant
from survey.services import (
    ERROR_COUNTRY_FULL,
    SurveyError,
    page_next_for_participant,
    participant_exclude,
)

from .answered import answer_pages
from .factories import COUNTRIES, make_study

RNG = random.Random(0)


def load(pk, prompt="p", category="", answers=0, holds=0, reserved=0):
    return ImageSetLoad(pk, prompt, category, answers=answers, holds=holds, reserved=reserved)


# --- the rule -----------------------------------------------------------------------------


def test_an_unseen_prompt_comes_before_a_less_answered_set_of_a_seen_prompt():
    sets = [load(1, "market", answers=0), load(2, "wedding", answers=3)]
    shown = ShownSoFar(image_sets=frozenset({9}), prompts=frozenset({"market"}))
    assert choose_image_set(sets, shown=shown, target=5, rng=RNG).pk == 2


def test_a_seen_prompt_is_shown_again_only_when_no_other_has_room():
    sets = [load(1, "market", answers=0), load(2, "wedding", answers=5)]
    shown = ShownSoFar(image_sets=frozenset({9}), prompts=frozenset({"market"}))
    assert choose_image_set(sets, shown=shown, target=5, rng=RNG).pk == 1


def test_among_unseen_prompts_the_least_loaded_set_comes_first():
    sets = [load(1, "a", answers=2), load(2, "b", answers=1, holds=1), load(3, "c", answers=1)]
    assert choose_image_set(sets, shown=ShownSoFar(), target=5, rng=RNG).pk == 3


def test_the_previous_pages_category_waits_when_the_load_is_equal():
    sets = [load(1, "a", "food"), load(2, "b", "dance"), load(3, "c", "music")]
    shown = ShownSoFar(
        image_sets=frozenset({7, 8}), prompts=frozenset({"x", "y"}), categories=("music", "food")
    )
    assert choose_image_set(sets, shown=shown, target=5, rng=RNG).pk == 2


def test_a_set_with_its_answers_or_one_hold_too_many_has_no_room():
    assert not load(1, answers=5).has_room(5)
    assert load(1, answers=4, holds=1).has_room(5)  # the one extra hold a set may take
    assert not load(1, answers=4, holds=2).has_room(5)
    sets = [load(1, answers=5), load(2, answers=4, holds=2)]
    assert choose_image_set(sets, shown=ShownSoFar(), target=5, rng=RNG) is None


def test_a_set_below_its_target_with_holds_comes_before_the_one_extra_hold():
    sets = [load(1, "a", answers=4, holds=1), load(2, "b", answers=3, holds=1)]
    shown = ShownSoFar(image_sets=frozenset({9}), prompts=frozenset({"b"}))
    # b was seen, but a would take a hold beyond what it needs: room comes first.
    assert choose_image_set(sets, shown=shown, target=5, rng=RNG).pk == 2


def test_a_reservation_not_yet_shown_counts_for_room_not_for_the_order():
    reserved = load(1, "a", answers=0, reserved=2)
    sets = [reserved, load(2, "b", answers=1)]
    assert choose_image_set(sets, shown=ShownSoFar(), target=5, rng=RNG).pk == 1
    assert not load(1, answers=4, holds=1, reserved=1).has_room(5)


# --- holds --------------------------------------------------------------------------------


def lapse(page):
    Page.objects.filter(pk=page.pk).update(held_until=timezone.now() - timedelta(seconds=1))


@pytest.mark.django_db
def test_showing_the_open_page_renews_its_hold(ready_participant):
    participant = ready_participant(make_study())
    page = page_next_for_participant(participant=participant)
    lapse(page)
    again = page_next_for_participant(participant=participant)
    assert again.pk == page.pk
    assert again.held_until > timezone.now() + selectors.HOLD - timedelta(minutes=1)


@pytest.mark.django_db
def test_pages_opened_and_never_answered_do_not_close_a_country(ready_participant):
    study = make_study(sets_per_country=2, pages=1, answers=1)
    bots = [ready_participant(study) for _ in range(2)]
    for bot in bots:
        page_next_for_participant(participant=bot)
    assert not selectors.country_is_full(country=study.countries.get(code="CN"))
    # Real participants are admitted beside the bots: one extra hold per set.
    for _ in range(2):
        answer_pages(ready_participant(study))
    assert selectors.country_is_full(country=study.countries.get(code="CN"))
    counts = {s.pk: s.answers for s in selectors.image_set_answer_counts(study=study)}
    assert sorted(v for v in counts.values() if v) == [1, 1]


@pytest.mark.django_db
def test_a_lapsed_hold_frees_its_set(ready_participant):
    study = make_study(sets_per_country=1, pages=1, answers=1)
    bot = ready_participant(study)
    page = page_next_for_participant(participant=bot)
    ready_participant(study)  # the one extra hold
    with pytest.raises(SurveyError) as error:
        ready_participant(study)
    assert error.value.messages == [str(ERROR_COUNTRY_FULL)]
    lapse(page)
    ready_participant(study)  # the bot's place is free again


@pytest.mark.django_db
def test_a_participant_back_after_a_lapse_moves_to_a_set_with_room(ready_participant):
    study = make_study(sets_per_country=2, pages=1, answers=1)
    late = ready_participant(study)
    first = page_next_for_participant(participant=late)
    lapse(first)
    other = ready_participant(study)
    # The other participant is shown the set the late one had, and answers it.
    shown = page_next_for_participant(participant=other)
    Page.objects.filter(pk=shown.pk).update(image_set=first.image_set)
    answer_pages(other)
    page = page_next_for_participant(participant=late)
    assert page.image_set_id != first.image_set_id
    assert not Page.objects.filter(pk=first.pk).exists()


# --- quotas of valid answers --------------------------------------------------------------


@pytest.mark.django_db
def test_answers_of_a_participant_who_failed_a_check_stop_counting_at_once(ready_participant):
    study = make_study(sets_per_country=3, pages=3, answers=5)
    participant = answer_pages(ready_participant(study), pages=2, fail_attention=True)
    assert participant.completed_at is None and participant.attention_ok is False
    counts = list(selectors.image_set_answer_counts(study=study).filter(country_code="CN"))
    assert sum(s.answers for s in counts) == 0
    assert sum(s.all_answers for s in counts) == 2


@pytest.mark.django_db
def test_a_participant_still_taking_the_study_counts_as_pending(ready_participant):
    study = make_study(sets_per_country=2, pages=2, answers=1)
    participant = answer_pages(ready_participant(study), pages=1)
    assert participant.completed_at is None and participant.attention_ok is None
    counts = selectors.image_set_answer_counts(study=study).filter(country_code="CN")
    assert sum(s.answers for s in counts) == 1


@pytest.mark.django_db
def test_a_failed_check_reopens_a_full_country(ready_participant):
    study = make_study(sets_per_country=1, pages=1, answers=1)
    answer_pages(ready_participant(study), fail_attention=True)
    assert not selectors.country_is_full(country=study.countries.get(code="CN"))
    answer_pages(ready_participant(study))
    assert selectors.country_is_full(country=study.countries.get(code="CN"))


@pytest.mark.django_db
def test_an_exclusion_reopens_a_full_country(ready_participant):
    study = make_study(sets_per_country=1, pages=1, answers=1)
    participant = answer_pages(ready_participant(study))
    assert selectors.country_is_full(country=study.countries.get(code="CN"))
    participant_exclude(participant=participant, reason="straight-lined")
    assert not selectors.country_is_full(country=study.countries.get(code="CN"))


@pytest.mark.django_db
def test_the_not_excluded_rule_keeps_counting_failed_checks(ready_participant):
    study = make_study(sets_per_country=1, pages=1, answers=1, quota_counts=QUOTA_NOT_EXCLUDED)
    assert study.quota_counts == QUOTA_NOT_EXCLUDED
    answer_pages(ready_participant(study), fail_attention=True)
    assert selectors.country_is_full(country=study.countries.get(code="CN"))


def test_the_spec_names_a_quota_rule_it_does_not_know():
    text = '[study]\nslug = "s"\ntitle = "t"\n[survey]\nquota_counts = "most"\n'
    text += '[[countries]]\ncode = "NG"\nname = "Nigeria"\nadjective = "Nigerian"\n'
    with pytest.raises(SpecError) as error:
        parse_spec(text, path="study.toml")
    choices = "'valid', 'not-excluded'"
    expected = BAD_CHOICE.format(
        where="[survey]", key="quota_counts", choices=choices, value="most"
    )
    assert expected in error.value.problems


# --- arrivals beyond the targets ----------------------------------------------------------


@pytest.mark.django_db
def test_no_set_gets_more_than_one_answer_beyond_its_target(ready_participant):
    study = make_study(sets_per_country=3, pages=3, answers=2, countries=COUNTRIES[:1])
    # 3 sets x (2 answers wanted + 1 extra hold): room for 9 arrivals at once, then none.
    admitted = [ready_participant(study, country="NG") for _ in range(9)]
    with pytest.raises(SurveyError) as error:
        ready_participant(study, country="NG")
    assert error.value.messages == [str(ERROR_COUNTRY_FULL)]
    for participant in admitted:
        answer_pages(participant)
    counts = [s.answers for s in selectors.image_set_answer_counts(study=study)]
    assert max(counts) <= 2 + 1 and min(counts) >= 2
    assert Participant.objects.filter(completed_at__isnull=False).count() == 9
    assert selectors.country_is_full(country=study.countries.get(code="NG"))


# --- the benchmark, small -----------------------------------------------------------------


@pytest.mark.django_db
def test_no_prompt_repeats_categories_spread_and_the_balance_holds():
    design = Design(
        countries=1, prompts=6, seeds=3, categories=3, pages=5, participants=24, active=4
    )
    figures = simulate(build_study(design), design)
    assert figures.pages == 24 * 5
    assert figures.repeats == 0
    assert figures.balance_end <= 1 and figures.balance_max <= 2
    old = Design(**{**design.__dict__, "slug": "old"})
    baseline = simulate(build_study(old), old, baseline=True)
    assert baseline.repeats > 0  # the rule before repeated prompts
    assert figures.same_category_as_previous <= 2
    assert figures.same_category_as_previous * 4 < baseline.same_category_as_previous


@pytest.mark.django_db
def test_quotas_fill_with_valid_answers_and_turn_the_rest_away():
    design = Design(
        countries=1,
        prompts=4,
        seeds=2,
        categories=2,
        pages=3,
        target=3,
        participants=20,
        active=4,
        fail_share=0.25,
        seed=3,
    )
    figures = simulate(build_study(design), design)
    assert figures.valid_per_set[0] == 3 and figures.valid_per_set[1] <= 3 + 1
    assert figures.all_answers > figures.valid
    assert figures.refused > 0
