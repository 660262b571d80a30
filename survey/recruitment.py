"""Recruitment platforms: the ids a participant's link carries and how they go back.

Each platform is one entry of PLATFORMS: the URL parameters its links carry (the
participant's id on the platform, the platform's study and session ids), the value
that marks a preview (the task not accepted yet), and its completion rule: whether a
finished participant is sent back by a link (and to which URL by default) or copies
the completion code into the platform's page. Supporting a new platform means adding
one entry here; the landing page, the stored participant, the admin's choices and the
return link all follow from the table.

A study names its platform (``Study.recruitment_platform``) and may give its own
completion URL (``Study.completion_url``, ``{code}`` replaced by the completion code);
arrivals from any platform in the table are recognised and recorded.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

DIRECT = "direct"  # no platform: the study's plain link
# Platform ids are short ASCII words; anything else in the link is damage or an attack.
RECRUIT_ID = re.compile(r"^[-A-Za-z0-9_.]{1,128}$")
CODE_PLACEHOLDER = "{code}"


class RecruitmentError(ValueError):
    """The recruitment ids in the link are malformed."""


@dataclass(frozen=True)
class Platform:
    """A recruitment platform: its link's parameters and its completion rule."""

    key: str  # stored in Participant.recruit_source
    name: str  # shown to participants ("Return to Prolific") and researchers
    id_param: str  # the participant's id on the platform
    study_param: str = ""
    session_param: str = ""
    preview_value: str = ""  # session_param's value while the task is only previewed
    # Completion rule: True sends a finished participant back through a link (the
    # study's completion URL, else ``completion_url``); False shows the code to copy.
    returns_by_link: bool = False
    completion_url: str = ""  # the platform's standard return link; {code} is replaced
    # How the platform's study set-up writes a value it fills in; NAME is the parameter.
    placeholder: str = "{NAME}"

    def params(self) -> tuple[str, ...]:
        """The URL parameters this platform's links carry, id first."""
        return tuple(p for p in (self.id_param, self.study_param, self.session_param) if p)


PLATFORMS: tuple[Platform, ...] = (
    Platform(
        key="prolific",
        name="Prolific",
        id_param="PROLIFIC_PID",
        study_param="STUDY_ID",
        session_param="SESSION_ID",
        returns_by_link=True,
        completion_url="https://app.prolific.com/submissions/complete?cc={code}",
        placeholder="{{%NAME%}}",
    ),
    Platform(
        key="mturk",
        name="Mechanical Turk",
        id_param="workerId",
        study_param="hitId",
        session_param="assignmentId",
        preview_value="ASSIGNMENT_ID_NOT_AVAILABLE",
        returns_by_link=False,  # the worker pastes the code into the HIT
    ),
    Platform(
        key="generic",
        name="the recruitment site",
        id_param="participant_id",
        study_param="study_id",
        session_param="session_id",
        returns_by_link=True,  # when the study gives a completion URL; else the code
    ),
)
PLATFORMS_BY_KEY = {platform.key: platform for platform in PLATFORMS}
DEFAULT_PLATFORM = "prolific"
SOURCE_CHOICES = [(DIRECT, "direct link"), *((p.key, p.name) for p in PLATFORMS)]
PLATFORM_CHOICES = [(p.key, p.name) for p in PLATFORMS]


@dataclass(frozen=True)
class Recruitment:
    """Who sent the participant: a platform's ids, or nothing (direct link)."""

    source: str = DIRECT
    recruit_id: str = ""
    study_id: str = ""
    session_id: str = ""
    preview: bool = False  # the platform shows the task before it is accepted

    @property
    def platform(self) -> Platform | None:
        return PLATFORMS_BY_KEY.get(self.source)


def recruitment_fields(query: Mapping[str, str]) -> dict[str, str]:
    """The recruitment parameters present in a landing URL (or the Start form)."""
    names = [name for platform in PLATFORMS for name in platform.params()]
    return {name: query.get(name, "").strip() for name in names if query.get(name, "").strip()}


def recruitment_from_fields(fields: Mapping[str, str]) -> Recruitment:
    """The Recruitment of the first platform whose id or preview is in ``fields``.

    Raises RecruitmentError when a value is not a plain platform id.
    """
    for value in fields.values():
        if not RECRUIT_ID.match(value):
            raise RecruitmentError(value)
    for platform in PLATFORMS:
        session = fields.get(platform.session_param, "") if platform.session_param else ""
        preview = bool(platform.preview_value) and session == platform.preview_value
        if fields.get(platform.id_param) or preview:
            return Recruitment(
                source=platform.key,
                recruit_id="" if preview else fields.get(platform.id_param, ""),
                study_id=fields.get(platform.study_param, ""),
                session_id=session,
                preview=preview,
            )
    return Recruitment()


def completion_return_url(
    *, source: str, study_platform: str, study_url: str, code: str
) -> str:
    """Where a finished participant is sent back to, or "" when they copy the code.

    The study's own URL applies to arrivals from the study's platform; otherwise the
    platform's standard link, when it has one.
    """
    platform = PLATFORMS_BY_KEY.get(source)
    if platform is None or not platform.returns_by_link:
        return ""
    template = study_url if (study_url and source == study_platform) else platform.completion_url
    return template.replace(CODE_PLACEHOLDER, quote(code, safe="")) if template else ""


def platform_link(*, link: str, platform_key: str) -> str:
    """The study link with the platform's placeholders, for the researcher to paste."""
    platform = PLATFORMS_BY_KEY[platform_key]
    values = {name: platform.placeholder.replace("NAME", name) for name in platform.params()}
    return link + "?" + "&".join(f"{name}={value}" for name, value in values.items())
