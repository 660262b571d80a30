"""Studies, countries, survey items, participants, pages and rankings.

The participant side writes these rows through survey.services; the researcher side
reads them (admin, progress, export). Invariants that must hold under concurrency live
in database constraints: one ranking per page, item and image; ranks distinct per page
and item; one page per participant and image set; one participation per recruit id.
"""

import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from generation.models import GeneratedImage, ImageSet
from study.spec import (
    DEFAULT_ANSWERS_PER_IMAGE_SET,
    DEFAULT_ATTENTION_CHECKS,
    DEFAULT_PAGES_PER_PARTICIPANT,
    DEFAULT_SECONDS_PER_PAGE,
    MAX_ATTENTION_CHECKS,
    QUOTA_NOT_EXCLUDED,
    QUOTA_VALID,
    completion_url_problem,
)

from .recruitment import DEFAULT_PLATFORM, DIRECT, PLATFORM_CHOICES, SOURCE_CHOICES

LANGUAGE_CHOICES = settings.LANGUAGES
# A page shows at most this many images (the study shows four, one per variant).
MAX_IMAGES_PER_PAGE = 26


def new_token() -> str:
    """The participant's secret: kept in their session only, never in a URL or export."""
    return secrets.token_urlsafe(32)


def new_participant_id() -> str:
    """A pseudonymous id for exports and the admin; reveals nothing about the token."""
    return "p" + secrets.token_hex(6)


def new_public_id() -> str:
    """An opaque id for URLs that says nothing about variant, prompt or order."""
    return secrets.token_urlsafe(16)


def validate_completion_url(url: str) -> None:
    """Refuse completion links other than https:// ones (no javascript:, no scheme-less)."""
    if url and (reason := completion_url_problem(url)):
        raise ValidationError(f"The completion URL {reason}.", code="completion_url")


def new_completion_code() -> str:
    """A completion code in the style recruitment platforms use (upper case, 8 chars)."""
    return secrets.token_hex(4).upper()


