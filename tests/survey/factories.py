"""Small studies for tests: a spec, countries, and image sets of tiny real PNG images.

The images deliberately carry their variant's key and label in PNG text chunks and in
their file names, as careless tooling would, so the blinding tests prove the survey
strips them.
"""

import io
from pathlib import Path

from django.core.files.base import ContentFile
from PIL import Image, PngImagePlugin

from generation.models import GeneratedImage, ImageSet, ModelVariant
from generation.services.copies import participant_copies_make
from study.spec import Country, ImageFormat, StudySpec, SurveySettings
from survey.services import study_setup

VARIANTS = (
    ("pretrained", "Stable Diffusion", "CompVis/stable-diffusion-v1-4", ""),
    ("finetune", "Plain fine-tuning", "CompVis/stable-diffusion-v1-4", "adapters/ft-only"),
    ("perceptual", "Perceptual loss", "CompVis/stable-diffusion-v1-4", "adapters/perc-loss"),
    ("scoft", "SCoFT full model", "CompVis/stable-diffusion-v1-4", "adapters/scoft-all"),
)
COUNTRIES = (
    Country(code="NG", name="Nigeria", adjective="Nigerian", language="en"),
    Country(code="CN", name="China", adjective="Chinese", language="zh-hans"),
    Country(code="IN", name="India", adjective="Indian", language="hi"),
    Country(code="KR", name="Korea", adjective="Korean", language="ko"),
    Country(code="MX", name="Mexico", adjective="Mexican", language="es"),
)


def survey_spec(slug="demo", countries=COUNTRIES[:2], pages=3, answers=10, **extra) -> StudySpec:
    return StudySpec(
        path=Path("study.toml"),
        slug=slug,
        title="How well do these images show your culture?",
        countries=tuple(countries),
        survey=SurveySettings(pages_per_participant=pages, answers_per_image_set=answers, **extra),
    )


def png_bytes(colour, *, variant_key="", label="", size=8) -> bytes:
    """A tiny PNG; its text chunks name the variant, as a leaky pipeline might."""
    info = PngImagePlugin.PngInfo()
    if variant_key:
        info.add_text("variant", variant_key)
        info.add_text("parameters", f"{label} lora={variant_key}")
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


def make_variants(study_slug):
    return [
        ModelVariant.objects.get_or_create(
            study_slug=study_slug,
            key=key,
            defaults={"label": label, "base_model": base, "adapter_path": adapter, "position": i},
        )[0]
        for i, (key, label, base, adapter) in enumerate(VARIANTS)
    ]


def add_image(image_set, variant, data: bytes, *, size: int, sha256: str) -> GeneratedImage:
    """One variant's image of an image set, stored as ``<variant>-<prompt id>.png``."""
    image = GeneratedImage(
        image_set=image_set,
        variant=variant,
        sha256=sha256,
        width=size,
        height=size,
        seed=image_set.seed,
        base_model=variant.base_model,
    )
    image.file.save(f"{variant.key}-{image_set.prompt_id}.png", ContentFile(data), save=False)
    image.save()
    return image


def make_image_sets(study_slug, country_code, count, variants=None, seed=1024):
    """``count`` image sets of one country, one tiny image per variant."""
    variants = variants or make_variants(study_slug)
    sets = []
    for number in range(count):
        image_set = ImageSet.objects.create(
            study_slug=study_slug,
            country_code=country_code,
            prompt_id=f"{country_code.lower()}-{number:02d}",
            prompt=f"A street market in {country_code}, scene {number}",
            category="market",
            seed=seed,
        )
        for shade, variant in enumerate(variants):
            data = png_bytes(
                (40 * shade, 80, 200 - number), variant_key=variant.key, label=variant.label
            )
            add_image(image_set, variant, data, size=8, sha256="0" * 64)
        sets.append(image_set)
    # As registration does (generation.services.register): participant copies per set.
    participant_copies_make(study_slug=study_slug, image_format=ImageFormat())
    return sets


def make_study(sets_per_country=4, **spec_options):
    """A study set up from a spec, with image sets for each of its countries."""
    spec = survey_spec(**spec_options)
    study, _ = study_setup(spec=spec)
    variants = make_variants(study.slug)
    for country in spec.countries:
        make_image_sets(study.slug, country.code, sets_per_country, variants)
    return study
