"""Services and selectors: set-up, enrolment, assignment, submission, completion."""

import pytest
from django.db import IntegrityError
from django.utils import timezone

from survey import selectors
from survey.models import AttentionCheck, Page, Participant, Ranking, Study, SurveyItem
from survey.questions import attention_plan
from survey.services import (
    ERROR_ATTENTION_MISSING,
    ERROR_CONSENT_REQUIRED,
    ERROR_COUNTRY_FULL,
    ERROR_COUNTRY_LOCKED,
    ERROR_COUNTRY_UNKNOWN,
    ERROR_DEMOGRAPHIC_MISSING,
    ERROR_OPEN_ELSEWHERE,
    ERROR_PAGE_NOT_YOURS,
    ERROR_RANK_INCOMPLETE,
    ERROR_RANK_NOT_PERMUTATION,
    ERROR_RANK_UNKNOWN,
    ERROR_STUDY_CLOSED,
    Recruitment,
    SurveyError,
    page_next_for_participant,
    participant_consent,
    participant_profile_set,
    participant_start,
    ranking_submit,
    study_setup,
)

from .factories import COUNTRIES, make_image_sets, make_study, survey_spec

pytestmark = pytest.mark.django_db
PROLIFIC = Recruitment(source="prolific", recruit_id="5f0c1", study_id="s1", session_id="x1")


def answers_for(page, order=None):
    """Ranks for every item: by default rank = position (a valid permutation)."""
    positions = [image.position for image in page.images.all()]
    order = order or positions
    ranks = {position: order.index(position) + 1 for position in positions}
    items = page.participant.study.items.all()
    attention = {check.key: check.expected for check in page.attention_checks.all()}
    return {item.key: dict(ranks) for item in items}, attention


def submit(participant, page, order=None, **kwargs):
    ranks, attention = answers_for(page, order)
    return ranking_submit(
        participant=participant,
        page_public_id=page.public_id,
        ranks=ranks,
        attention=kwargs.pop("attention", attention),
        **kwargs,
    )


def test_setup_study_creates_the_study_countries_and_four_items_once():
    spec = survey_spec(consent_text="Please agree.", completion_code="C1A2B3")
    study, created = study_setup(spec=spec)
    again, created_again = study_setup(spec=spec)
    assert (created, created_again) == (True, False)
    assert again.pk == study.pk
    assert Study.objects.count() == 1
    assert [c.code for c in study.countries.all()] == ["NG", "CN"]
    assert [i.key for i in study.items.all()] == [
        "alignment",
        "culture",
        "stereotypes",
        "offensiveness",
    ]
    assert [i.shows_prompt for i in study.items.all()] == [True, False, False, False]
    assert study.completion_code == "C1A2B3"


def test_setup_study_updates_an_edited_spec_in_place():
    study_setup(spec=survey_spec(pages=3))
    study, _ = study_setup(spec=survey_spec(pages=7))
    assert study.pages_per_participant == 7
    assert SurveyItem.objects.filter(study=study).count() == 4


def test_a_recruit_id_takes_the_study_once_and_is_never_handed_out_again():
    study = make_study()
    first = participant_start(study=study, recruitment=PROLIFIC)
    # A recruit id alone must not give access to the participant (issue 13): the
    # enrolling browser resumes through its session instead (tests/survey/test_takeover).
    with pytest.raises(SurveyError) as error:
        participant_start(study=study, recruitment=PROLIFIC)
    assert error.value.messages == [str(ERROR_OPEN_ELSEWHERE)]
    assert (first.recruit_id, first.recruit_study_id, first.recruit_session_id) == (
        "5f0c1",
        "s1",
        "x1",
    )


def test_the_database_refuses_a_second_participation_of_one_recruit_id():
    study = make_study()
    participant_start(study=study, recruitment=PROLIFIC)
    with pytest.raises(IntegrityError):
        Participant.objects.create(study=study, recruit_source="prolific", recruit_id="5f0c1")


def test_a_closed_study_accepts_no_one_new():
    study = make_study()
    study.is_open = False
    study.save()
    with pytest.raises(SurveyError) as error:
        participant_start(study=study, recruitment=Recruitment())
    assert error.value.messages == [str(ERROR_STUDY_CLOSED)]


