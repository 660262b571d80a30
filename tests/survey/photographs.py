"""Real photographs for ranking pages: scikit-image's sample pictures at 512 x 512 px.

The survey shows four 512-px photographs per page; flat squares would hide layout
problems that real pictures show (detail lost at thumbnail size, a wide or a tall
subject). scikit-image ships these photographs in its wheel (pinned in requirements.txt);
they are read as files, so nothing is downloaded.
"""

import io
from functools import lru_cache
from importlib import resources

from PIL import Image, ImageOps

from generation.models import ImageSet
from generation.services.copies import participant_copies_make
from study.spec import ImageFormat

from .factories import add_image, make_variants

# Colour photographs in skimage/data: an astronaut, a cat, a cup of coffee, a rocket,
# a motorcycle, and a galaxy field.
PHOTOGRAPHS = (
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "rocket.jpg",
    "motorcycle_left.png",
    "hubble_deep_field.jpg",
)
SIZE = 512


@lru_cache(maxsize=len(PHOTOGRAPHS))
def photograph_png(name: str) -> bytes:
    """One of PHOTOGRAPHS, cropped to a square and scaled to 512 x 512, as PNG."""
    picture = resources.files("skimage") / "data" / name
    with resources.as_file(picture) as path, Image.open(path) as source:
        square = ImageOps.fit(source.convert("RGB"), (SIZE, SIZE), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    square.save(buffer, "PNG")
    return buffer.getvalue()


def make_photograph_sets(study_slug, country_code, count=1, variants=None, seed=7):
    """``count`` image sets of one country, each four different photographs."""
    variants = variants or make_variants(study_slug)
    sets = []
    for number in range(count):
        image_set = ImageSet.objects.create(
            study_slug=study_slug,
            country_code=country_code,
            prompt_id=f"{country_code.lower()}-photo-{number:02d}",
            prompt=f"Everyday life in {country_code}, picture {number}",
            category="everyday",
            seed=seed,
        )
        for slot, variant in enumerate(variants):
            name = PHOTOGRAPHS[(number + slot) % len(PHOTOGRAPHS)]
            add_image(
                image_set,
                variant,
                photograph_png(name),
                size=SIZE,
                sha256=f"{number:032d}{slot:032d}",
            )
        sets.append(image_set)
    # As registration does (generation.services.register): participant copies per set.
    participant_copies_make(study_slug=study_slug, image_format=ImageFormat())
    return sets
