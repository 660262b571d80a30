"""Everything that writes survey rows: set-up, a participant's steps, assignment, rankings.

Each service is a plain function with keyword-only arguments. Participant-facing errors
raise SurveyError with translated sentences (the constants below, which tests assert
on); nothing is written when a service raises.
"""

import random
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from generation.models import GeneratedImage, ImageSet
from study.spec import StudySpec

from . import selectors
from .assignment import ImageSetLoad, ShownSoFar, choose_image_set
from .models import (
    AttentionCheck,
    Country,
    Page,
    PageImage,
    Participant,
    Ranking,
    Study,
    SurveyItem,
    new_token,
)
from .questions import ATTENTION_BY_KEY, DEMOGRAPHIC_QUESTIONS, STANDARD_ITEMS, attention_plan
from .recruitment import PLATFORMS_BY_KEY, Recruitment
from .selectors import PageShown

ERROR_STUDY_CLOSED = _("This study is not accepting new participants at the moment.")
ERROR_CONSENT_REQUIRED = _("To take part, please tick the box to say that you agree.")
ERROR_CONSENT_FIRST = _("Please read and accept the consent form first.")
ERROR_COUNTRY_UNKNOWN = _("Please choose one of the countries in the list.")
ERROR_COUNTRY_LOCKED = _("You have already started ranking images for another country.")
ERROR_COUNTRY_EMPTY = _("There are no images for this country yet; please choose another.")
ERROR_COUNTRY_FULL = _(
    "This country's part of the study has all the answers it needs; thank you for your interest."
)
ERROR_DEMOGRAPHIC_MISSING = _("Please answer the question “%(question)s”.")
ERROR_RANK_INCOMPLETE = _("Question %(number)s: please give every image a rank.")
ERROR_RANK_NOT_PERMUTATION = _(
    "Question %(number)s: use each rank from 1 to %(count)s exactly once."
)
ERROR_RANK_UNKNOWN = _(
    "The answer names an image or question that is not on this page. "
    "Please reload the page and rank the images again."
)
ERROR_OPEN_ELSEWHERE = _(
    "This study is already open in another browser or on another device with your "
    "recruitment id. Please continue there. If you cannot, write to the researchers through "
    "the site that sent you: they can let you continue here."
)
ERROR_PAGE_NOT_YOURS = _("This page is not one of yours. Please continue from your own link.")
ERROR_ATTENTION_MISSING = _("Please answer the last question on the page.")
ERROR_ATTENTION_UNKNOWN = _("Please choose one of the answers offered for the last question.")
# Researcher-facing, so not translated.
ERROR_UNKNOWN_PLATFORM = (
    "[survey] recruitment_platform {platform!r} is not one of the platforms the survey "
    "knows ({known}); add it to survey/recruitment.py."
)
ERROR_EXCLUSION_REASON = "Please give a reason for the exclusion."
ERROR_ITEMS_ANSWERED = (
    "The study {slug!r} already has answers, so its questions cannot change from {old} to "
    "{new}; reword them instead, or start a new study (another slug)."
)

# Ties between equally good image sets are broken at random (survey.assignment).
_RANDOM = random.Random()
# Time on page is measured in the browser; anything beyond this is a forgotten tab.
MAX_PAGE_MS = 6 * 60 * 60 * 1000
PRACTICE_IMAGE_COUNT = 4


class SurveyError(Exception):
    """Input the survey cannot accept; ``messages`` are sentences for the participant."""

    def __init__(self, *messages):
        self.messages = [str(message) for message in messages]
        super().__init__(" ".join(self.messages))


class OpenElsewhere(SurveyError):
    """The recruit id's participation belongs to another browser (ERROR_OPEN_ELSEWHERE)."""

    def __init__(self):
        super().__init__(ERROR_OPEN_ELSEWHERE)


@dataclass(frozen=True)
class SubmitResult:
    """What a ranking submission did: ``stored`` is False for a repeated submission."""

    page: Page
    stored: bool
    completed: bool


# --- set-up ---------------------------------------------------------------------------


class SetupError(ValueError):
    """The spec cannot be applied to the study as it stands (researcher-facing)."""