def test_consent_needs_agreement():
    participant = participant_start(study=make_study(), recruitment=Recruitment())
    with pytest.raises(SurveyError) as error:
        participant_consent(participant=participant, agreed=False)
    assert error.value.messages == [str(ERROR_CONSENT_REQUIRED)]
    participant.refresh_from_db()
    assert participant.consent_at is None


def test_profile_rejects_an_unknown_country_and_missing_demographics_and_stores_nothing():
    participant = participant_start(study=make_study(), recruitment=Recruitment())
    participant_consent(participant=participant, agreed=True)
    with pytest.raises(SurveyError) as error:
        participant_profile_set(participant=participant, country_code="XX", demographics={})
    assert error.value.messages == [str(ERROR_COUNTRY_UNKNOWN)]
    with pytest.raises(SurveyError) as error:
        participant_profile_set(
            participant=participant, country_code="CN", demographics={"age": "25-34"}
        )
    assert str(ERROR_DEMOGRAPHIC_MISSING % {"question": "What is your gender?"}) in (
        error.value.messages
    )
    participant.refresh_from_db()
    assert participant.country is None


def test_profile_takes_the_countrys_language(ready_participant):
    participant = ready_participant(make_study(countries=COUNTRIES[1:3]), country="IN")
    assert participant.language == "hi"


def test_a_participant_sees_only_their_countrys_image_sets_never_twice(ready_participant):
    study = make_study(sets_per_country=5, pages=5, countries=COUNTRIES[1:3])
    participant = ready_participant(study, country="IN")
    seen = []
    while (page := page_next_for_participant(participant=participant)) is not None:
        seen.append(page.image_set)
        submit(participant, page)
    assert len(seen) == 5
    assert len({s.pk for s in seen}) == 5
    assert {s.country_code for s in seen} == {"IN"}


def test_the_next_page_is_the_open_one_until_it_is_answered(ready_participant):
    participant = ready_participant(make_study())
    first = page_next_for_participant(participant=participant)
    assert page_next_for_participant(participant=participant).pk == first.pk
    submit(participant, first)
    assert page_next_for_participant(participant=participant).pk != first.pk


def test_positions_are_a_stored_shuffle_of_every_image_of_the_set(ready_participant):
    participant = ready_participant(make_study())
    page = page_next_for_participant(participant=participant)
    shown = list(page.images.order_by("position"))
    assert [i.position for i in shown] == [1, 2, 3, 4]
    assert {i.image_id for i in shown} == set(page.image_set.images.values_list("pk", flat=True))
    assert page.shuffle_seed is not None


def test_shuffles_differ_between_pages(ready_participant):
    study = make_study(sets_per_country=8, pages=8)
    orders = set()
    for _ in range(3):
        participant = ready_participant(study)
        while (page := page_next_for_participant(participant=participant)) is not None:
            variants = tuple(i.image.variant.key for i in page.images.order_by("position"))
            orders.add(variants)
            submit(participant, page)
    # 24 pages over 24 possible orders: all identical would mean no shuffle at all.
    assert len(orders) > 3


def test_least_answered_image_sets_come_first(ready_participant):
    study = make_study(sets_per_country=4, pages=1)
    counts = []
    for _ in range(8):
        participant = ready_participant(study)
        submit(participant, page_next_for_participant(participant=participant))
    for image_set in selectors.image_set_answer_counts(study=study).filter(country_code="CN"):
        counts.append(image_set.answers)
    assert counts == [2, 2, 2, 2]


def test_shown_but_unanswered_pages_hold_their_place_for_balance(ready_participant):
    study = make_study(sets_per_country=3, pages=1)
    pages = [page_next_for_participant(participant=ready_participant(study)) for _ in range(3)]
    assert len({page.image_set_id for page in pages}) == 3


def test_excluded_participants_do_not_count_towards_coverage(ready_participant):
    study = make_study(sets_per_country=2, pages=1)
    excluded = ready_participant(study)
    page = page_next_for_participant(participant=excluded)
    submit(excluded, page)
    excluded.excluded, excluded.exclusion_reason = True, "failed attention checks"
    excluded.save()
    counts = {s.pk: s.answers for s in selectors.image_set_answer_counts(study=study)}
    assert counts[page.image_set_id] == 0


