"""The survey's part of a study spec: the [study], [survey] and [[countries]] tables.

The spec is shared with generation (ARCHITECTURE.md contract 3); this reader takes only
what the survey needs and ignores every other table, so the two apps can evolve their
own parts independently.
"""

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

ERROR_SPEC_MISSING = "The study spec {path} does not exist."
ERROR_SPEC_NOT_TOML = "The study spec {path} is not valid TOML: {detail}."
ERROR_SPEC_NO_STUDY = "The study spec needs a [study] table with a slug and a title."
ERROR_SPEC_BAD_SLUG = (
    "The study slug {slug!r} may only hold lower-case letters, digits, '-' and '_'."
)
ERROR_SPEC_NO_COUNTRIES = "The study spec needs at least one [[countries]] entry."
ERROR_SPEC_COUNTRY_FIELD = "Country number {number} in the spec has no {field}."
ERROR_SPEC_COUNTRY_TWICE = "The country code {code!r} appears twice in the spec."
ERROR_SPEC_LANGUAGE = "Country {code!r} asks for language {language!r}; the survey offers {known}."
ERROR_SPEC_POSITIVE = "[survey] {name} must be a whole number of at least 1, not {value!r}."
ERROR_SPEC_TEXT = "[survey] {name} must be text, not {value!r}."
ERROR_SPEC_NAMES_VARIANT = (
    "The study's {field} mentions the model variant {word!r}; participants read it, "
    "so it would unblind them. Please reword it."
)

SLUG = re.compile(r"^[-a-zA-Z0-9_]+$")


class SpecError(ValueError):
    """The spec cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class CountrySpec:
    code: str
    name: str
    adjective: str
    language: str


@dataclass(frozen=True)
class SurveySpec:
    """What setup_study needs; defaults as the published study where it has one."""

    slug: str
    title: str
    countries: list[CountrySpec]
    pages_per_participant: int = 10
    answers_per_image_set: int = 5
    consent_text: str = ""
    completion_code: str = ""
    prolific_completion_url: str = ""


def read_survey_spec(path: Path | str) -> SurveySpec:
    """Read and check the survey's tables of the spec at ``path``."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(ERROR_SPEC_MISSING.format(path=path))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise SpecError(ERROR_SPEC_NOT_TOML.format(path=path, detail=error)) from error
    return parse_survey_spec(data)


def parse_survey_spec(data: dict) -> SurveySpec:
    """Check an already parsed spec; other apps' tables are ignored."""
    study = data.get("study")
    if not isinstance(study, dict) or not study.get("slug") or not study.get("title"):
        raise SpecError(ERROR_SPEC_NO_STUDY)
    slug = str(study["slug"])
    if not SLUG.match(slug):
        raise SpecError(ERROR_SPEC_BAD_SLUG.format(slug=slug))
    survey = data.get("survey") or {}
    spec = SurveySpec(
        slug=slug,
        title=str(study["title"]),
        countries=_countries(data.get("countries")),
        pages_per_participant=_positive(survey, "pages_per_participant", 10),
        answers_per_image_set=_positive(survey, "answers_per_image_set", 5),
        consent_text=_text(survey, "consent_text"),
        completion_code=_text(survey, "completion_code"),
        prolific_completion_url=_text(survey, "prolific_completion_url"),
    )
    _check_blinding(spec, data.get("variants"))
    return spec


def _check_blinding(spec: SurveySpec, variants) -> None:
    """Refuse participant-facing text that names a variant by its key or label."""
    words = set()
    for variant in variants if isinstance(variants, list) else []:
        if isinstance(variant, dict):
            words |= {str(variant.get(name, "")).strip() for name in ("key", "label")}
    shown = {"title": spec.title, "consent text": spec.consent_text}
    for field, text in shown.items():
        for word in sorted(w for w in words if len(w) >= 3):
            if word.lower() in text.lower():
                raise SpecError(ERROR_SPEC_NAMES_VARIANT.format(field=field, word=word))


def _countries(entries) -> list[CountrySpec]:
    if not isinstance(entries, list) or not entries:
        raise SpecError(ERROR_SPEC_NO_COUNTRIES)
    known = [code for code, _ in settings.LANGUAGES]
    countries, seen = [], set()
    for number, entry in enumerate(entries, start=1):
        for name in ("code", "name", "adjective"):
            if not isinstance(entry, dict) or not str(entry.get(name, "")).strip():
                raise SpecError(ERROR_SPEC_COUNTRY_FIELD.format(number=number, field=name))
        code = str(entry["code"]).strip()
        if code in seen:
            raise SpecError(ERROR_SPEC_COUNTRY_TWICE.format(code=code))
        seen.add(code)
        language = str(entry.get("language", "en")).strip().lower()
        if language not in known:
            raise SpecError(
                ERROR_SPEC_LANGUAGE.format(code=code, language=language, known=", ".join(known))
            )
        countries.append(
            CountrySpec(
                code=code,
                name=str(entry["name"]).strip(),
                adjective=str(entry["adjective"]).strip(),
                language=language,
            )
        )
    return countries


def _positive(table: dict, name: str, default: int) -> int:
    value = table.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SpecError(ERROR_SPEC_POSITIVE.format(name=name, value=value))
    return value


def _text(table: dict, name: str) -> str:
    value = table.get(name, "")
    if not isinstance(value, str):
        raise SpecError(ERROR_SPEC_TEXT.format(name=name, value=value))
    return value.strip()
