"""import_batch's service: image sets generated elsewhere, from manifest CSVs.

A manifest CSV has a `prompt` column, a `seed` column and one column per variant holding
an image path (optional `prompt_id` and `category` columns are used when present). The
published SCoFT survey images come as a folder per country, each holding
`<Country>_files.csv` with the columns "prompt", "Generic Stable Diffusion", "Pure
Finetune", "Positive", "Contrastive", "seed", and paths relative to the parent folder.

Every row and every file is checked (present, decodes, the import's common size, not a
duplicate) before anything is written; then the files are copied into MEDIA_ROOT and the
rows registered in one transaction. Importing the same folder again changes nothing.
By default one bad file stops the whole import; with `skip_incomplete` a row whose
images are missing, unreadable or of the wrong size is left out (and listed with its
reasons) while every complete row is imported.

No torch here.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings as django_settings
from PIL import Image, UnidentifiedImageError

from study.names import PUBLISHED_COLUMNS, PUBLISHED_COUNTRIES, VARIANT_LABELS
from study.spec import MAX_SEED, ImageFormat, StudySpec

from ..models import GeneratedImage
from . import archive
from .register import ImageRecord, RegisterResult, VariantRecord, image_sets_register

OUTPUT_FOLDER = "imported"  # under MEDIA_ROOT: imported/<study slug>/
MANIFEST_SUFFIX = "_files.csv"
PROMPT, SEED, PROMPT_ID, CATEGORY = "prompt", "seed", "prompt_id", "category"
KNOWN_COLUMNS = (PROMPT, SEED, PROMPT_ID, CATEGORY)

# The published survey's five cultures by lower-case folder name (ISO 3166 codes).
PUBLISHED_CODES = {name.lower(): code for name, code in PUBLISHED_COUNTRIES.items()}

# --- error messages (tests assert on these) -----------------------------------------------
IMPORT_HAS_PROBLEMS = "The import from {path} has {count} problem(s); nothing was imported:"
NOTHING_TO_IMPORT = (
    "{path} is neither a manifest CSV nor a folder holding <Country>" + MANIFEST_SUFFIX + " files"
)
CSV_UNREADABLE = "{csv}: cannot be read as CSV ({reason})"
MISSING_COLUMN = "{csv}: the column {column!r} is missing"
NO_VARIANT_COLUMNS = "{csv}: no variant columns (one column per variant, holding image paths)"
UNMAPPED_COLUMN = (
    "{csv}: column {column!r} is not mapped to a variant key; give --variant '{column}=KEY' "
    "or a variant with csv_column = {column!r} in the spec"
)
UNKNOWN_VARIANT = "--variant {column!r}: variant key {key!r} is not in the spec"
BAD_VARIANT_KEY = "--variant {column!r}: {key!r} is not a slug (letters, digits, '-' or '_')"
DUPLICATE_VARIANT_KEY = "variant key {key!r} is given to more than one column ({columns})"
UNKNOWN_COUNTRY = (
    "{csv}: cannot tell the country code for {name!r}; give --country '{name}=CODE' or a "
    "country with that name in the spec"
)
EMPTY_PROMPT = "{csv} line {line}: the prompt is empty"
BAD_SEED = "{csv} line {line}: seed {value!r} is not a whole number from 0 to " + str(MAX_SEED)
EMPTY_PATH = "{csv} line {line}: no image path for {column!r}"
FILE_MISSING = "{csv} line {line}: {column!r} image {path} does not exist"
FILE_UNREADABLE = "{csv} line {line}: {column!r} image {path} cannot be decoded as an image"
IMAGE_TOO_LARGE = (
    "{csv} line {line}: {column!r} image {path} is {width}x{height} pixels; at most "
    "{limit:,} pixels are accepted (decoding it would take about {megabytes:,} MB)"
)
WRONG_SIZE = (
    "{csv} line {line}: {column!r} image {path} is {width}x{height} px; the import's other "
    "images are {common_width}x{common_height} px"
)
DUPLICATE_FILE = "{csv} line {line}: {column!r} image {path} is the same image as {other}"
DUPLICATE_SET = "{csv} line {line}: prompt {prompt!r} with seed {seed} also appears at {other}"
ALREADY_REGISTERED = (
    "{csv} line {line}: {column!r} image {path} is already in the database as another image "
    "({other})"
)
# A survey image is at most a few megapixels (the study's models make 512-1024 px);
# checked from the file's header before any pixel is decoded (4 bytes per pixel).
MAX_IMAGE_PIXELS = 4096 * 4096
NO_STUDY = "give --study SLUG or --spec SPEC: the images need a study"


def _whole_number(text: str) -> int | None:
    """ "10551" or "10551.0" (spreadsheets write integers as floats) as an int, else None."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return None
    return int(number) if number.is_integer() else None


