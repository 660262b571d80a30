"""A study's participant-facing text in the participant's language, English as fallback.

The spec gives each text in English and, optionally, in other languages (its
`translations` tables, stored on Study, Country and SurveyItem). The built-in wording
(survey.questions) and the published countries' names are translated by the survey's
own catalogue (gettext). Whatever has no translation is shown in English.
"""

import math
import statistics

from django.utils import translation
from django.utils.translation import gettext

from .models import Country, Page, Study, SurveyItem

# Consent, about you and the practice page, before the first ranking page.
START_SECONDS = 150
# The consent text uses the study's own median time per page once this many pages have
# been answered; before that, the spec's estimate (seconds_per_page).
MEASURED_PAGES_WANTED = 20
MEASURED_PAGES_KEPT = 5000


def _language() -> str:
    return translation.get_language() or "en"


def _own(translations: dict, key: str, language: str | None = None) -> str:
    return (translations or {}).get(language or _language(), {}).get(key, "")


def study_text(study: Study, key: str) -> str:
    """The study's title, consent_text or instructions in the active language ("" = none)."""
    return _own(study.translations, key) or getattr(study, key)


def country_text(country: Country, key: str) -> str:
    """The country's name or adjective: the spec's translation, the catalogue's, or English."""
    return _own(country.translations, key) or gettext(getattr(country, key))


def prompt_description(study: Study, prompt_id: str, english: str) -> str:
    """An image set's description (its prompt) in the active language."""
    own = (study.translations or {}).get(_language(), {}).get("prompts", {})
    return own.get(prompt_id) or english


def item_wording(item: SurveyItem, adjective: str) -> dict[str, str]:
    """The item's question, ends and note in the active language, {adjective} filled in."""
    wording = {}
    for key in ("question", "best_end", "worst_end", "note"):
        english = getattr(item, key)
        text = _own(item.translations, key) or (gettext(english) if english else "")
        wording[key] = text.replace("{adjective}", adjective)
    return wording


def is_translated(language: str, text: str) -> bool:
    """Whether the survey's own catalogue translates this English text into `language`."""
    with translation.override(language):
        return gettext(text) != text


def consent_minutes(study: Study) -> int:
    """About how long the study takes: its pages at the measured (or estimated) pace."""
    measured = list(
        Page.objects.filter(
            participant__study=study,
            participant__excluded=False,
            submitted_at__isnull=False,
            page_ms__isnull=False,
        )
        .order_by("-submitted_at")  # the latest pages tell the current pace
        .values_list("page_ms", flat=True)[:MEASURED_PAGES_KEPT]
    )
    if len(measured) >= MEASURED_PAGES_WANTED:
        seconds = statistics.median(measured) / 1000
    else:
        seconds = study.seconds_per_page
    minutes = (study.pages_per_participant * seconds + START_SECONDS) / 60
    return max(1, math.floor(minutes + 0.5))