@transaction.atomic
def study_setup(*, spec: StudySpec) -> tuple[Study, bool]:
    """Create or update a study, its countries, its items and its texts from a spec.

    Idempotent: running it again with the same spec changes nothing; with an edited
    spec it updates titles, texts, wording and countries in place. Countries that left
    the spec are kept (participants may point at them); the list of items may change
    only while the study has no answers (SetupError). Returns (study, created).
    """
    defaults = {
        "title": spec.title,
        "consent_text": spec.survey.consent_text,
        "instructions": spec.survey.instructions,
        "attention_checks": spec.survey.attention_checks,
        "seconds_per_page": spec.survey.seconds_per_page,
        "pages_per_participant": spec.survey.pages_per_participant,
        "answers_per_image_set": spec.survey.answers_per_image_set,
        "completion_url": spec.survey.completion_url,
        "translations": _study_translations(spec),
        "quota_counts": spec.survey.quota_counts,
    }
    if spec.survey.recruitment_platform:
        if spec.survey.recruitment_platform not in PLATFORMS_BY_KEY:
            raise SetupError(
                ERROR_UNKNOWN_PLATFORM.format(
                    platform=spec.survey.recruitment_platform, known=", ".join(PLATFORMS_BY_KEY)
                )
            )
        defaults["recruitment_platform"] = spec.survey.recruitment_platform
    if spec.survey.completion_code:
        defaults["completion_code"] = spec.survey.completion_code
    study, created = Study.objects.update_or_create(slug=spec.slug, defaults=defaults)
    for position, country in enumerate(spec.countries):
        Country.objects.update_or_create(
            study=study,
            code=country.code,
            defaults={
                "name": country.name,
                "adjective": country.adjective,
                "language": country.language,
                "position": position,
                "translations": _plain(country.translations),
            },
        )
    _items_setup(study, spec)
    return study, created


def _plain(translations) -> dict:
    return {language: dict(texts) for language, texts in translations.items()}


def _study_translations(spec: StudySpec) -> dict:
    """The spec's texts by language: title, consent, instructions, prompt descriptions."""
    texts: dict[str, dict] = _plain(spec.translations)
    for language, own in spec.survey.translations.items():
        texts.setdefault(language, {}).update(own)
    for _country, prompt in spec.prompts():
        for language, own in prompt.translations.items():
            texts.setdefault(language, {}).setdefault("prompts", {})[prompt.id] = own["text"]
    return texts


def _items_setup(study: Study, spec: StudySpec) -> None:
    standard = {wording.key: wording for wording in STANDARD_ITEMS}
    wanted = []
    for item in spec.survey.items:
        source = standard[item.key] if item.published_wording else item
        wanted.append(
            {
                "key": item.key,
                "question": source.question,
                "best_end": source.best_end,
                "worst_end": source.worst_end,
                "shows_prompt": source.shows_prompt,
                "note": source.note,
                "translations": {} if item.published_wording else _plain(item.translations),
            }
        )
    existing = list(study.items.order_by("position"))
    old_keys, new_keys = [i.key for i in existing], [w["key"] for w in wanted]
    if set(old_keys) != set(new_keys) and Ranking.objects.filter(item__study=study).exists():
        raise SetupError(
            ERROR_ITEMS_ANSWERED.format(
                slug=study.slug, old=", ".join(old_keys), new=", ".join(new_keys)
            )
        )
    study.items.exclude(key__in=new_keys).delete()
    # Positions are unique per study: move the kept items out of the way first.
    for offset, item in enumerate(study.items.all()):
        item.position = 1000 + offset
        item.save(update_fields=["position"])
    for position, wording in enumerate(wanted):
        SurveyItem.objects.update_or_create(
            study=study, key=wording["key"], defaults={**wording, "position": position}
        )


# --- a participant's steps --------------------------------------------------------------


