"""The study spec (TOML): the one reader of it, checking all of it before any work starts.

One file describes a study (docs/ARCHITECTURE.md, "Study spec"; docs/survey.md for the
survey's tables): the study's slug and title, the survey settings and questions, the
sampler, the seeds, the model variants and the countries with their prompts, and the
participant-facing text in other languages (`translations` tables, English fallback).
`load_spec` returns a frozen `StudySpec` or raises `SpecError` listing every problem
found, so a researcher fixes the file in one pass.

Every command reads the spec here (generate_batch, import_batch, setup_study, the demo);
each says what it will use it for (`Purpose`), and only what that use needs is required:
generating needs prompts, seeds and model folders on disk; importing takes prompts and
seeds from its CSV; the survey needs neither. Defaults live here and nowhere else.

No torch and no Django here (an import contract keeps it so).
"""

from __future__ import annotations

import enum
import os
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from study.blinding import unblinding_words, variant_words
from study.names import (
    DEFAULT_LANGUAGE,
    LANGUAGES,
    LORA_WEIGHTS_FILE,
    PUBLISHED_ITEMS,
    TINY_MODEL,
)

MAX_SEED = 2**63 - 1  # ImageSet.seed is a signed 64-bit column
# Defaults of the [survey] table, as in the published study where it has one.
DEFAULT_PAGES_PER_PARTICIPANT = 10
DEFAULT_ANSWERS_PER_IMAGE_SET = 5
DEFAULT_BATCH_SIZE = 4  # images per pipeline call of generate_batch
DEFAULT_ATTENTION_CHECKS = 2  # instructed-response questions per participant
# The survey has this many different attention questions (survey.questions), and a
# participant never gets the same one twice.
MAX_ATTENTION_CHECKS = 6
# Time per ranking page for the consent text's "about N minutes" until the study has
# measured its own (docs/survey.md): 10 pages at 75 s plus the start is about 15 minutes,
# the published study's estimate.
DEFAULT_SECONDS_PER_PAGE = 75
# Which answers count toward [survey] answers_per_image_set (docs/assignment.md):
# "valid" = of participants not excluded and not failing an attention check (default);
# "not-excluded" = of every participant not excluded (the rule before quotas of valid answers).
QUOTA_VALID, QUOTA_NOT_EXCLUDED = "valid", "not-excluded"
QUOTA_RULES = (QUOTA_VALID, QUOTA_NOT_EXCLUDED)


class Purpose(enum.Enum):
    """What a command reads the spec for; each needs a different part of it."""

    GENERATE = "generate"  # prompts, seeds, and model and adapter folders that exist
    IMPORT = "import"  # the slug; variants and countries if given (else the published
    # ones); prompts and seeds come from the CSV
    SURVEY = "survey"  # study, survey and countries; variants only to keep text blind

