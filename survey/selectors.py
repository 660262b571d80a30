"""Everything that reads survey rows: where a participant stands, pages, progress, export."""

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from generation.models import ImageSet
from study.spec import QUOTA_VALID

from .assignment import ImageSetLoad, ShownSoFar, any_room
from .models import AttentionCheck, Country, Page, PageImage, Participant, Ranking, Study


class Step(StrEnum):
    """Where a participant is in the flow; views redirect here on every visit (resume)."""

    CONSENT = "consent"
    PROFILE = "profile"
    PRACTICE = "practice"
    PAGE = "page"
    DONE = "done"


def study_by_slug(*, slug: str) -> Study | None:
    """The study with this slug, or None."""
    return Study.objects.filter(slug=slug).first()


def participant_by_token(*, study: Study, token: str) -> Participant | None:
    """The participant holding this secret token in this study, or None."""
    if not token:
        return None
    try:
        participant = Participant.objects.select_related("country").get(study=study, token=token)
    except Participant.DoesNotExist:
        return None
    participant.study = study  # the caller's row: no second read
    return participant


def participant_by_recruit_id(*, study: Study, recruitment) -> Participant | None:
    """The participant a Prolific/MTurk id already enrolled in this study, or None."""
    return (
        Participant.objects.select_related("study", "country")
        .filter(study=study, recruit_source=recruitment.source, recruit_id=recruitment.recruit_id)
        .first()
    )


def participant_step(*, participant: Participant) -> Step:
    """The step the participant has to do next."""
    if participant.completed_at is not None:
        return Step.DONE
    if participant.consent_at is None:
        return Step.CONSENT
    if participant.country_id is None:
        return Step.PROFILE
    if participant.practice_done_at is None:
        return Step.PRACTICE
    return Step.PAGE


def country_by_code(*, study: Study, code: str) -> Country | None:
    """The study's country with this code, or None."""
    return Country.objects.filter(study=study, code=code).first()


def countries_for_study(*, study: Study) -> QuerySet[Country]:
    """The countries a participant may choose, in spec order."""
    return study.countries.all()


def image_sets_for_country(*, country: Country) -> QuerySet[ImageSet]:
    """The country's image sets that can be ranked (at least two images)."""
    return _rankable_sets(study_slug=country.study.slug, country_code=country.code)


def _rankable_sets(*, study_slug: str, country_code: str) -> QuerySet[ImageSet]:
    return (
        ImageSet.objects.filter(study_slug=study_slug, country_code=country_code)
        .annotate(image_count=Count("images", distinct=True))
        .filter(image_count__gte=2)
    )


# A page shown but not yet answered holds its image set's place for this long after the
# participant's last activity on it (shown, reloaded, an answer tried), so arrivals at
# once spread over the sets, and a page abandoned (or opened by a bot) frees its place
# soon. Published pages take one to two minutes; a page's time beyond this is rare.
HOLD = timedelta(minutes=10)


def answers_count(*, study: Study, prefix: str = "") -> Q:
    """Pages whose participant's answers count toward the target under the study's rule.

    "valid": participants not excluded and not failing an attention check (those still
    taking the study count as pending until a check fails); "not-excluded": every
    participant not excluded. ``prefix`` reaches pages from another model, e.g.
    "survey_pages__" from ImageSet.
    """
    counted = Q(**{f"{prefix}participant__excluded": False})
    if study.quota_counts == QUOTA_VALID:
        ok = f"{prefix}participant__attention_ok"
        counted &= Q(**{f"{ok}__isnull": True}) | Q(**{ok: True})
    return counted


def image_set_loads(*, country: Country) -> list[ImageSetLoad]:
    """The country's image sets with their counted answers and live holds."""
    counted = answers_count(study=country.study, prefix="survey_pages__")
    answered = counted & Q(survey_pages__submitted_at__isnull=False)
    held = counted & Q(
        survey_pages__submitted_at__isnull=True, survey_pages__held_until__gt=timezone.now()
    )
    # A first page reserved on admission and not shown yet: its participant has not
    # finished the practice, or finished it after the page was made.
    practice_done = "survey_pages__participant__practice_done_at"
    unshown = Q(survey_pages__index=0) & (
        Q(**{f"{practice_done}__isnull": True})
        | Q(survey_pages__created_at__lt=F(practice_done))
    )
    rows = (
        image_sets_for_country(country=country)
        .annotate(
            answers=Count("survey_pages", filter=answered, distinct=True),
            holds=Count("survey_pages", filter=held & ~unshown, distinct=True),
            reserved=Count("survey_pages", filter=held & unshown, distinct=True),
        )
        .order_by("pk")
        .values_list("pk", "prompt_id", "category", "answers", "holds", "reserved")
    )
    return [ImageSetLoad(*row) for row in rows]