def participant_start(*, study: Study, recruitment: Recruitment) -> Participant:
    """Enrol a new participant.

    One recruit id takes the study once. A recruit id alone never grants access to the
    participant it already enrolled (anyone can type it into a link): the browser that
    enrolled resumes through its session, any other gets ERROR_OPEN_ELSEWHERE until a
    researcher releases the participation (participant_release).
    """
    if recruitment.recruit_id and selectors.participant_by_recruit_id(
        study=study, recruitment=recruitment
    ):
        raise OpenElsewhere()
    if not study.is_open:
        raise SurveyError(ERROR_STUDY_CLOSED)
    try:
        with transaction.atomic():
            return Participant.objects.create(
                study=study,
                recruit_source=recruitment.source,
                recruit_id=recruitment.recruit_id,
                recruit_study_id=recruitment.study_id,
                recruit_session_id=recruitment.session_id,
            )
    except IntegrityError:
        # The same recruit id arrived twice at once: the other request enrolled it.
        raise OpenElsewhere() from None


def participant_release(*, participant: Participant) -> Participant:
    """Let the next browser arriving with this participant's recruit id continue.

    For a participant who lost their browser (a new device, cleared cookies): the
    researcher releases them in the admin, and the next arrival takes over.
    """
    participant.released_at = timezone.now()
    participant.save(update_fields=["released_at"])
    return participant


def participant_claim(*, participant: Participant) -> Participant:
    """Hand a released participant to a new browser: a new token, the release used up.

    The new token logs out the browser that held the participation before. Raises
    OpenElsewhere when the participant is not (or no longer) released, e.g. when two
    browsers claim it at once.
    """
    with transaction.atomic():
        claimed = Participant.objects.filter(
            pk=participant.pk, released_at__isnull=False
        ).update(released_at=None, token=new_token())
    if not claimed:
        raise OpenElsewhere()
    participant.refresh_from_db()
    return participant


def participant_consent(*, participant: Participant, agreed: bool) -> Participant:
    """Record consent; without agreement nothing is stored."""
    if not agreed:
        raise SurveyError(ERROR_CONSENT_REQUIRED)
    if participant.consent_at is None:
        participant.consent_at = timezone.now()
        participant.save(update_fields=["consent_at"])
    return participant


def participant_profile_set(
    *, participant: Participant, country_code: str, demographics: Mapping[str, str]
) -> Participant:
    """Store the chosen country (cultural affiliation) and the demographic answers.

    The country's language becomes the participant's unless they already chose one.
    Choosing a country admits the participant: their first page is reserved at once,
    under the same locks as every assignment, so a country is refused only when no
    image set has room (docs/assignment.md), and arrivals at once cannot all slip in.
    Once pages are assigned the country can no longer change.
    """
    if participant.consent_at is None:
        raise SurveyError(ERROR_CONSENT_FIRST)
    country = selectors.country_by_code(study=participant.study, code=country_code)
    if country is None:
        raise SurveyError(ERROR_COUNTRY_UNKNOWN)
    if participant.country_id not in (None, country.pk) and participant.pages.exists():
        raise SurveyError(ERROR_COUNTRY_LOCKED)
    if selectors.pages_due(participant=participant, country=country) == 0:
        raise SurveyError(ERROR_COUNTRY_EMPTY)
    answers = _demographics_checked(demographics)
    with transaction.atomic():
        # Lock in the order page_next_for_participant does: participant, then country.
        Participant.objects.select_for_update().filter(pk=participant.pk).exists()
        country = _country_locked(country.pk)
        if not participant.pages.exists() and _page_assign(participant, country) is None:
            raise SurveyError(ERROR_COUNTRY_FULL)
        participant.country = country
        participant.demographics = answers
        participant.language = participant.language or country.language
        participant.save(update_fields=["country", "demographics", "language"])
    return participant


def _demographics_checked(demographics: Mapping[str, str]) -> dict[str, str]:
    answers, problems = {}, []
    for question in DEMOGRAPHIC_QUESTIONS:
        value = demographics.get(question.key, "")
        if value not in {option for option, _label in question.options}:
            problems.append(ERROR_DEMOGRAPHIC_MISSING % {"question": _(question.question)})
        answers[question.key] = value
    if problems:
        raise SurveyError(*problems)
    return answers


def participant_language_set(*, participant: Participant, language: str) -> Participant:
    """Remember the language the participant switched to."""
    participant.language = language
    participant.save(update_fields=["language"])
    return participant


