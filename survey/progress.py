"""How far a study has come: the researcher's progress page and the API read this.

Counts per country (participants started, completed, excluded, failing an attention
check, median time per page) and answers per image set against the study's target.
Two counts per image set: ``answers``, the answers that count toward the target under
the study's quota rule (by default those of participants who are not excluded and have
not failed an attention check, the ones the analysis uses and the assignment balances;
docs/assignment.md), and ``all_answers``, every answered page.
"""

import statistics
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Count, Exists, OuterRef, Q

from . import selectors
from .models import AttentionCheck, Page, Participant, Study

NO_COUNTRY = ""  # the row of participants who have not chosen a country yet


class _ImageSetTotals:
    """Totals over ``self.image_sets``, shared by a country's row and the whole study."""

    image_sets: list["ImageSetProgress"]
    median_page_ms: int | None

    @property
    def median_page_minutes(self) -> float | None:
        return None if self.median_page_ms is None else self.median_page_ms / 60_000

    @property
    def image_sets_reached(self) -> int:
        return sum(image_set.reached for image_set in self.image_sets)

    @property
    def answers(self) -> int:
        return sum(image_set.answers for image_set in self.image_sets)

    @property
    def all_answers(self) -> int:
        return sum(image_set.all_answers for image_set in self.image_sets)

    @property
    def answers_wanted(self) -> int:
        return sum(image_set.target for image_set in self.image_sets)


@dataclass
class CountryProgress(_ImageSetTotals):
    """One country's row: participants and their pages."""

    code: str
    name: str
    started: int = 0
    completed: int = 0
    excluded: int = 0
    attention_failed: int = 0
    pages_answered: int = 0
    median_page_ms: int | None = None
    image_sets: list["ImageSetProgress"] = field(default_factory=list)


@dataclass(frozen=True)
class ImageSetProgress:
    """Answers one image set has, against the study's target."""

    public_id: str
    country: str
    prompt_id: str
    seed: int
    answers: int  # counted toward the target (the study's quota rule)
    target: int
    all_answers: int = 0  # every answered page, counted or not

    @property
    def reached(self) -> bool:
        return self.answers >= self.target


@dataclass
class StudyProgress(_ImageSetTotals):
    """Everything on the progress page of one study."""

    study: Study
    countries: list[CountryProgress]
    image_sets: list[ImageSetProgress] = field(default_factory=list)
    median_page_ms: int | None = None

    @property
    def started(self) -> int:
        return sum(country.started for country in self.countries)

    @property
    def completed(self) -> int:
        return sum(country.completed for country in self.countries)

    @property
    def attention_failed(self) -> int:
        return sum(country.attention_failed for country in self.countries)

    @property
    def excluded(self) -> int:
        return sum(country.excluded for country in self.countries)

    @property
    def balance(self) -> int | None:
        """Most minus fewest answers over the image sets (0 = perfectly even)."""
        if not self.image_sets:
            return None
        answers = [image_set.answers for image_set in self.image_sets]
        return max(answers) - min(answers)


def _median(values: list[int]) -> int | None:
    return round(statistics.median(values)) if values else None


def study_progress(*, study: Study) -> StudyProgress:
    """The study's progress, in a handful of queries whatever its size."""
    rows = {
        country.code: CountryProgress(code=country.code, name=country.name)
        for country in selectors.countries_for_study(study=study)
    }
    failed = AttentionCheck.objects.filter(participant=OuterRef("pk"), passed=False)
    participants = (
        Participant.objects.filter(study=study)
        .annotate(failed=Exists(failed))
        .values("country__code", "country__name")
        .annotate(
            started=Count("pk"),
            completed=Count("pk", filter=Q(completed_at__isnull=False)),
            excluded=Count("pk", filter=Q(excluded=True)),
            attention_failed=Count("pk", filter=Q(failed=True)),
        )
        .order_by()
    )
    for group in participants:
        code = group["country__code"] or NO_COUNTRY
        row = rows.setdefault(code, CountryProgress(code=code, name=group["country__name"] or ""))
        row.started = group["started"]
        row.completed = group["completed"]
        row.excluded = group["excluded"]
        row.attention_failed = group["attention_failed"]

    times = defaultdict(list)
    submitted = Page.objects.filter(
        participant__study=study, submitted_at__isnull=False, participant__excluded=False
    ).values_list("participant__country__code", "page_ms")
    for code, page_ms in submitted.iterator(chunk_size=10_000):
        times[code].append(page_ms if page_ms is not None else 0)
    for code, values in times.items():
        row = rows.setdefault(code, CountryProgress(code=code, name=""))
        row.pages_answered = len(values)
        row.median_page_ms = _median(values)

    image_sets = [
        ImageSetProgress(
            public_id=image_set.public_id,
            country=image_set.country_code,
            prompt_id=image_set.prompt_id,
            seed=image_set.seed,
            answers=image_set.answers,
            target=study.answers_per_image_set,
            all_answers=image_set.all_answers,
        )
        for image_set in selectors.image_set_answer_counts(study=study).order_by(
            "country_code", "prompt_id", "seed"
        )
    ]
    for image_set in image_sets:
        row = rows.setdefault(image_set.country, CountryProgress(code=image_set.country, name=""))
        row.image_sets.append(image_set)
    for row in rows.values():  # the sets furthest from their target first
        row.image_sets.sort(key=lambda s: (s.answers - s.target, s.prompt_id, s.seed))
    every_time = [value for values in times.values() for value in values]
    ordered = sorted(rows.values(), key=lambda row: row.code == NO_COUNTRY)
    return StudyProgress(
        study=study,
        countries=ordered,
        image_sets=image_sets,
        median_page_ms=_median(every_time),
    )