# --- error messages (tests assert on these) -----------------------------------------------
SPEC_NOT_FOUND = "The study spec {path} does not exist."
SPEC_UNREADABLE = "The study spec {path} cannot be read: {reason}."
SPEC_HAS_PROBLEMS = "The study spec {path} has {count} problem(s); nothing was done:"
NOT_TOML = "it is not valid TOML: {reason}"
UNKNOWN_KEY = "{where}: unknown key '{key}' (allowed: {allowed})"
MISSING_KEY = "{where}: '{key}' is missing"
WRONG_TYPE = "{where}: '{key}' must be {expected}"
NOT_A_TABLE = "{where} must be a table"
NOT_A_SLUG = (
    "{where}: '{key}' must be a slug (letters, digits, '-' or '_', at most {max_length} "
    "characters), not {value!r}"
)
EMPTY_TEXT = "{where}: '{key}' must not be empty"
BAD_CHOICE = "{where}: '{key}' must be one of {choices}, not {value!r}"
BAD_LANGUAGE = "{where}: language {value!r} is not one of " + ", ".join(LANGUAGES)
NAMES_VARIANT = (
    "{where}: '{key}' mentions the model variant {word!r}; participants read it, so it "
    "would unblind them. Please reword it."
)
BAD_COMPLETION_URL = "{where}: '{key}' {reason}"
# Reasons a completion URL is refused (participants' browsers follow it at the end).
URL_NOT_HTTPS = "must be an https:// link (got {value!r})"
URL_WITHOUT_HOST = "must name a site, as in https://example.org/done (got {value!r})"
URL_HAS_SPACE = "must not contain spaces or control characters"
CONFLICTING_KEYS = "{where}: give either '{key}' or '{other}', not both"
BAD_TRANSLATION_FIELD = "{where}: translations.{language} has no text '{key}' (allowed: {allowed})"
PUBLISHED_ITEM_PARTLY = (
    "{where}: give 'question', 'best_end' and 'worst_end' together, or none of them for the "
    "published wording of {key!r}"
)
ITEM_NEEDS_WORDING = (
    "{where}: '{key}' is missing (only the published items "
    + ", ".join(PUBLISHED_ITEMS)
    + " may leave out their wording)"
)
DUPLICATE_ITEM_KEY = "item key {key!r} is used by more than one item ({places})"
EMPTY_ITEMS = "[survey]: 'items' must list at least one item ([[survey.items]])"
TOO_MANY_CHECKS = (
    "{where}: 'attention_checks' must be a whole number from 0 to "
    + str(MAX_ATTENTION_CHECKS)
    + ", not {value!r}"
)
NO_VARIANTS = "the spec has no [[variants]]: a study compares at least one model variant"
NO_COUNTRIES = "the spec has no [[countries]]: there is nothing to generate"
NO_PROMPTS = "{where}: country {code!r} has no prompts ([[countries.prompts]])"
NO_SEEDS = "{where}: prompt {prompt_id!r} has no seeds: give [generation] seeds or its own"
EMPTY_SEEDS = "{where}: 'seeds' must list at least one seed"
BAD_SEED = "{where}: seed {value!r} must be a whole number from 0 to " + str(MAX_SEED)
DUPLICATE_SEED = "{where}: seed {value} is listed more than once"
DUPLICATE_VARIANT_KEY = "variant key {key!r} is used by more than one variant ({places})"
DUPLICATE_VARIANT_COLUMN = "csv_column {column!r} is used by more than one variant ({places})"
DUPLICATE_COUNTRY_CODE = "country code {code!r} is used by more than one country ({places})"
DUPLICATE_PROMPT_ID = "prompt id {prompt_id!r} is used more than once ({places})"
BAD_NUMBER = "{where}: '{key}' must be {rule}, not {value!r}"
MODEL_FOLDER_MISSING = "{where}: model folder {path} does not exist"
ADAPTER_MISSING = "{where}: adapter folder {path} does not exist"
ADAPTER_NOT_A_FOLDER = "{where}: adapter {path} is not a folder"
ADAPTER_UNREADABLE = "{where}: adapter folder {path} cannot be read ({reason})"
ADAPTER_WITHOUT_WEIGHTS = "{where}: adapter folder {path} holds no LoRA weights ({weights_file})"

# A host name with a dot (no user name: "https://prolific.com@evil.example" misleads).
COMPLETION_HOST = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(:[0-9]{1,5})?")
SLUG = re.compile(r"^[-a-zA-Z0-9_]+$")
# A hub id is "name" or "owner/name"; anything else that is not a folder is a typo.
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


class SpecError(ValueError):
    """The spec cannot be used. `problems` lists every problem, one sentence each."""

    def __init__(self, path: Path | str, problems: list[str]):
        self.path = Path(path)
        self.problems = list(problems)
        header = SPEC_HAS_PROBLEMS.format(path=path, count=len(problems))
        super().__init__("\n".join([header, *(f"  - {p}" for p in problems)]))


# --- the parsed spec ----------------------------------------------------------------------


# language -> field -> text, e.g. {"ko": {"title": "..."}}; English is the field itself.
Translations = Mapping[str, Mapping[str, str]]


@dataclass(frozen=True)
class Prompt:
    """One prompt of a country: generated once per seed by every variant."""

    id: str
    text: str
    category: str = ""
    seeds: tuple[int, ...] | None = None  # None: the study's [generation] seeds
    translations: Translations = field(default_factory=dict)  # "text": the description


@dataclass(frozen=True)
class Country:
    """A culture of the study, with the prompts its participants rank."""

    code: str
    name: str
    adjective: str
    language: str = DEFAULT_LANGUAGE
    prompts: tuple[Prompt, ...] = ()
    translations: Translations = field(default_factory=dict)  # "name", "adjective"