def practice_submit(
    *, participant: Participant, ranks: Mapping[str, Mapping[int, int | None]]
) -> Participant:
    """Check the practice page like a real one; only the fact it was done is stored."""
    _check_permutations(ranks, item_keys=["practice"], positions=range(1, PRACTICE_IMAGE_COUNT + 1))
    _hold_renew(participant.pages.all())  # the page reserved on admission waits for them
    if participant.practice_done_at is None:
        participant.practice_done_at = timezone.now()
        participant.save(update_fields=["practice_done_at"])
    return participant


# --- assignment -------------------------------------------------------------------------


def page_next_for_participant(*, participant: Participant) -> Page | None:
    """The participant's open page, or a newly assigned one; None when they are done."""
    shown = page_next_shown(participant=participant)
    return shown.page if shown is not None else None


def page_next_shown(*, participant: Participant) -> PageShown | None:
    """The participant's open page, or a newly assigned one, with what its display
    needs; None when they are done.

    A participant sees only their country's image sets, never one twice, each prompt
    once while any is left, categories spread out, the least-answered first, and only
    sets with room (survey.assignment). Showing the open page renews its hold. The
    participant and country rows are locked for the assignment (SELECT ... FOR UPDATE
    on PostgreSQL; SQLite serialises writers), so participants arriving at once see
    each other's holds and spread out.
    """
    with transaction.atomic():
        participant = (
            Participant.objects.select_related("study", "country__study")
            .select_for_update(of=("self", "country"))
            .get(pk=participant.pk, country__isnull=False)  # an inner join: both rows lock
        )
        country = participant.country
        so_far, open_page = selectors.pages_so_far(participant=participant)
        if open_page is not None:
            if _page_may_move(open_page, participant, country):
                return _page_moved(open_page, participant, country)
            open_page.held_until = _hold_renew(Page.objects.filter(pk=open_page.pk))
            return selectors.page_shown(
                participant=participant, page=open_page, answered=so_far.answered
            )
        loads = selectors.image_set_loads(country=country)
        shown = None
        if so_far.pages < _pages_due(participant, loads):
            shown = _page_assign(participant, country, loads=loads, so_far=so_far)
        if shown is None:
            # Nothing left to show, or no set with room (every one has its answers):
            # the participant has done all we can ask, so they get their code.
            _complete(participant)
        return shown


def _country_locked(pk: int) -> Country:
    """The country row, locked (its study read along, not locked)."""
    return Country.objects.select_related("study").select_for_update(of=("self",)).get(pk=pk)


def _pages_due(participant: Participant, loads: list[ImageSetLoad]) -> int:
    """selectors.pages_due, from the loads already read (one per rankable set)."""
    return min(participant.study.pages_per_participant, len(loads))


def _page_assign(
    participant: Participant,
    country: Country,
    *,
    loads: list[ImageSetLoad] | None = None,
    so_far: ShownSoFar | None = None,
) -> PageShown | None:
    """Reserve the next page for the participant (rows locked by the caller), or None."""
    loads = selectors.image_set_loads(country=country) if loads is None else loads
    so_far = selectors.shown_so_far(participant=participant) if so_far is None else so_far
    chosen = choose_image_set(
        loads, shown=so_far, target=country.study.answers_per_image_set, rng=_RANDOM
    )
    if chosen is None:
        return None
    return _page_create(
        participant=participant,
        image_set_id=chosen.pk,
        index=so_far.pages,
        due=_pages_due(participant, loads),
        answered=so_far.answered,
    )


def _page_may_move(page: Page, participant: Participant, country: Country) -> bool:
    """Whether the open page, never answered, is chosen again now.

    The page reserved on admission is chosen again when first shown, with the loads of
    that moment: chosen before the practice page, it would fix every arrival's first
    set long before it is ranked and upset the balance. A page whose hold lapsed is
    chosen again when others have meanwhile filled its set, so a participant coming
    back late does not push a set past its bound.
    """
    practice_done = participant.practice_done_at
    if page.index == 0 and practice_done is not None and page.created_at < practice_done:
        return True
    if page.held_until is not None and page.held_until > timezone.now():
        return False
    target = country.study.answers_per_image_set
    loads = selectors.image_set_loads(country=country)
    return any(s.pk == page.image_set_id and not s.has_room(target) for s in loads)


