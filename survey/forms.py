"""Reading the participant's forms into the plain values the services take.

The ranking form names each answer ``rank-<item key>-<position>``; the same names come
from the select boxes (no JavaScript) and from the drag-and-drop list, which only sets
the select boxes.
"""

import re
from collections.abc import Mapping

RANK_FIELD = re.compile(r"^rank-(?P<item>[-a-zA-Z0-9_]+)-(?P<position>[0-9]{1,3})$")
# Numbers from a participant are plain ASCII digits of bounded length. str.isdigit()
# also accepts "²" or "٣", which int() then rejects or reads as another number.
RANK_VALUE = re.compile(r"^[0-9]{1,3}$")
PAGE_MS_VALUE = re.compile(r"^[0-9]{1,9}$")
ATTENTION_PREFIX = "attention-"


def rank_field_name(item_key: str, position: int) -> str:
    """The form field holding one image's rank for one item."""
    return f"rank-{item_key}-{position}"


def ranks_from_post(data: Mapping[str, str]) -> dict[str, dict[int, int | None]]:
    """item key -> position -> rank; a blank or non-numeric rank becomes None."""
    ranks: dict[str, dict[int, int | None]] = {}
    for name in data:
        match = RANK_FIELD.fullmatch(name)
        if match is None:
            continue
        value = data.get(name, "").strip()
        rank = int(value) if RANK_VALUE.fullmatch(value) else None
        ranks.setdefault(match["item"], {})[int(match["position"])] = rank
    return ranks


def attention_from_post(data: Mapping[str, str]) -> dict[str, str]:
    """attention-check key -> the chosen option."""
    return {
        name.removeprefix(ATTENTION_PREFIX): data.get(name, "")
        for name in data
        if name.startswith(ATTENTION_PREFIX)
    }


class FormValueError(ValueError):
    """A participant's form holds a value no browser sends (tampering or damage)."""


def page_ms_from_post(data: Mapping[str, str]) -> int | None:
    """Time on page as measured by the browser, or None when absent (no JavaScript).

    Raises FormValueError when present but not a whole number of milliseconds.
    """
    value = data.get("page_ms", "").strip()
    if not value:
        return None
    if not PAGE_MS_VALUE.fullmatch(value):
        raise FormValueError(value)
    return int(value)
