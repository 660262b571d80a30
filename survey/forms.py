"""Reading the participant's forms into the plain values the services take.

The ranking form names each answer ``rank-<item key>-<position>``; the same names come
from the select boxes (no JavaScript) and from the drag-and-drop list, which only sets
the select boxes.
"""

import re
from collections.abc import Mapping

RANK_FIELD = re.compile(r"^rank-(?P<item>[-\w]+)-(?P<position>\d{1,3})$")
ATTENTION_PREFIX = "attention-"


def rank_field_name(item_key: str, position: int) -> str:
    """The form field holding one image's rank for one item."""
    return f"rank-{item_key}-{position}"


def ranks_from_post(data: Mapping[str, str]) -> dict[str, dict[int, int | None]]:
    """item key -> position -> rank; a blank or non-numeric rank becomes None."""
    ranks: dict[str, dict[int, int | None]] = {}
    for name in data:
        match = RANK_FIELD.match(name)
        if match is None:
            continue
        value = data.get(name, "").strip()
        rank = int(value) if value.isdigit() and len(value) <= 3 else None
        ranks.setdefault(match["item"], {})[int(match["position"])] = rank
    return ranks


def attention_from_post(data: Mapping[str, str]) -> dict[str, str]:
    """attention-check key -> the chosen option."""
    return {
        name.removeprefix(ATTENTION_PREFIX): data.get(name, "")
        for name in data
        if name.startswith(ATTENTION_PREFIX)
    }


def page_ms_from_post(data: Mapping[str, str]) -> int | None:
    """Time on page as measured by the browser, or None when absent (no JavaScript)."""
    value = data.get("page_ms", "").strip()
    return int(value) if value.isdigit() and len(value) <= 9 else None


def recruitment_fields(query: Mapping[str, str]) -> dict[str, str]:
    """The recruitment ids in a landing URL, under the names the platforms use."""
    names = ("PROLIFIC_PID", "STUDY_ID", "SESSION_ID", "workerId", "hitId", "assignmentId")
    return {name: query.get(name, "").strip() for name in names if query.get(name, "").strip()}


RECRUIT_ID = re.compile(r"^[-\w.]{1,128}$")
MTURK_PREVIEW = "ASSIGNMENT_ID_NOT_AVAILABLE"


class RecruitmentError(ValueError):
    """The recruitment ids in the link are malformed."""


def recruitment_from_fields(fields: Mapping[str, str]):
    """A services.Recruitment from Prolific's or MTurk's ids (direct when none)."""
    from .services import Recruitment

    for value in fields.values():
        if not RECRUIT_ID.match(value):
            raise RecruitmentError(value)
    if fields.get("PROLIFIC_PID"):
        return Recruitment(
            source="prolific",
            recruit_id=fields["PROLIFIC_PID"],
            study_id=fields.get("STUDY_ID", ""),
            session_id=fields.get("SESSION_ID", ""),
        )
    if fields.get("workerId"):
        return Recruitment(
            source="mturk",
            recruit_id=fields["workerId"],
            study_id=fields.get("hitId", ""),
            session_id=fields.get("assignmentId", ""),
        )
    return Recruitment()