def test_a_submission_stores_exactly_what_was_ranked(ready_participant):
    participant = ready_participant(make_study())
    page = page_next_for_participant(participant=participant)
    order = [3, 1, 4, 2]  # position 3 is best, then 1, 4, 2
    result = submit(participant, page, order=order, page_ms=12_345)
    assert result.stored
    stored = {
        (r.item.key, r.page_image.position): r.rank for r in Ranking.objects.filter(page=page)
    }
    assert len(stored) == 16
    assert {stored[("culture", p)] for p in (1, 2, 3, 4)} == {1, 2, 3, 4}
    assert stored[("culture", 3)] == 1 and stored[("culture", 2)] == 4
    page.refresh_from_db()
    assert page.page_ms == 12_345 and page.submitted_at is not None


def test_a_double_submit_stores_once(ready_participant):
    participant = ready_participant(make_study())
    page = page_next_for_participant(participant=participant)
    first = submit(participant, page)
    second = submit(participant, page, order=[4, 3, 2, 1])
    assert (first.stored, second.stored) == (True, False)
    assert Ranking.objects.filter(page=page).count() == 16
    assert Ranking.objects.get(page=page, item__key="culture", page_image__position=1).rank == 1


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r["culture"].pop(2), ERROR_RANK_INCOMPLETE % {"number": 2}),
        (
            lambda r: r["culture"].update({2: 1}),
            ERROR_RANK_NOT_PERMUTATION % {"number": 2, "count": 4},
        ),
        (
            lambda r: r["culture"].update({2: 9}),
            ERROR_RANK_NOT_PERMUTATION % {"number": 2, "count": 4},
        ),
        (lambda r: r["culture"].update({2: None}), ERROR_RANK_INCOMPLETE % {"number": 2}),
        (lambda r: r["culture"].update({7: 1}), ERROR_RANK_UNKNOWN),
        (lambda r: r.update({"other-item": {1: 1}}), ERROR_RANK_UNKNOWN),
        (lambda r: r.pop("offensiveness"), ERROR_RANK_INCOMPLETE % {"number": 4}),
    ],
)
def test_an_invalid_ranking_is_explained_and_nothing_is_stored(ready_participant, mutate, message):
    participant = ready_participant(make_study())
    page = page_next_for_participant(participant=participant)
    ranks, attention = answers_for(page)
    mutate(ranks)
    with pytest.raises(SurveyError) as error:
        ranking_submit(
            participant=participant, page_public_id=page.public_id, ranks=ranks, attention=attention
        )
    assert str(message) in error.value.messages
    assert not Ranking.objects.filter(page=page).exists()
    page.refresh_from_db()
    assert page.submitted_at is None


def test_another_participants_page_is_refused(ready_participant):
    study = make_study()
    owner, intruder = ready_participant(study), ready_participant(study)
    page = page_next_for_participant(participant=owner)
    ranks, attention = answers_for(page)
    with pytest.raises(SurveyError) as error:
        ranking_submit(
            participant=intruder, page_public_id=page.public_id, ranks=ranks, attention=attention
        )
    assert error.value.messages == [str(ERROR_PAGE_NOT_YOURS)]
    assert not Ranking.objects.exists()


def test_the_database_refuses_a_repeated_rank_on_a_page_and_item(ready_participant):
    participant = ready_participant(make_study())
    page = page_next_for_participant(participant=participant)
    item = participant.study.items.first()
    first, second = page.images.all()[:2]
    Ranking.objects.create(page=page, item=item, page_image=first, rank=1)
    with pytest.raises(IntegrityError):
        Ranking.objects.create(page=page, item=item, page_image=second, rank=1)


def test_attention_checks_are_placed_twice_and_must_be_answered(ready_participant):
    study = make_study(sets_per_country=4, pages=3)
    participant = ready_participant(study)
    placed = []
    while (page := page_next_for_participant(participant=participant)) is not None:
        checks = list(page.attention_checks.all())
        placed.extend(checks)
        if checks:
            with pytest.raises(SurveyError) as error:
                submit(participant, page, attention={})
            assert error.value.messages == [str(ERROR_ATTENTION_MISSING)]
        submit(participant, page)
    assert len(placed) == 2
    participant.refresh_from_db()
    assert participant.attention_ok is True


def test_a_failed_attention_check_is_recorded_not_refused(ready_participant):
    participant = ready_participant(make_study(pages=1))
    page = page_next_for_participant(participant=participant)
    wrong = {
        check.key: "red" if check.key == "colour" else "3" for check in page.attention_checks.all()
    }
    submit(participant, page, attention=wrong)
    participant.refresh_from_db()
    assert participant.attention_ok is False
    assert AttentionCheck.objects.filter(participant=participant, passed=False).count() == 2