@dataclass(frozen=True)
class Variant:
    """A model of the study: a base model, optionally with a SCoFT adapter folder."""

    key: str
    label: str
    model: str  # TINY_MODEL, a hub id, or an absolute folder path
    adapter: Path | None  # absolute; relative paths in the file are resolved for you
    position: int  # order in the spec = display order for researchers
    csv_column: str = ""  # import_batch manifest column holding this variant's images


@dataclass(frozen=True)
class SamplerOverrides:
    """Sampler settings the spec gives; None means "use the default for the model"."""

    scheduler: str | None = None
    steps: int | None = None
    guidance: float | None = None
    width: int | None = None
    height: int | None = None

    def given(self) -> dict[str, Any]:
        """Only the settings the spec names, for dataclasses.replace on the defaults."""
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class Item:
    """A question asked on every ranking page ([[survey.items]]); rank 1 is the best end.

    An item of PUBLISHED_ITEMS with no wording (`question` empty) is asked in the
    published study's wording, which the survey translates itself. `{adjective}` in the
    wording is the participant's country's adjective.
    """

    key: str
    question: str = ""
    best_end: str = ""
    worst_end: str = ""
    shows_prompt: bool = False
    note: str = ""
    translations: Translations = field(default_factory=dict)

    @property
    def published_wording(self) -> bool:
        return not self.question


PUBLISHED_ITEM_SPECS = tuple(Item(key) for key in PUBLISHED_ITEMS)
ITEM_TEXT_KEYS = ("question", "best_end", "worst_end", "note")


@dataclass(frozen=True)
class SurveySettings:
    """The [survey] table: how the survey runs the study."""

    pages_per_participant: int = DEFAULT_PAGES_PER_PARTICIPANT
    answers_per_image_set: int = DEFAULT_ANSWERS_PER_IMAGE_SET  # target per image set
    consent_text: str = ""  # empty: the survey's built-in consent text
    completion_code: str = ""  # empty: the survey makes one up
    # Where a finished participant is sent back to ({code} becomes the completion
    # code); empty: the platform's standard link. `prolific_completion_url` in a spec
    # file is read as this key (older specs).
    completion_url: str = ""
    recruitment_platform: str = ""  # empty: the survey's default platform (Prolific)
    instructions: str = ""  # empty: the survey's built-in instructions
    attention_checks: int = DEFAULT_ATTENTION_CHECKS
    seconds_per_page: int = DEFAULT_SECONDS_PER_PAGE  # the estimate until measured
    items: tuple[Item, ...] = PUBLISHED_ITEM_SPECS
    translations: Translations = field(default_factory=dict)  # consent_text, instructions
    quota_counts: str = QUOTA_VALID  # which answers count toward answers_per_image_set


@dataclass(frozen=True)
class StudySpec:
    """A validated study spec. Build it with `load_spec` or `parse_spec`."""

    path: Path
    slug: str
    title: str
    countries: tuple[Country, ...]
    variants: tuple[Variant, ...] = ()
    seeds: tuple[int, ...] = ()
    batch_size: int = DEFAULT_BATCH_SIZE
    sampler: SamplerOverrides = field(default_factory=SamplerOverrides)
    survey: SurveySettings = field(default_factory=SurveySettings)
    translations: Translations = field(default_factory=dict)  # "title"

    def seeds_for(self, prompt: Prompt) -> tuple[int, ...]:
        """The seeds a prompt is generated with: its own, or the study's."""
        return prompt.seeds if prompt.seeds is not None else self.seeds

    def prompts(self) -> Iterator[tuple[Country, Prompt]]:
        """Every prompt with its country, in spec order."""
        for country in self.countries:
            for prompt in country.prompts:
                yield country, prompt

    @property
    def uses_only_tiny_model(self) -> bool:
        """True when every variant runs on the project's tiny model (tiny sampler defaults)."""
        return all(v.model == TINY_MODEL for v in self.variants)

    @property
    def image_set_count(self) -> int:
        return sum(len(self.seeds_for(p)) for _, p in self.prompts())

    def variant(self, key: str) -> Variant:
        return next(v for v in self.variants if v.key == key)

    def missing_translations(
        self, translated_elsewhere: Callable[[str, str], bool] = lambda language, text: False
    ) -> dict[str, list[str]]:
        """language -> the participant-facing texts it lacks (shown in English instead).

        The languages checked are those of the countries and those the spec translates
        into. `translated_elsewhere(language, text)` says whether the survey translates
        an English text itself (its built-in wording, the published countries' words).
        """
        languages = {c.language for c in self.countries} | {
            language for _place, translations in self._texts() for language in translations
        }
        missing: dict[str, list[str]] = {}
        for language in sorted(languages - {DEFAULT_LANGUAGE}):
            lacking = [
                place
                for (place, translations), text in zip(self._texts(), self._english(), strict=True)
                if text
                and not translations.get(language, {}).get(place[1])
                and not translated_elsewhere(language, text)
            ]
            if lacking:
                missing[language] = [f"{where} {key}" for where, key in lacking]
        return missing

    def _text_places(self) -> Iterator[tuple[tuple[str, str], Translations, str]]:
        """((where, field), translations, English text) of every participant-facing text."""
        yield ("[study]", "title"), self.translations, self.title
        for key in ("consent_text", "instructions"):
            yield ("[survey]", key), self.survey.translations, getattr(self.survey, key)
        for item in self.survey.items:
            for key in ITEM_TEXT_KEYS:
                yield (f"item {item.key!r}", key), item.translations, getattr(item, key)
        for country in self.countries:
            for key in ("name", "adjective"):
                yield (f"country {country.code!r}", key), country.translations, getattr(
                    country, key
                )
            for prompt in country.prompts:
                yield (f"prompt {prompt.id!r}", "text"), prompt.translations, prompt.text

    def _texts(self) -> Iterator[tuple[tuple[str, str], Translations]]:
        for place, translations, _text in self._text_places():
            yield place, translations

    def _english(self) -> Iterator[str]:
        for _place, _translations, text in self._text_places():
            yield text