class Study(models.Model):
    """One survey: its title, consent text, how many pages each participant ranks."""

    slug = models.SlugField(max_length=64, unique=True, help_text="= ImageSet.study_slug.")
    # Participant links carry this opaque id rather than the slug, which researchers
    # may name after the method ("scoft-demo") and so hint at what is compared.
    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    title = models.CharField(max_length=300)
    consent_text = models.TextField(
        blank=True,
        help_text="Shown on the consent page; a default text when empty. {minutes} is "
        "replaced by the estimated duration.",
    )
    instructions = models.TextField(
        blank=True, help_text="Shown above the practice page; the built-in ones when empty."
    )
    attention_checks = models.PositiveSmallIntegerField(
        default=DEFAULT_ATTENTION_CHECKS, help_text="Attention questions per participant."
    )
    seconds_per_page = models.PositiveSmallIntegerField(
        default=DEFAULT_SECONDS_PER_PAGE,
        help_text="Estimated time per ranking page for the consent text, until measured.",
    )
    # {language: {"title", "consent_text", "instructions": text, "prompts": {id: text}}}
    translations = models.JSONField(default=dict, blank=True)
    pages_per_participant = models.PositiveSmallIntegerField(default=DEFAULT_PAGES_PER_PARTICIPANT)
    answers_per_image_set = models.PositiveSmallIntegerField(
        default=DEFAULT_ANSWERS_PER_IMAGE_SET,
        help_text="Target number of answered pages per image set.",
    )
    quota_counts = models.CharField(
        max_length=16,
        choices=[
            (QUOTA_VALID, "answers of participants who passed their attention checks"),
            (QUOTA_NOT_EXCLUDED, "every answer of a participant who is not excluded"),
        ],
        default=QUOTA_VALID,
        help_text="Which answers count toward the target (docs/assignment.md).",
    )
    completion_code = models.CharField(max_length=64, default=new_completion_code)
    recruitment_platform = models.CharField(
        max_length=16,
        choices=PLATFORM_CHOICES,
        default=DEFAULT_PLATFORM,
        help_text="Where participants are recruited (survey/recruitment.py).",
    )
    completion_url = models.CharField(
        max_length=500,
        blank=True,
        validators=[validate_completion_url],
        help_text=(
            "Where the platform's arrivals go at the end (https only; {code} becomes the "
            "completion code); the platform's standard link when empty."
        ),
    )
    is_open = models.BooleanField(default=True, help_text="Closed studies accept no one new.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]
        verbose_name_plural = "studies"
        constraints = [
            models.CheckConstraint(
                condition=Q(pages_per_participant__gte=1), name="study_has_at_least_one_page"
            ),
            models.CheckConstraint(
                condition=Q(answers_per_image_set__gte=1),
                name="study_wants_at_least_one_answer",
            ),
            models.CheckConstraint(
                condition=Q(attention_checks__lte=MAX_ATTENTION_CHECKS),
                name="study_attention_checks_in_range",
            ),
            models.CheckConstraint(
                condition=Q(seconds_per_page__gte=1), name="study_page_takes_some_time"
            ),
            models.CheckConstraint(
                condition=Q(quota_counts__in=[QUOTA_VALID, QUOTA_NOT_EXCLUDED]),
                name="study_quota_rule_is_known",
            ),
        ]

    def __str__(self) -> str:
        return self.slug


class StudyMembership(models.Model):
    """A researcher's access to one study: its admin pages, API and exports.

    Staff without the global survey permissions see only the studies they are members
    of (survey.permissions.StudyMembershipBackend grants the permissions per study).
    """

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="study_memberships"
    )
    can_change_participants = models.BooleanField(
        default=True, help_text="May exclude and include the study's participants."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "user"]
        constraints = [
            models.UniqueConstraint(fields=["study", "user"], name="one_membership_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.study}"


class Country(models.Model):
    """A country of a study: participants choose it as their cultural affiliation."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="countries")
    code = models.CharField(max_length=16, help_text="= ImageSet.country_code.")
    name = models.CharField(max_length=100)
    adjective = models.CharField(max_length=100, help_text="As in 'Chinese culture'.")
    language = models.CharField(max_length=16, choices=LANGUAGE_CHOICES, default="en")
    position = models.PositiveSmallIntegerField(default=0, help_text="Order in the spec.")
    translations = models.JSONField(default=dict, blank=True)  # {language: {name, adjective}}

    class Meta:
        ordering = ["study", "position", "code"]
        verbose_name_plural = "countries"
        constraints = [
            models.UniqueConstraint(fields=["study", "code"], name="country_code_unique_per_study"),
            models.CheckConstraint(
                condition=Q(language__in=[code for code, _ in LANGUAGE_CHOICES]),
                name="country_language_is_supported",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.study.slug}/{self.code}"


class SurveyItem(models.Model):
    """One question asked on every page: a ranking of all images, rank 1 the best end.

    The wording may contain ``{adjective}`` (the country's adjective). Standard wordings
    are translated; a researcher's own wording is shown as written.
    """

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="items")
    key = models.SlugField(max_length=64, help_text="Used in the export.")
    position = models.PositiveSmallIntegerField(default=0)
    question = models.CharField(max_length=300)
    best_end = models.CharField(max_length=200, help_text="What rank 1 means.")
    worst_end = models.CharField(max_length=200, help_text="What the last rank means.")
    shows_prompt = models.BooleanField(default=False)
    note = models.CharField(
        max_length=300, blank=True, help_text="Shown under the question, e.g. ignore artifacts."
    )
    # {language: {question, best_end, worst_end, note}}; the published wording is
    # translated by the survey's own catalogue instead.
    translations = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["study", "position", "key"]
        constraints = [
            models.UniqueConstraint(fields=["study", "key"], name="item_key_unique_per_study"),
            models.UniqueConstraint(
                fields=["study", "position"], name="item_position_unique_per_study"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.study.slug}/{self.key}"


class Participant(models.Model):
    """One person taking one study, from consent to completion code."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="participants")
    public_id = models.CharField(
        max_length=16, unique=True, default=new_participant_id, editable=False
    )
    token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    country = models.ForeignKey(
        Country, on_delete=models.PROTECT, null=True, blank=True, related_name="participants"
    )
    language = models.CharField(max_length=16, choices=LANGUAGE_CHOICES, blank=True)
    demographics = models.JSONField(default=dict, blank=True)
    # Recruitment ids (survey/recruitment.py): the platform, then the participant's,
    # study's and session's ids on it, e.g. Prolific's PROLIFIC_PID, STUDY_ID, SESSION_ID.
    recruit_source = models.CharField(max_length=16, choices=SOURCE_CHOICES, default=DIRECT)
    recruit_id = models.CharField(max_length=128, blank=True)
    recruit_study_id = models.CharField(max_length=128, blank=True)
    recruit_session_id = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    consent_at = models.DateTimeField(null=True, blank=True)
    practice_done_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # A recruit id opens its participation in one browser only; a researcher may
    # release it so that the next browser arriving with the id takes it over.
    released_at = models.DateTimeField(
        null=True, blank=True, help_text="Released to the next browser with this recruit id."
    )
    completion_code = models.CharField(max_length=64, blank=True)
    attention_ok = models.BooleanField(
        null=True,
        blank=True,
        help_text="False once a check fails; True when finished with every check passed; "
        "empty before, or when no check was shown.",
    )
    excluded = models.BooleanField(default=False)
    exclusion_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["study", "created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "recruit_source", "recruit_id"],
                condition=~Q(recruit_id=""),
                name="one_participation_per_recruit_id",
            ),
            models.CheckConstraint(
                condition=Q(excluded=False) | ~Q(exclusion_reason=""),
                name="exclusion_has_a_reason",
            ),
        ]

    def __str__(self) -> str:
        return self.public_id


class Page(models.Model):
    """One image set shown to one participant: positions as shown, time on page."""

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="pages")
    image_set = models.ForeignKey(ImageSet, on_delete=models.PROTECT, related_name="survey_pages")
    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    index = models.PositiveSmallIntegerField(help_text="0 for the participant's first page.")
    shuffle_seed = models.BigIntegerField(help_text="Seed of the shuffle of positions.")
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    page_ms = models.PositiveIntegerField(null=True, blank=True, help_text="Time on page.")
    # An unanswered page holds its image set's place until then; the participant's
    # activity renews it (survey.services), so an abandoned page frees its place soon.
    held_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["participant", "index"]
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "image_set"], name="image_set_once_per_participant"
            ),
            models.UniqueConstraint(fields=["participant", "index"], name="page_index_unique"),
        ]
        indexes = [models.Index(fields=["image_set", "submitted_at"])]

    def __str__(self) -> str:
        return f"{self.participant_id}#{self.index}"