@pytest.mark.parametrize("checks", [0, 1, 2, 3, 6])
@pytest.mark.parametrize("pages", [1, 2, 3, 5, 10, 40])
def test_every_participant_gets_the_studys_attention_checks_spread_over_their_pages(
    pages, checks
):
    plan = attention_plan(pages, checks)
    keys = [key for keys in plan.values() for key in keys]
    assert len(keys) == len(set(keys)) == checks
    assert all(0 <= index < pages for index in plan)
    # Spread: as many pages as possible carry one, and no page more than its share.
    assert len(plan) == min(checks, pages)
    assert max((len(k) for k in plan.values()), default=0) <= -(-checks // pages)


def test_the_last_page_completes_the_study_with_the_code(ready_participant):
    study = make_study(pages=2, completion_code="C1A2B3")
    participant = ready_participant(study)
    results = []
    while (page := page_next_for_participant(participant=participant)) is not None:
        results.append(submit(participant, page))
    assert [r.completed for r in results] == [False, True]
    participant.refresh_from_db()
    assert participant.completion_code == "C1A2B3"
    assert selectors.participant_step(participant=participant) == selectors.Step.DONE


def test_a_country_with_fewer_sets_than_pages_ends_early(ready_participant):
    study = make_study(sets_per_country=2, pages=10)
    participant = ready_participant(study)
    count = 0
    while (page := page_next_for_participant(participant=participant)) is not None:
        submit(participant, page)
        count += 1
    assert count == 2
    participant.refresh_from_db()
    assert participant.completed_at is not None


def test_the_country_cannot_change_once_pages_are_assigned(ready_participant):
    participant = ready_participant(make_study())
    page_next_for_participant(participant=participant)
    with pytest.raises(SurveyError) as error:
        participant_profile_set(
            participant=participant,
            country_code="NG",
            demographics={"age": "25-34", "gender": "man", "years_in_country": "0-4"},
        )
    assert error.value.messages == [str(ERROR_COUNTRY_LOCKED)]


def test_the_export_query_gives_one_row_per_item_and_variant(ready_participant):
    study = make_study(pages=1)
    participant = ready_participant(study)
    page = page_next_for_participant(participant=participant)
    submit(participant, page, page_ms=900)
    rows = [
        dict(zip(selectors.EXPORT_COLUMNS, row, strict=True))
        for row in selectors.rankings_for_export(study=study)
    ]
    assert len(rows) == 16
    assert set(rows[0]) == set(selectors.EXPORT_COLUMNS)
    assert {r["variant"] for r in rows} == {"pretrained", "finetune", "perceptual", "scoft"}
    culture = {r["position"]: r["rank"] for r in rows if r["item"] == "culture"}
    assert culture == {1: 1, 2: 2, 3: 3, 4: 4}
    assert rows[0]["participant"] == participant.public_id
    assert rows[0]["page_ms"] == 900 and rows[0]["attention_ok"] is True
    assert rows[0]["excluded"] is False and rows[0]["country"] == "CN"


def test_image_sets_of_other_studies_are_never_assigned(ready_participant):
    study = make_study(sets_per_country=1, pages=5)
    make_image_sets("another-study", "CN", 3)
    participant = ready_participant(study)
    page = page_next_for_participant(participant=participant)
    submit(participant, page)
    assert page_next_for_participant(participant=participant) is None
    assert Page.objects.filter(participant=participant).count() == 1
    participant.refresh_from_db()
    assert participant.completed_at is not None and participant.completed_at <= timezone.now()


def test_a_country_whose_sets_have_their_answers_takes_no_one_new(ready_participant):
    study = make_study(sets_per_country=2, pages=1, answers=1)
    for _ in range(2):
        participant = ready_participant(study, country="CN")
        submit(participant, page_next_for_participant(participant=participant))
    assert selectors.country_is_full(country=study.countries.get(code="CN"))
    assert not selectors.country_is_full(country=study.countries.get(code="NG"))
    late = participant_start(study=study, recruitment=Recruitment())
    participant_consent(participant=late, agreed=True)
    with pytest.raises(SurveyError) as error:
        participant_profile_set(
            participant=late,
            country_code="CN",
            demographics={"age": "25-34", "gender": "man", "years_in_country": "0-4"},
        )
    assert error.value.messages == [str(ERROR_COUNTRY_FULL)]