def _page_moved(page: Page, participant: Participant, country: Country) -> PageShown:
    """Replace an unanswered page by a page of the set chosen now (or of the same set,
    when no other has room: the participant was admitted and keeps a page)."""
    image_set_id, index = page.image_set_id, page.index
    page.delete()
    loads = selectors.image_set_loads(country=country)
    so_far = selectors.shown_so_far(participant=participant)
    moved = _page_assign(participant, country, loads=loads, so_far=so_far)
    if moved is None:
        moved = _page_create(
            participant=participant,
            image_set_id=image_set_id,
            index=index,
            due=_pages_due(participant, loads),
            answered=so_far.answered,
        )
    return moved


def _hold_renew(pages) -> datetime:
    """Activity on an open page: hold its set's place for another HOLD from now."""
    until = timezone.now() + selectors.HOLD
    pages.filter(submitted_at__isnull=True).update(held_until=until)
    return until


def _page_create(
    *, participant: Participant, image_set_id: int, index: int, due: int, answered: int = 0
) -> PageShown:
    shuffle_seed = secrets.randbits(63)
    images = list(
        GeneratedImage.objects.filter(image_set_id=image_set_id)
        .select_related("image_set")
        .order_by("pk")
    )
    image_set = images[0].image_set if images else ImageSet.objects.get(pk=image_set_id)
    random.Random(shuffle_seed).shuffle(images)
    page = Page.objects.create(
        participant=participant,
        image_set=image_set,
        index=index,
        shuffle_seed=shuffle_seed,
        held_until=timezone.now() + selectors.HOLD,
    )
    shown = PageImage.objects.bulk_create(
        PageImage(page=page, image=image, position=position)
        for position, image in enumerate(images, start=1)
    )
    checks = []
    for key in attention_plan(due, participant.study.attention_checks).get(index, []):
        check, _created = AttentionCheck.objects.get_or_create(
            participant=participant,
            key=key,
            defaults={"page": page, "expected": ATTENTION_BY_KEY[key].expected},
        )
        if check.page_id == page.pk:
            checks.append(check)
    return PageShown(page=page, images=shown, answered=answered, due=due, checks=checks)


# --- rankings ---------------------------------------------------------------------------


def ranking_submit(
    *,
    participant: Participant,
    page_public_id: str,
    ranks: Mapping[str, Mapping[int, int | None]],
    attention: Mapping[str, str] | None = None,
    page_ms: int | None = None,
) -> SubmitResult:
    """Store a page's rankings: one permutation of 1..k per item, k the page's images.

    ``ranks`` maps item key -> position shown (1-based) -> rank (None when unanswered).
    ``attention`` maps attention-check key -> the option chosen. A repeated submission
    of an answered page stores nothing and reports ``stored=False``.
    """
    attention = attention or {}
    try:
        return _ranking_store(participant, page_public_id, ranks, attention, page_ms)
    except SurveyError:
        # Trying to answer is activity, even when the answer is refused.
        _hold_renew(Page.objects.filter(participant=participant, public_id=page_public_id))
        raise


def _ranking_store(participant, page_public_id, ranks, attention, page_ms) -> SubmitResult:
    with transaction.atomic():
        page = (
            Page.objects.select_for_update()
            .filter(participant=participant, public_id=page_public_id)
            .first()
        )
        if page is None:
            raise SurveyError(ERROR_PAGE_NOT_YOURS)
        if page.submitted_at is not None:
            return SubmitResult(page=page, stored=False, completed=_is_complete(participant))
        shown = {image.position: image for image in page.images.all()}
        items = list(participant.study.items.all())
        _check_permutations(ranks, item_keys=[item.key for item in items], positions=shown)
        checks = list(page.attention_checks.all())
        _check_attention(checks, attention)
        now = timezone.now()
        Ranking.objects.bulk_create(
            Ranking(page=page, item=item, page_image=shown[position], rank=rank)
            for item in items
            for position, rank in ranks[item.key].items()
        )
        for check in checks:
            check.answer = attention[check.key]
            check.passed = check.answer == check.expected
            check.answered_at = now
            check.save(update_fields=["answer", "passed", "answered_at"])
        if not all(check.passed for check in checks):
            _attention_failed(participant)
        page.submitted_at = now
        page.page_ms = _page_ms(page, page_ms, now)
        page.save(update_fields=["submitted_at", "page_ms"])
        completed = _complete_if_done(participant=participant)
    return SubmitResult(page=page, stored=True, completed=completed)