class ImportProblems(ValueError):
    """Nothing can be imported; `problems` lists every problem, one sentence each."""

    def __init__(self, path: Path | str, problems: list[str]):
        self.problems = list(problems)
        header = IMPORT_HAS_PROBLEMS.format(path=path, count=len(problems))
        super().__init__("\n".join([header, *(f"  - {p}" for p in problems)]))


@dataclass(frozen=True)
class Manifest:
    """One manifest CSV: its country and the folder its image paths are relative to."""

    csv: Path
    root: Path
    country_name: str  # from <Country>_files.csv; "" for a plain manifest


@dataclass(frozen=True)
class ImportImage:
    """A checked image ready to copy and register."""

    source: Path
    record: ImageRecord


@dataclass(frozen=True)
class SkippedRow:
    """A manifest row left out by `skip_incomplete`, with why (one sentence per image)."""

    csv: str
    line: int
    prompt: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class ImportPlan:
    """Everything an import will write, checked."""

    study_slug: str
    variants: tuple[VariantRecord, ...]
    images: tuple[ImportImage, ...]
    from_spec: bool = False  # the spec describes the variants fully: update their rows
    skipped: tuple[SkippedRow, ...] = ()
    image_format: ImageFormat = ImageFormat()  # participant copies: the spec's, or the default

    @property
    def image_set_count(self) -> int:
        return len({(i.record.prompt_id, i.record.seed) for i in self.images})


def find_manifests(path: Path) -> list[Manifest]:
    """The manifest CSVs at `path`: a CSV file, a country folder, or a folder of them."""
    path = Path(path)
    if path.is_file():
        country = _country_name(path)
        # A published <Country>_files.csv names paths from its folder's parent.
        return [Manifest(path, path.parent.parent if country else path.parent, country)]
    if not path.is_dir():
        return []
    own = sorted(path.glob("*" + MANIFEST_SUFFIX))
    if own:  # a single country folder: paths are relative to its parent
        return [Manifest(csv_path, path.parent, _country_name(csv_path)) for csv_path in own]
    return [
        Manifest(csv_path, path, _country_name(csv_path))
        for csv_path in sorted(path.glob("*/*" + MANIFEST_SUFFIX))
    ]


def _country_name(csv_path: Path) -> str:
    name = csv_path.name
    return name[: -len(MANIFEST_SUFFIX)] if name.endswith(MANIFEST_SUFFIX) else ""


def import_plan(
    path: Path | str,
    *,
    spec: StudySpec | None = None,
    study_slug: str | None = None,
    variant_keys: Mapping[str, str] | None = None,
    country_codes: Mapping[str, str] | None = None,
    skip_incomplete: bool = False,
) -> ImportPlan:
    """Check every manifest row and file under `path`; raise ImportProblems listing all.

    `variant_keys` maps CSV columns to variant keys (else the spec's csv_column, label or
    key, else the published column names). `country_codes` maps country names (the
    <Country> of <Country>_files.csv, or "" for a plain CSV) to codes. With
    `skip_incomplete`, rows with a missing, unreadable or wrongly sized image are left
    out and listed in the plan's `skipped` instead of stopping the import.
    """
    path = Path(path)
    checker = _Checker(
        spec, dict(variant_keys or {}), dict(country_codes or {}), skip_incomplete
    )
    slug = spec.slug if spec is not None else (study_slug or "")
    if not slug:
        checker.problems.append(NO_STUDY)
    manifests = find_manifests(path)
    if not manifests:
        raise ImportProblems(path, [NOTHING_TO_IMPORT.format(path=path), *checker.problems])
    images = [image for manifest in manifests for image in checker.read(manifest, slug)]
    images = checker.check_sizes(images)
    checker.check_database(slug, images)
    if checker.problems:
        raise ImportProblems(path, checker.problems)
    return ImportPlan(
        slug,
        tuple(checker.variant_records()),
        tuple(images),
        from_spec=spec is not None,
        skipped=tuple(checker.skipped_rows()),
        image_format=spec.survey.image_format if spec is not None else ImageFormat(),
    )


