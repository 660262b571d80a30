"""Blinded copies of images: pixels only, nothing that could name a variant.

Participants receive a fresh PNG re-encoded from the pixels, so text chunks (prompts,
LoRA names, sampler parameters), EXIF, ICC profiles and the original file name never
reach them. Copies are kept in a small per-process cache: a page's images are fetched
once per participant, and the same set is shown to several participants.
"""

import io
from functools import lru_cache

from PIL import Image

from generation.models import GeneratedImage

# About 64 images of 512x512 (well under 50 MB) per web process.
CACHE_SIZE = 64
PRACTICE_SHADES = ((20, 40, 230), (90, 110, 210), (150, 160, 190), (200, 200, 200))


def image_blinded_png(*, image: GeneratedImage) -> bytes:
    """The image's pixels as a new PNG with no metadata chunks."""
    return _blinded_copy(image.pk, image.sha256, image.file.name)


@lru_cache(maxsize=CACHE_SIZE)
def _blinded_copy(pk: int, sha256: str, name: str) -> bytes:
    # pk and sha256 key the cache; the storage name is only used to read the file.
    from django.core.files.storage import default_storage

    with default_storage.open(name, "rb") as handle:
        return pixels_to_png(Image.open(handle))


def pixels_to_png(source: Image.Image) -> bytes:
    """Copy only the pixels into a new image (empty ``info``) and encode it as PNG."""
    source.load()
    mode = "RGBA" if source.mode in ("RGBA", "LA", "PA") or "transparency" in source.info else "RGB"
    pixels = source.convert(mode)
    clean = Image.frombytes(mode, pixels.size, pixels.tobytes())
    buffer = io.BytesIO()
    clean.save(buffer, "PNG")
    return buffer.getvalue()


@lru_cache(maxsize=len(PRACTICE_SHADES))
def practice_png(number: int) -> bytes:
    """The practice page's squares: shades from clearly blue to grey."""
    return pixels_to_png(Image.new("RGB", (96, 96), PRACTICE_SHADES[number - 1]))