def _attention_failed(participant: Participant) -> None:
    """A failed check is known at once: from now on the participant's answers no longer
    count toward the targets (quota rule "valid"), and the export already flags them."""
    Participant.objects.filter(pk=participant.pk).update(attention_ok=False)


def _check_permutations(ranks, *, item_keys, positions) -> None:
    positions = set(positions)
    if set(ranks) - set(item_keys) or any(set(ranks[key]) - positions for key in ranks):
        raise SurveyError(ERROR_RANK_UNKNOWN)
    expected = set(range(1, len(positions) + 1))
    problems = []
    for number, key in enumerate(item_keys, start=1):
        given = ranks.get(key, {})
        values = [given.get(position) for position in positions]
        if any(value is None for value in values):
            problems.append(ERROR_RANK_INCOMPLETE % {"number": number})
        elif set(values) != expected or len(values) != len(expected):
            problems.append(ERROR_RANK_NOT_PERMUTATION % {"number": number, "count": len(expected)})
    if problems:
        raise SurveyError(*problems)


def _check_attention(checks: list[AttentionCheck], attention: Mapping[str, str]) -> None:
    for check in checks:
        answer = attention.get(check.key, "")
        if not answer:
            raise SurveyError(ERROR_ATTENTION_MISSING)
        if answer not in {value for value, _label in ATTENTION_BY_KEY[check.key].options}:
            raise SurveyError(ERROR_ATTENTION_UNKNOWN)


def _page_ms(page: Page, measured: int | None, now) -> int:
    # The browser's measure excludes network time; without it (no JavaScript) the
    # server's view from first display to submission is the best available.
    if measured is None or measured < 0:
        measured = int((now - page.created_at).total_seconds() * 1000)
    return min(measured, MAX_PAGE_MS)


def _is_complete(participant: Participant) -> bool:
    return Participant.objects.filter(pk=participant.pk, completed_at__isnull=False).exists()


def _complete_if_done(*, participant: Participant) -> bool:
    """Give the completion code once every due page is answered; score attention.

    `participant` may be a moment old: `_complete` reads the row again and gives the
    code once."""
    if participant.completed_at is not None:
        return True
    due = selectors.pages_due(participant=participant, country=participant.country)
    answered = participant.pages.filter(submitted_at__isnull=False).count()
    if answered < due:
        return False
    _complete(participant)
    return True


def _complete(participant: Participant) -> None:
    participant = Participant.objects.select_related("study").get(pk=participant.pk)
    if participant.completed_at is not None:
        return
    checks = list(participant.attention_checks.values_list("passed", flat=True))
    # A study without checks has nothing to fail; otherwise every check shown must be
    # answered and passed. No check shown at all (the targets filled before a page with
    # one came): no verdict, which the export and the quotas count as passed.
    expected = participant.study.attention_checks
    participant.attention_ok = True if expected == 0 else (all(checks) if checks else None)
    participant.completed_at = timezone.now()
    participant.completion_code = participant.study.completion_code
    participant.save(update_fields=["attention_ok", "completed_at", "completion_code"])


def participant_exclude(*, participant: Participant, reason: str) -> Participant:
    """Exclude a participant from analysis, keeping every row they produced."""
    reason = reason.strip()
    if not reason:
        raise ValueError(ERROR_EXCLUSION_REASON)
    participant.excluded = True
    participant.exclusion_reason = reason
    participant.save(update_fields=["excluded", "exclusion_reason"])
    return participant


def participant_include(*, participant: Participant) -> Participant:
    """Undo an exclusion: the participant's answers count in the analysis again."""
    participant.excluded = False
    participant.exclusion_reason = ""
    participant.save(update_fields=["excluded", "exclusion_reason"])
    return participant