def import_apply(plan: ImportPlan) -> RegisterResult:
    """Copy the checked files into MEDIA_ROOT and register them in one transaction."""
    media = Path(django_settings.MEDIA_ROOT)
    for image in plan.images:
        archive.copy_file(image.source, media / image.record.file)
    records = [image.record for image in plan.images]
    return image_sets_register(
        study_slug=plan.study_slug,
        variants=plan.variants,
        images=records,
        update_variants=plan.from_spec,
        image_format=plan.image_format,
    )


class _Checker:
    """Reads manifests, collecting every problem instead of stopping at the first."""

    def __init__(
        self,
        spec,
        variant_keys: dict[str, str],
        country_codes: dict[str, str],
        skip_incomplete: bool = False,
    ):
        self.spec = spec
        self.skip_incomplete = skip_incomplete
        # (csv name, line) -> (prompt, reasons) of rows left out by skip_incomplete
        self.skipped: dict[tuple[str, int], tuple[str, list[str]]] = {}
        self.row_of: dict[int, tuple[str, int, str]] = {}  # id(image) -> csv, line, prompt
        self.variant_keys = variant_keys
        self.country_codes = {k.lower(): v for k, v in country_codes.items()}
        self.problems: list[str] = []
        self.columns: dict[str, str] = {}  # column -> variant key, in first-seen order
        self.seen_files: dict[str, str] = {}  # sha256 -> "csv line N column"
        self.seen_sets: dict[tuple[str, int], str] = {}
        # (variant, prompt id, seed) -> (csv name, line, column, path as written)
        self.places: dict[tuple[str, str, int], tuple[str, int, str, str]] = {}
        self._check_variant_options()

    # variants ---------------------------------------------------------------------------
    def _check_variant_options(self) -> None:
        for column, key in self.variant_keys.items():
            if not re.fullmatch(r"[-a-zA-Z0-9_]+", key):
                self.problems.append(BAD_VARIANT_KEY.format(column=column, key=key))
            elif self.spec_variants and key not in {v.key for v in self.spec.variants}:
                self.problems.append(UNKNOWN_VARIANT.format(column=column, key=key))

    @property
    def spec_variants(self) -> bool:
        """The spec lists the variants (else the published survey's columns apply)."""
        return self.spec is not None and bool(self.spec.variants)

    def variant_for(self, column: str) -> str | None:
        if column in self.variant_keys:
            return self.variant_keys[column]
        if self.spec_variants:
            for variant in self.spec.variants:
                if column in (variant.csv_column, variant.label, variant.key):
                    return variant.key
            return None
        return PUBLISHED_COLUMNS.get(column)

    def variant_records(self) -> Iterator[VariantRecord]:
        spec_variants = {v.key: v for v in self.spec.variants} if self.spec else {}
        for position, (column, key) in enumerate(self.columns.items()):
            variant = spec_variants.get(key)
            if variant is not None:
                yield VariantRecord(
                    key,
                    variant.label,
                    variant.model,
                    str(variant.adapter or ""),
                    "",
                    variant.position,
                )
            else:
                label = column if column in self.variant_keys else VARIANT_LABELS.get(key, column)
                yield VariantRecord(key, label, "", "", "", position)

    # countries and prompts --------------------------------------------------------------
    def country_code(self, manifest: Manifest) -> str | None:
        name = manifest.country_name
        if name.lower() in self.country_codes:
            return self.country_codes[name.lower()]
        if "" in self.country_codes:
            return self.country_codes[""]
        if self.spec is not None:
            for country in self.spec.countries:
                if name.lower() in (country.name.lower(), country.code.lower()):
                    return country.code
        return PUBLISHED_CODES.get(name.lower())

    def prompt_id(self, code: str, prompt: str, row: dict) -> tuple[str, str]:
        """(prompt id, category): the CSV's, the spec's for the same text, or derived."""
        category = (row.get(CATEGORY) or "").strip()
        if (row.get(PROMPT_ID) or "").strip():
            return row[PROMPT_ID].strip(), category
        if self.spec is not None:
            for country in self.spec.countries:
                for known in country.prompts:
                    if country.code == code and known.text.strip() == prompt:
                        return known.id, category or known.category
        # A stable id from the text, so reimporting the same prompt finds the same set.
        digest = hashlib.sha256(prompt.encode()).hexdigest()[:12]
        return f"{code.lower()}-{digest}", category

    # rows -------------------------------------------------------------------------------
    def read(self, manifest: Manifest, slug: str) -> list[ImportImage]:
        name = manifest.csv.name
        try:
            with open(manifest.csv, newline="", encoding="utf-8-sig") as handle:
                reader = csv.DictReader(handle)
                columns = [c.strip() for c in reader.fieldnames or []]
                rows = [{(k or "").strip(): v for k, v in row.items()} for row in reader]
        except (OSError, UnicodeDecodeError, csv.Error) as error:
            self.problems.append(CSV_UNREADABLE.format(csv=name, reason=error))
            return []
        missing = [c for c in (PROMPT, SEED) if c not in columns]
        for column in missing:
            self.problems.append(MISSING_COLUMN.format(csv=name, column=column))
        variant_columns = [c for c in columns if c and c not in KNOWN_COLUMNS]
        if not variant_columns:
            self.problems.append(NO_VARIANT_COLUMNS.format(csv=name))
        mapped = self._map_columns(name, variant_columns)
        code = self.country_code(manifest)
        if code is None:
            self.problems.append(UNKNOWN_COUNTRY.format(csv=name, name=manifest.country_name))
        if missing or len(mapped) != len(variant_columns) or code is None:
            return []
        images = []
        for line, row in enumerate(rows, start=2):  # line 1 is the header
            images.extend(self._read_row(manifest, slug, code, line, row, mapped))
        return images

    def _map_columns(self, name: str, columns: Sequence[str]) -> dict[str, str]:
        mapped = {}
        for column in columns:
            key = self.variant_for(column)
            if key is None:
                self.problems.append(UNMAPPED_COLUMN.format(csv=name, column=column))
                continue
            mapped[column] = key
            if column not in self.columns:
                clash = [c for c, k in self.columns.items() if k == key]
                if clash:
                    self.problems.append(
                        DUPLICATE_VARIANT_KEY.format(
                            key=key, columns=", ".join(repr(c) for c in [*clash, column])
                        )
                    )
                self.columns[column] = key
        return mapped

    def _read_row(self, manifest, slug, code, line, row, mapped) -> list[ImportImage]:
        name = manifest.csv.name
        prompt = (row.get(PROMPT) or "").strip()
        if not prompt:
            self.problems.append(EMPTY_PROMPT.format(csv=name, line=line))
        raw_seed = (row.get(SEED) or "").strip()
        seed = _whole_number(raw_seed)
        if seed is None or not 0 <= seed <= MAX_SEED:
            self.problems.append(BAD_SEED.format(csv=name, line=line, value=raw_seed))
            seed = None
        prompt_id, category = self.prompt_id(code, prompt, row)
        if seed is not None and prompt:
            other = self.seen_sets.setdefault((prompt_id, seed), f"{name} line {line}")
            if other != f"{name} line {line}":
                self.problems.append(
                    DUPLICATE_SET.format(csv=name, line=line, prompt=prompt, seed=seed, other=other)
                )
        images, file_problems = [], []
        # Without skip_incomplete a bad file is a problem of the import, listed in order.
        problems = file_problems if self.skip_incomplete else self.problems
        for column, key in mapped.items():
            value = (row.get(column) or "").strip()
            checked = self._check_file(manifest, line, column, value, problems)
            if checked is None or seed is None or not prompt:
                continue
            source, sha, width, height = checked
            self.places[(key, prompt_id, seed)] = (name, line, column, row[column].strip())
            record = ImageRecord(
                variant_key=key,
                country_code=code,
                prompt_id=prompt_id,
                prompt=prompt,
                category=category,
                seed=seed,
                file=f"{OUTPUT_FOLDER}/{slug}/{key}/{code}/{prompt_id}-{seed}"
                f"{source.suffix.lower()}",
                sha256=sha,
                width=width,
                height=height,
                source=GeneratedImage.Source.IMPORTED,
            )
            image = ImportImage(source, record)
            self.row_of[id(image)] = (name, line, prompt)
            images.append(image)
        if file_problems:
            self.skipped[(name, line)] = (prompt, file_problems)
            return []
        return images

    def check_sizes(self, images: list[ImportImage]) -> list[ImportImage]:
        """Every image of an import has the most common size: a set's images are shown
        side by side, and one of another size would stand out (and unblind its variant)."""
        if not images:
            return images
        sizes = Counter((i.record.width, i.record.height) for i in images)
        (common_width, common_height), _count = sizes.most_common(1)[0]
        bad_rows: dict[tuple[str, int], list[str]] = {}
        for image in images:
            record = image.record
            if (record.width, record.height) == (common_width, common_height):
                continue
            name, line, _prompt = self.row_of[id(image)]
            _csv, _line, column, path = self.places[
                (record.variant_key, record.prompt_id, record.seed)
            ]
            bad_rows.setdefault((name, line), []).append(
                WRONG_SIZE.format(
                    csv=name,
                    line=line,
                    column=column,
                    path=path,
                    width=record.width,
                    height=record.height,
                    common_width=common_width,
                    common_height=common_height,
                )
            )
        for row, reasons in bad_rows.items():
            if self.skip_incomplete:
                prompt = next(p for n, li, p in self.row_of.values() if (n, li) == row)
                self.skipped[row] = (prompt, reasons)
            else:
                self.problems.extend(reasons)
        return [image for image in images if self.row_of[id(image)][:2] not in self.skipped]

    def skipped_rows(self) -> Iterator[SkippedRow]:
        for (name, line), (prompt, reasons) in sorted(self.skipped.items()):
            yield SkippedRow(name, line, prompt, tuple(reasons))

    def _check_file(self, manifest: Manifest, line: int, column: str, value: str, problems):
        """(path, sha256, width, height), or None with the reason added to `problems`."""
        name = manifest.csv.name
        if not value:
            problems.append(EMPTY_PATH.format(csv=name, line=line, column=column))
            return None
        candidates = [manifest.root / value, manifest.csv.parent / value]
        path = next((p for p in candidates if p.is_file()), candidates[0])
        if not path.is_file():
            problems.append(FILE_MISSING.format(csv=name, line=line, column=column, path=value))
            return None
        try:
            with Image.open(path) as image:
                width, height = image.size  # from the header; nothing decoded yet
                if width * height > MAX_IMAGE_PIXELS:
                    problems.append(
                        IMAGE_TOO_LARGE.format(
                            csv=name,
                            line=line,
                            column=column,
                            path=value,
                            width=width,
                            height=height,
                            limit=MAX_IMAGE_PIXELS,
                            megabytes=width * height * 4 // 1_000_000,
                        )
                    )
                    return None
                image.load()  # decodes every pixel: a truncated file fails here
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
            problems.append(FILE_UNREADABLE.format(csv=name, line=line, column=column, path=value))
            return None
        sha = archive.sha256_file(path)
        here = f"{name} line {line} {column!r}"
        other = self.seen_files.setdefault(sha, here)
        if other != here:
            self.problems.append(
                DUPLICATE_FILE.format(csv=name, line=line, column=column, path=value, other=other)
            )
            return None
        return path, sha, width, height

    def check_database(self, slug: str, images: list[ImportImage]) -> None:
        """An image already registered for another variant, prompt or seed is a duplicate."""
        by_sha = {image.record.sha256: image.record for image in images}
        existing = GeneratedImage.objects.filter(sha256__in=by_sha).select_related(
            "image_set", "variant"
        )
        for row in existing:
            record = by_sha[row.sha256]
            same_slot = (
                row.image_set.study_slug,
                row.variant.key,
                row.image_set.prompt_id,
                row.image_set.seed,
            ) == (slug, record.variant_key, record.prompt_id, record.seed)
            if not same_slot:
                csv_name, line, column, path = self.places[
                    (record.variant_key, record.prompt_id, record.seed)
                ]
                self.problems.append(
                    ALREADY_REGISTERED.format(
                        csv=csv_name,
                        line=line,
                        column=column,
                        path=path,
                        other=f"{row.image_set} [{row.variant.key}]",
                    )
                )
