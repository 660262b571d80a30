"""`{{ study|in_language:"title" }}`: a study's text in the participant's language."""

from django import template

from survey.texts import study_text

register = template.Library()


@register.filter
def in_language(study, key: str) -> str:
    """The study's `key` text (title, consent_text, instructions) in the active language."""
    return study_text(study, key)