# --- reading ------------------------------------------------------------------------------

TOP_KEYS = ("study", "survey", "sampler", "generation", "variants", "countries")
STUDY_KEYS = ("slug", "title")
STUDY_KEYS = (*STUDY_KEYS, "translations")
SURVEY_KEYS = (
    "pages_per_participant",
    "answers_per_image_set",
    "consent_text",
    "completion_code",
    "completion_url",
    "prolific_completion_url",
    "recruitment_platform",
    "instructions",
    "attention_checks",
    "seconds_per_page",
    "items",
    "translations",
    "quota_counts",
)
ITEM_KEYS = ("key", *ITEM_TEXT_KEYS, "shows_prompt", "translations")
SAMPLER_KEYS = ("scheduler", "steps", "guidance", "width", "height")
GENERATION_KEYS = ("seeds", "batch_size")
VARIANT_KEYS = ("key", "label", "model", "adapter", "csv_column")
COUNTRY_KEYS = ("code", "name", "adjective", "language", "prompts", "translations")
PROMPT_KEYS = ("id", "text", "category", "seeds", "translations")


def completion_url_problem(url: str) -> str:
    """Why `url` cannot be a completion link ("" when it can): https only, with a host.

    Participants' browsers are sent there at the end, so ``javascript:``, ``data:``,
    plain ``http:`` and scheme-less links ("app.prolific.com/...") are refused.
    """
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return URL_HAS_SPACE
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() != "https":
        return URL_NOT_HTTPS.format(value=url)
    host = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if not COMPLETION_HOST.fullmatch(host):
        return URL_WITHOUT_HOST.format(value=url)
    return ""


def load_spec(path: Path | str, *, purpose: Purpose = Purpose.GENERATE) -> StudySpec:
    """Read and validate a study spec file for `purpose`; raise SpecError listing every
    problem."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(path, [SPEC_NOT_FOUND.format(path=path)])
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SpecError(path, [SPEC_UNREADABLE.format(path=path, reason=error)]) from error
    return parse_spec(text, path=path, purpose=purpose)


def parse_spec(
    text: str, *, path: Path | str, purpose: Purpose = Purpose.GENERATE
) -> StudySpec:
    """Validate spec text; relative folders are taken relative to `path`'s folder."""
    path = Path(path).resolve()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SpecError(path, [NOT_TOML.format(reason=error)]) from error
    reader = _Reader(base=path.parent, purpose=purpose)
    spec = reader.read(data, path)
    if reader.problems:
        raise SpecError(path, reader.problems)
    return spec


