"""Services that write image records; generate_batch and import_batch both end here.

Only complete image sets are registered: a prompt and seed with exactly one image per
variant of the study, so the survey never shows a page with an image missing. All rows
of one call are written in one transaction, so a crash registers all or nothing, and a
rerun with the same images changes nothing.

No torch here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from django.db import transaction

from ..models import IMAGE_FIELDS, GeneratedImage, ImageSet, ModelVariant


@dataclass(frozen=True)
class VariantRecord:
    """A model variant as the study spec (or the import command line) names it."""

    key: str
    label: str
    base_model: str = ""
    adapter_path: str = ""
    adapter_sha256: str = ""
    position: int = 0


@dataclass(frozen=True)
class ImageRecord:
    """One finished image to register, with everything needed to remake it."""

    variant_key: str
    country_code: str
    prompt_id: str
    prompt: str
    category: str
    seed: int
    file: str  # storage name, relative to MEDIA_ROOT
    sha256: str
    width: int
    height: int
    source: str = GeneratedImage.Source.GENERATED
    base_model: str = ""
    adapter_sha256: str = ""
    scheduler: str = ""
    steps: int | None = None
    guidance: float | None = None
    device: str = ""
    library_versions: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageRecord:
        return cls(**data)


@dataclass
class RegisterResult:
    """What a registration changed."""

    image_sets_created: int = 0
    images_created: int = 0
    images_updated: int = 0
    images_unchanged: int = 0
    image_sets_registered: int = 0  # complete sets written or confirmed
    incomplete_image_sets: list[tuple[str, int]] = field(default_factory=list)


def complete_image_sets(
    images: Iterable[ImageRecord], variant_keys: Sequence[str]
) -> tuple[dict[tuple[str, int], list[ImageRecord]], list[tuple[str, int]]]:
    """Split images into complete sets (one per variant) and the (prompt id, seed) of the rest."""
    sets: dict[tuple[str, int], dict[str, ImageRecord]] = {}
    for image in images:
        sets.setdefault((image.prompt_id, image.seed), {})[image.variant_key] = image
    wanted = set(variant_keys)
    complete = {k: [v[key] for key in variant_keys] for k, v in sets.items() if set(v) == wanted}
    incomplete = sorted(k for k, v in sets.items() if set(v) != wanted)
    return complete, incomplete


def image_sets_register(
    *,
    study_slug: str,
    variants: Sequence[VariantRecord],
    images: Iterable[ImageRecord],
    update_variants: bool = True,
) -> RegisterResult:
    """Create or update the variants, and the image sets that are complete, in one transaction.

    Idempotent: registering the same images again leaves every row as it was. An image
    whose file or hash changed (remade after its recipe changed) updates its row in place,
    keeping its public id. Rows are read and written in bulk: a study has thousands.
    With `update_variants=False`, variants already recorded keep their label, model and
    position (an import without a spec knows less about them than generate_batch did).
    """
    keys = [variant.key for variant in variants]
    complete, incomplete = complete_image_sets(images, keys)
    result = RegisterResult(incomplete_image_sets=incomplete, image_sets_registered=len(complete))
    with transaction.atomic():
        upsert = (
            ModelVariant.objects.update_or_create
            if update_variants
            else ModelVariant.objects.get_or_create
        )
        rows = {
            variant.key: upsert(
                study_slug=study_slug,
                key=variant.key,
                defaults={k: v for k, v in asdict(variant).items() if k != "key"},
            )[0]
            for variant in variants
        }
        sets = _image_sets_upsert(study_slug, complete, result)
        existing = {
            (row.image_set_id, row.variant_id): row
            for row in GeneratedImage.objects.filter(image_set__in=list(sets.values()))
        }
        new, changed = [], []
        for set_key, members in sorted(complete.items()):
            image_set = sets[set_key]
            for image in members:
                variant = rows[image.variant_key]
                values = {name: getattr(image, name) for name in IMAGE_FIELDS}
                row = existing.get((image_set.pk, variant.pk))
                if row is None:
                    new.append(GeneratedImage(image_set=image_set, variant=variant, **values))
                elif _image_values(row) != values:
                    for name, value in values.items():
                        setattr(row, name, value)
                    changed.append(row)
                else:
                    result.images_unchanged += 1
        GeneratedImage.objects.bulk_create(new, batch_size=500)
        GeneratedImage.objects.bulk_update(changed, IMAGE_FIELDS, batch_size=500)
        result.images_created, result.images_updated = len(new), len(changed)
    return result


def _image_sets_upsert(
    study_slug: str, complete: dict[tuple[str, int], list[ImageRecord]], result: RegisterResult
) -> dict[tuple[str, int], ImageSet]:
    """The ImageSet row of every complete set: created, or updated where the spec changed."""
    fields = ("country_code", "prompt", "category")
    found = {
        (row.prompt_id, row.seed): row
        for row in ImageSet.objects.filter(
            study_slug=study_slug, prompt_id__in={prompt_id for prompt_id, _ in complete}
        )
    }
    new, changed = [], []
    for (prompt_id, seed), members in sorted(complete.items()):
        values = {name: getattr(members[0], name) for name in fields}
        row = found.get((prompt_id, seed))
        if row is None:
            new.append(ImageSet(study_slug=study_slug, prompt_id=prompt_id, seed=seed, **values))
        elif any(getattr(row, name) != value for name, value in values.items()):
            for name, value in values.items():
                setattr(row, name, value)
            changed.append(row)
    ImageSet.objects.bulk_create(new, batch_size=500)
    ImageSet.objects.bulk_update(changed, fields, batch_size=500)
    result.image_sets_created = len(new)
    if new and new[0].pk is None:  # a database that does not return new keys
        found = {
            (row.prompt_id, row.seed): row for row in ImageSet.objects.filter(study_slug=study_slug)
        }
    else:
        found.update({(row.prompt_id, row.seed): row for row in new})
    return {key: found[key] for key in complete}


def _image_values(row: GeneratedImage) -> dict[str, Any]:
    values = {name: getattr(row, name) for name in IMAGE_FIELDS}
    values["file"] = row.file.name
    return values
