"""Participants who answered pages, made through the services (fast; no HTTP)."""

from survey.questions import ATTENTION_BY_KEY
from survey.services import Recruitment, page_next_for_participant, ranking_submit


def answer_pages(participant, pages=None, *, fail_attention=False, page_ms=12_000):
    """Answer ``pages`` pages (all that are due when None) with rank = position."""
    done = 0
    while pages is None or done < pages:
        page = page_next_for_participant(participant=participant)
        if page is None:
            break
        positions = [image.position for image in page.images.all()]
        ranks = {item.key: {p: p for p in positions} for item in participant.study.items.all()}
        attention = {
            check.key: _wrong(check) if fail_attention else check.expected
            for check in page.attention_checks.all()
        }
        ranking_submit(
            participant=participant,
            page_public_id=page.public_id,
            ranks=ranks,
            attention=attention,
            page_ms=page_ms,
        )
        done += 1
    participant.refresh_from_db()
    return participant


def recruit(number: int) -> Recruitment:
    return Recruitment(source="prolific", recruit_id=f"pid{number}", study_id="s", session_id="x")


def _wrong(check) -> str:
    """An offered answer that is not the expected one."""
    return next(v for v, _label in ATTENTION_BY_KEY[check.key].options if v != check.expected)


def china_and_india(**options):
    """A study of two countries, CN and IN, whatever the factories' default countries."""
    from .factories import COUNTRIES, make_study

    countries = [country for country in COUNTRIES if country.code in ("CN", "IN")]
    return make_study(countries=sorted(countries, key=lambda c: c.code), **options)