class _Reader:
    """Walks the TOML data once, collecting problems instead of stopping at the first."""

    def __init__(self, *, base: Path, purpose: Purpose):
        self.base = base
        self.purpose = purpose
        self.problems: list[str] = []
        self.shown: dict[tuple[str, str], str] = {}  # participant-facing text, by place

    def problem(self, template: str, **values: Any) -> None:
        self.problems.append(template.format(**values))

    # generic checks ------------------------------------------------------------------
    def table(self, data: Any, where: str, allowed: tuple[str, ...]) -> dict:
        """`data` as a table, reporting keys outside `allowed` (unless it is empty)."""
        if not isinstance(data, dict):
            self.problem(NOT_A_TABLE, where=where)
            return {}
        if allowed:
            self.unknown_keys(data, where, allowed)
        return data

    def unknown_keys(self, data: dict, where: str, allowed: tuple[str, ...]) -> None:
        for key in data:
            if key not in allowed:
                self.problem(UNKNOWN_KEY, where=where, key=key, allowed=", ".join(allowed))

    def text(self, data: dict, key: str, where: str, *, required: bool = True) -> str:
        if key not in data:
            if required:
                self.problem(MISSING_KEY, where=where, key=key)
            return ""
        value = data[key]
        if not isinstance(value, str):
            self.problem(WRONG_TYPE, where=where, key=key, expected="text")
            return ""
        if required and not value.strip():
            self.problem(EMPTY_TEXT, where=where, key=key)
        return value.strip()

    def slug(self, data: dict, key: str, where: str, *, max_length: int = 64) -> str:
        value = self.text(data, key, where)
        if value and (not SLUG.match(value) or len(value) > max_length):
            self.problem(NOT_A_SLUG, where=where, key=key, value=value, max_length=max_length)
        return value

    def integer(self, data: dict, key: str, where: str, *, minimum: int) -> int | None:
        if key not in data:
            return None
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.problem(
                BAD_NUMBER,
                where=where,
                key=key,
                value=value,
                rule=f"a whole number of at least {minimum}",
            )
            return None
        return value

    def seeds(self, value: Any, where: str) -> tuple[int, ...] | None:
        if not isinstance(value, list):
            self.problem(WRONG_TYPE, where=where, key="seeds", expected="a list of numbers")
            return None
        if not value:
            self.problem(EMPTY_SEEDS, where=where)
            return None
        seen: set[int] = set()
        good = True
        for seed in value:
            if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
                self.problem(BAD_SEED, where=where, value=seed)
                good = False
            elif seed in seen:
                self.problem(DUPLICATE_SEED, where=where, value=seed)
                good = False
            else:
                seen.add(seed)
        return tuple(value) if good else None

    def translations(self, data: dict, where: str, allowed: tuple[str, ...]) -> dict:
        """The `translations` table: language -> {field: text}, fields from `allowed`."""
        if "translations" not in data:
            return {}
        table = self.table(data["translations"], f"{where} translations", ())
        result: dict[str, dict[str, str]] = {}
        for language, texts in table.items():
            if language not in LANGUAGES or language == DEFAULT_LANGUAGE:
                self.problem(BAD_LANGUAGE, where=f"{where} translations", value=language)
                continue
            texts = self.table(texts, f"{where} translations.{language}", ())
            result[language] = {}
            for key in texts:
                if key not in allowed:
                    self.problem(
                        BAD_TRANSLATION_FIELD,
                        where=where,
                        language=language,
                        key=key,
                        allowed=", ".join(allowed),
                    )
                    continue
                text = self.text(texts, key, f"{where} translations.{language}")
                if text:
                    result[language][key] = text
                    self.shown[(f"{where} translations.{language}", key)] = text
        return result

    def array_of_tables(self, data: dict, key: str, where: str) -> list[dict]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.problem(
                WRONG_TYPE, where=where, key=key, expected=f"an array of tables ([[{key}]])"
            )
            return []
        return value

    def duplicates(self, template: str, name: str, items: list[tuple[str, str]]) -> None:
        """Report each value used in more than one place, naming every place."""
        places: dict[str, list[str]] = {}
        for value, place in items:
            if value:
                places.setdefault(value, []).append(place)
        for value, where in places.items():
            if len(where) > 1:
                self.problem(template, **{name: value}, places=", ".join(where))

    # sections -------------------------------------------------------------------------
    def read(self, data: dict, path: Path) -> StudySpec:
        self.table(data, "the spec", TOP_KEYS)
        study = self.table(data.get("study", {}), "[study]", STUDY_KEYS)
        if "study" not in data:
            self.problem(MISSING_KEY, where="the spec", key="study")
        slug = self.slug(study, "slug", "[study]") if "study" in data else ""
        title = self.text(study, "title", "[study]") if "study" in data else ""
        study_translations = self.translations(study, "[study]", ("title",))
        survey = self.read_survey(data.get("survey", {}))
        sampler = self.read_sampler(data.get("sampler", {}))
        generation = self.table(data.get("generation", {}), "[generation]", GENERATION_KEYS)
        seeds: tuple[int, ...] = ()
        if "seeds" in generation:
            seeds = self.seeds(generation["seeds"], "[generation]") or ()
        batch_size = self.integer(generation, "batch_size", "[generation]", minimum=1)
        variants = self.read_variants(data)
        countries = self.read_countries(data, has_study_seeds="seeds" in generation)
        self.shown[("[study]", "title")] = title
        self.check_blinding(variants, self.shown)
        return StudySpec(
            path=path,
            slug=slug,
            title=title,
            variants=tuple(variants),
            countries=tuple(countries),
            seeds=seeds,
            batch_size=batch_size or DEFAULT_BATCH_SIZE,
            sampler=sampler,
            survey=survey,
            translations=study_translations,
        )

    def read_survey(self, data: Any) -> SurveySettings:
        where = "[survey]"
        table = self.table(data, where, SURVEY_KEYS)
        numbers = {
            key: self.integer(table, key, where, minimum=1)
            for key in ("pages_per_participant", "answers_per_image_set", "seconds_per_page")
        }
        checks = table.get("attention_checks", DEFAULT_ATTENTION_CHECKS)
        if (
            isinstance(checks, bool)
            or not isinstance(checks, int)
            or not 0 <= checks <= MAX_ATTENTION_CHECKS
        ):
            self.problem(TOO_MANY_CHECKS, where=where, value=checks)
            checks = DEFAULT_ATTENTION_CHECKS
        texts = {
            key: self.text(table, key, where, required=False)
            for key in ("consent_text", "completion_code", "recruitment_platform", "instructions")
        }
        url = self.completion_url(table, where, texts)
        for key in ("consent_text", "instructions"):
            self.shown[(where, key)] = texts[key]
        translations = self.translations(table, where, ("consent_text", "instructions"))
        items = self.read_items(table)
        given = {key: value for key, value in numbers.items() if value is not None}
        return SurveySettings(
            **given,
            **texts,
            completion_url=url,
            attention_checks=checks,
            items=items,
            translations=translations,
            quota_counts=self.quota_rule(table, where),
        )

    def completion_url(self, table: dict, where: str, texts: dict) -> str:
        """The checked completion URL (`prolific_completion_url` in older specs, which
        also makes Prolific the platform)."""
        if "completion_url" in table and "prolific_completion_url" in table:
            self.problem(
                CONFLICTING_KEYS, where=where, key="completion_url", other="prolific_completion_url"
            )
        url_key = "completion_url" if "completion_url" in table else "prolific_completion_url"
        url = self.text(table, url_key, where, required=False)
        if url and (reason := completion_url_problem(url)):
            self.problem(BAD_COMPLETION_URL, where=where, key=url_key, reason=reason)
            url = ""
        if "prolific_completion_url" in table and not texts["recruitment_platform"]:
            texts["recruitment_platform"] = "prolific"
        platform = texts["recruitment_platform"]
        if platform and not SLUG.match(platform):
            self.problem(
                NOT_A_SLUG, where=where, key="recruitment_platform", value=platform, max_length=16
            )
        return url

    def quota_rule(self, table: dict, where: str) -> str:
        quota = self.text(table, "quota_counts", where, required=False) or QUOTA_VALID
        if quota not in QUOTA_RULES:
            choices = ", ".join(repr(rule) for rule in QUOTA_RULES)
            self.problem(BAD_CHOICE, where=where, key="quota_counts", choices=choices, value=quota)
            quota = QUOTA_VALID
        return quota

    def read_items(self, survey: dict) -> tuple[Item, ...]:
        if "items" not in survey:
            return PUBLISHED_ITEM_SPECS
        tables = self.array_of_tables(survey, "items", "[survey]")
        if not tables and isinstance(survey["items"], list):
            self.problem(EMPTY_ITEMS)
        items = []
        for index, raw in enumerate(tables):
            where = f"[[survey.items]] {index + 1}"
            table = self.table(raw, where, ())
            key = self.slug(table, "key", where)
            where = f"item {key!r}" if key else where
            self.unknown_keys(table, where, ITEM_KEYS)
            wording = [k for k in ("question", "best_end", "worst_end") if k in table]
            published = key in PUBLISHED_ITEMS and not wording
            if key in PUBLISHED_ITEMS and wording and len(wording) < 3:
                self.problem(PUBLISHED_ITEM_PARTLY, where=where, key=key)
            elif not published:
                for name in ("question", "best_end", "worst_end"):
                    if name not in table:
                        self.problem(ITEM_NEEDS_WORDING, where=where, key=name)
            texts = {
                name: self.text(table, name, where, required=name != "note" and name in table)
                for name in ITEM_TEXT_KEYS
            }
            shows_prompt = table.get("shows_prompt", False)
            if not isinstance(shows_prompt, bool):
                self.problem(WRONG_TYPE, where=where, key="shows_prompt", expected="true or false")
                shows_prompt = False
            if published and {"note", "shows_prompt", "translations"} & set(table):
                self.problem(PUBLISHED_ITEM_PARTLY, where=where, key=key)
            for name, text in texts.items():
                self.shown[(where, name)] = text
            translations = self.translations(table, where, ITEM_TEXT_KEYS)
            items.append(Item(key, **texts, shows_prompt=shows_prompt, translations=translations))
        self.duplicates(
            DUPLICATE_ITEM_KEY,
            "key",
            [(item.key, f"[[survey.items]] {n + 1}") for n, item in enumerate(items)],
        )
        return tuple(items)

    def check_blinding(self, variants: list[Variant], shown: dict[tuple[str, str], str]):
        """Participant-facing text must not name a variant (key, label, model id,
        adapter) nor the method (see study.blinding)."""
        names = set()
        for v in variants:
            names |= variant_words(key=v.key, label=v.label, model=v.model, adapter=v.adapter)
        for (where, key), text in shown.items():
            for word in unblinding_words(text, names):
                self.problem(NAMES_VARIANT, where=where, key=key, word=word)

    def read_sampler(self, data: Any) -> SamplerOverrides:
        where = "[sampler]"
        sampler = self.table(data, where, SAMPLER_KEYS)
        scheduler = self.text(sampler, "scheduler", where, required=False) or None
        steps = self.integer(sampler, "steps", where, minimum=1)
        guidance = sampler.get("guidance")
        if guidance is not None and (
            isinstance(guidance, bool) or not isinstance(guidance, int | float) or guidance < 0
        ):
            self.problem(
                BAD_NUMBER,
                where=where,
                key="guidance",
                value=guidance,
                rule="a number of at least 0",
            )
            guidance = None
        sizes = {}
        for key in ("width", "height"):
            value = self.integer(sampler, key, where, minimum=8)
            if value is not None and value % 8:
                self.problem(
                    BAD_NUMBER,
                    where=where,
                    key=key,
                    value=value,
                    rule="a multiple of 8 (the autoencoder downsamples by 8)",
                )
                value = None
            sizes[key] = value
        return SamplerOverrides(
            scheduler=scheduler,
            steps=steps,
            guidance=float(guidance) if guidance is not None else None,
            **sizes,
        )

    def read_variants(self, data: dict) -> list[Variant]:
        tables = self.array_of_tables(data, "variants", "the spec")
        # An import without [[variants]] maps the published survey's columns.
        if not tables and "variants" not in data and self.purpose is Purpose.GENERATE:
            self.problem(NO_VARIANTS)
        variants = []
        for position, raw in enumerate(tables):
            where = f"variants[{position}]"
            table = self.table(raw, where, ())
            key = self.slug(table, "key", where)
            where = f"variant {key!r}" if key else where
            self.unknown_keys(table, where, VARIANT_KEYS)
            label = self.text(table, "label", where)
            # An import only records the model a variant's images came from.
            needs_model = self.purpose is Purpose.GENERATE
            model = self.read_model(self.text(table, "model", where, required=needs_model), where)
            adapter = self.read_adapter(self.text(table, "adapter", where, required=False), where)
            column = self.text(table, "csv_column", where, required=False)
            variants.append(Variant(key, label, model, adapter, position, column))
        self.duplicates(
            DUPLICATE_VARIANT_KEY, "key", [(v.key, f"variants[{v.position}]") for v in variants]
        )
        self.duplicates(
            DUPLICATE_VARIANT_COLUMN,
            "column",
            [(v.csv_column, f"variant {v.key!r}") for v in variants],
        )
        return variants

    def read_model(self, model: str, where: str) -> str:
        if not model or model == TINY_MODEL or self.purpose is not Purpose.GENERATE:
            return model
        folder = self.resolve(model)
        if folder.is_dir():
            return str(folder)
        if HUB_ID.match(model) and not model.startswith("."):
            return model  # a hub id; loading reports a missing one
        self.problem(MODEL_FOLDER_MISSING, where=where, path=folder)
        return model

    def read_adapter(self, adapter: str, where: str) -> Path | None:
        if not adapter:
            return None
        folder = self.resolve(adapter)
        if self.purpose is not Purpose.GENERATE:
            return folder
        if not folder.exists():
            self.problem(ADAPTER_MISSING, where=where, path=folder)
        elif not folder.is_dir():
            self.problem(ADAPTER_NOT_A_FOLDER, where=where, path=folder)
        else:
            try:
                has_weights = LORA_WEIGHTS_FILE in os.listdir(folder)
                if has_weights:
                    with open(folder / LORA_WEIGHTS_FILE, "rb") as handle:
                        handle.read(1)
            except OSError as error:
                self.problem(
                    ADAPTER_UNREADABLE, where=where, path=folder, reason=error.strerror or error
                )
            else:
                if not has_weights:
                    self.problem(
                        ADAPTER_WITHOUT_WEIGHTS,
                        where=where,
                        path=folder,
                        weights_file=LORA_WEIGHTS_FILE,
                    )
        return folder

    def resolve(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self.base / path).resolve()

    def read_countries(self, data: dict, *, has_study_seeds: bool) -> list[Country]:
        tables = self.array_of_tables(data, "countries", "the spec")
        if not tables and "countries" not in data and self.purpose is not Purpose.IMPORT:
            self.problem(NO_COUNTRIES)
        countries, prompt_places = [], []
        for index, raw in enumerate(tables):
            where = f"countries[{index}]"
            table = self.table(raw, where, ())
            code = self.slug(table, "code", where, max_length=16)
            where = f"country {code!r}" if code else where
            self.unknown_keys(table, where, COUNTRY_KEYS)
            name = self.text(table, "name", where)
            adjective = self.text(table, "adjective", where)
            language = self.text(table, "language", where, required=False) or DEFAULT_LANGUAGE
            if language not in LANGUAGES:
                self.problem(BAD_LANGUAGE, where=where, value=language)
            translations = self.translations(table, where, ("name", "adjective"))
            prompt_tables = self.array_of_tables(table, "prompts", where)
            if not prompt_tables and self.purpose is Purpose.GENERATE:
                self.problem(NO_PROMPTS, where=where, code=code or index)
            prompts = []
            for number, raw_prompt in enumerate(prompt_tables):
                prompt_where = f"{where} prompts[{number}]"
                prompt = self.read_prompt(raw_prompt, prompt_where, has_study_seeds)
                prompts.append(prompt)
                prompt_places.append((prompt.id, prompt_where))
            countries.append(
                Country(code, name, adjective, language, tuple(prompts), translations)
            )
        self.duplicates(
            DUPLICATE_COUNTRY_CODE,
            "code",
            [(c.code, f"countries[{i}]") for i, c in enumerate(countries)],
        )
        self.duplicates(DUPLICATE_PROMPT_ID, "prompt_id", prompt_places)
        return countries

    def read_prompt(self, raw: dict, where: str, has_study_seeds: bool) -> Prompt:
        table = self.table(raw, where, PROMPT_KEYS)
        prompt_id = self.slug(table, "id", where, max_length=100)
        text = self.text(table, "text", where)
        category = self.text(table, "category", where, required=False)
        seeds = self.seeds(table["seeds"], where) if "seeds" in table else None
        if "seeds" not in table and not has_study_seeds and self.purpose is Purpose.GENERATE:
            self.problem(NO_SEEDS, where=where, prompt_id=prompt_id)
        where = f"prompt {prompt_id!r}" if prompt_id else where
        self.shown[(where, "text")] = text
        translations = self.translations(table, where, ("text",))
        return Prompt(prompt_id, text, category, seeds, translations)