def shown_so_far(*, participant: Participant) -> ShownSoFar:
    """The image sets, prompts and categories of the participant's pages, in order."""
    return pages_so_far(participant=participant)[0]


def pages_so_far(*, participant: Participant) -> tuple[ShownSoFar, Page | None]:
    """What the participant has been shown, and their open page (shown, not answered)."""
    pages = list(participant.pages.select_related("image_set").order_by("index"))
    shown = ShownSoFar(
        image_sets=frozenset(page.image_set_id for page in pages),
        prompts=frozenset(page.image_set.prompt_id for page in pages),
        categories=tuple(page.image_set.category for page in pages),
        answered=sum(page.submitted_at is not None for page in pages),
    )
    return shown, next((page for page in pages if page.submitted_at is None), None)


def country_is_full(*, country: Country) -> bool:
    """No image set of the country has room for a newcomer (survey.assignment).

    A set has room while its counted answers are short of the target, unless it already
    has one live hold more than it needs; so open pages alone never close a country for
    longer than HOLD, and answers that stop counting (a failed check, an exclusion)
    open it again.
    """
    target = country.study.answers_per_image_set
    return not any_room(image_set_loads(country=country), target=target)


def pages_due(*, participant: Participant, country: Country) -> int:
    """How many pages this participant ranks: the study's number, or fewer sets."""
    study = participant.study
    available = _rankable_sets(study_slug=study.slug, country_code=country.code).count()
    return min(study.pages_per_participant, available)


@dataclass(frozen=True)
class PageShown:
    """A ranking page with what its display needs."""

    page: Page
    images: list[PageImage]  # in the order shown, each with its GeneratedImage
    answered: int  # pages the participant has answered
    due: int  # pages the participant ranks in all
    checks: list[AttentionCheck]  # the page's attention checks


def page_shown(*, participant: Participant, page: Page, answered: int | None = None) -> PageShown:
    """The page, its images and the participant's progress (`answered` when the caller
    has counted it already), read from the database."""
    if answered is None:
        answered = participant.pages.filter(submitted_at__isnull=False).count()
    due = pages_due(participant=participant, country=participant.country)
    images = list(page.images.select_related("image").order_by("position"))
    checks = list(page.attention_checks.all())
    return PageShown(page=page, images=images, answered=answered, due=due, checks=checks)


def image_set_answer_counts(*, study: Study) -> QuerySet[ImageSet]:
    """The study's image sets with ``answers`` (answered pages that count toward the
    target under the study's rule, see `answers_count`) and ``all_answers`` (every
    answered page, excluded participants' too)."""
    answered = Q(survey_pages__submitted_at__isnull=False)
    counted = answered & answers_count(study=study, prefix="survey_pages__")
    return ImageSet.objects.filter(study_slug=study.slug).annotate(
        answers=Count("survey_pages", filter=counted, distinct=True),
        all_answers=Count("survey_pages", filter=answered, distinct=True),
    )


EXPORT_COLUMNS = (
    "study",
    "country",
    "participant",
    "image_set",
    "prompt_id",
    "prompt",
    "seed",
    "item",
    "variant",
    "rank",
    "position",
    "page_ms",
    "attention_ok",
    "submitted_at",
    "excluded",
    "exclusion_reason",
    "variant_label",
    "country_name",
)


# Where each export column comes from, relative to Ranking.
EXPORT_SOURCES = {
    "study": "page__participant__study__slug",
    "country": "page__participant__country__code",
    "participant": "page__participant__public_id",
    "image_set": "page__image_set__public_id",
    "prompt_id": "page__image_set__prompt_id",
    "prompt": "page__image_set__prompt",
    "seed": "page__image_set__seed",
    "item": "item__key",
    "variant": "page_image__image__variant__key",
    "rank": "rank",
    "position": "page_image__position",
    "page_ms": "page__page_ms",
    "attention_ok": "page__participant__attention_ok",
    "submitted_at": "page__submitted_at",
    "excluded": "page__participant__excluded",
    "exclusion_reason": "page__participant__exclusion_reason",
    "variant_label": "page_image__image__variant__label",
    "country_name": "page__participant__country__name",
}


def rankings_for_export(*, study: Study) -> QuerySet:
    """One tuple per participant x image set x item x variant.

    The columns of docs/ARCHITECTURE.md, "Rankings export".

    A single query whose tuples hold EXPORT_COLUMNS in order; iterate it with
    ``.iterator(chunk_size=...)`` to stream in bounded memory. Pages not yet answered
    have no rankings and so no rows.
    """
    return (
        Ranking.objects.filter(page__participant__study=study)
        .order_by(
            "page__participant__created_at",
            "page__participant_id",
            "page__index",
            "item__position",
            "page_image__position",
        )
        .values_list(*(EXPORT_SOURCES[column] for column in EXPORT_COLUMNS))
    )