class PageImage(models.Model):
    """An image as shown on a page: its position (1 = first) and an opaque URL id."""

    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="images")
    image = models.ForeignKey(GeneratedImage, on_delete=models.PROTECT, related_name="+")
    position = models.PositiveSmallIntegerField()
    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)

    class Meta:
        ordering = ["page", "position"]
        constraints = [
            models.UniqueConstraint(fields=["page", "position"], name="one_image_per_position"),
            models.UniqueConstraint(fields=["page", "image"], name="image_once_per_page"),
            models.CheckConstraint(
                condition=Q(position__gte=1) & Q(position__lte=MAX_IMAGES_PER_PAGE),
                name="position_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.page} @{self.position}"


class Ranking(models.Model):
    """The rank one participant gave one image of a page for one item (1 = best end)."""

    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="rankings")
    item = models.ForeignKey(SurveyItem, on_delete=models.PROTECT, related_name="rankings")
    page_image = models.ForeignKey(PageImage, on_delete=models.CASCADE, related_name="rankings")
    rank = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["page", "item", "rank"]
        constraints = [
            models.UniqueConstraint(
                fields=["page", "item", "page_image"], name="one_rank_per_image_and_item"
            ),
            models.UniqueConstraint(fields=["page", "item", "rank"], name="ranks_distinct"),
            models.CheckConstraint(
                condition=Q(rank__gte=1) & Q(rank__lte=MAX_IMAGES_PER_PAGE),
                name="rank_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.page} {self.item.key}: {self.rank}"


class AttentionCheck(models.Model):
    """An instructed-response question on a page ("please choose ..."), with the answer."""

    participant = models.ForeignKey(
        Participant, on_delete=models.CASCADE, related_name="attention_checks"
    )
    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="attention_checks")
    key = models.SlugField(max_length=64, help_text="Which attention question (survey.questions).")
    expected = models.CharField(max_length=64)
    answer = models.CharField(max_length=64, blank=True)
    passed = models.BooleanField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["participant", "page__index"]
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "key"], name="check_once_per_participant"
            ),
            models.CheckConstraint(
                condition=Q(answered_at__isnull=True) | Q(passed__isnull=False),
                name="answered_check_is_scored",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.participant_id}/{self.key}"
