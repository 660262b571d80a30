"""Participant copies: the blinded file of each image that participants download.

Made once, when an image set is registered (or by `make_participant_copies` for a study
registered before copies existed), never per request:

- pixels only: the source is decoded and its pixels copied into a new image, so text
  chunks (prompts, LoRA names, sampler settings), EXIF, ICC profiles and the original
  file name never reach participants;
- in the spec's `[survey] image_format` (study.spec.ImageFormat);
- every copy of an image set padded to the same byte length with a chunk that decoders
  skip (PNG: a private ancillary chunk; WebP: an unknown RIFF chunk in the extended
  format; JPEG: comment segments), so download sizes say nothing about the variant;
- stored under an opaque name (`participant/<random>.<ext>`) in the default storage,
  the local disk or an S3-compatible object store.

Copies are written set by set, each set's rows updated in its own transaction after its
files are stored; a crash leaves sets without copies, which the next run makes.

No torch here.
"""

from __future__ import annotations

import io
import logging
import secrets
import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings as django_settings
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage, default_storage
from django.db import transaction
from django.db.models import Q
from PIL import Image

from study.spec import ImageFormat

from ..models import GeneratedImage

log = logging.getLogger(__name__)

PARTICIPANT_FOLDER = "participant"  # storage folder of the copies
CONTENT_TYPES = {
    "png": "image/png",
    "webp_lossless": "image/webp",
    "webp": "image/webp",
    "jpeg": "image/jpeg",
}
EXTENSIONS = {"png": "png", "webp_lossless": "webp", "webp": "webp", "jpeg": "jpg"}

# --- error messages (tests assert on these) -----------------------------------------------
SOURCE_MISSING = "The source file {name} of image {public_id} is in neither MEDIA_ROOT nor storage."
SOURCE_UNREADABLE = "The source file {name} of image {public_id} is not an image Pillow can read."


class CopyError(ValueError):
    """A participant copy cannot be made; the message names the image."""


def content_type(format_name: str) -> str:
    """The Content-Type of a participant copy of this format."""
    return CONTENT_TYPES[format_name]


# --- encoding and padding -----------------------------------------------------------------


def pixels_only(source: Image.Image) -> Image.Image:
    """A new image holding only the source's pixels (RGB, or RGBA if it has alpha)."""
    source.load()
    has_alpha = source.mode in ("RGBA", "LA", "PA") or "transparency" in source.info
    mode = "RGBA" if has_alpha else "RGB"
    pixels = source.convert(mode)
    return Image.frombytes(mode, pixels.size, pixels.tobytes())


def encode(image: Image.Image, image_format: ImageFormat) -> bytes:
    """The pixels encoded in the chosen format, with no metadata."""
    clean = pixels_only(image)
    buffer = io.BytesIO()
    name = image_format.name
    if name == "png":
        clean.save(buffer, "PNG", optimize=True)
    elif name == "webp_lossless":
        # method 4 and effort 80: libwebp's defaults; the slowest settings took ten times
        # as long (seconds per 512-px image) for a few percent fewer bytes.
        clean.save(buffer, "WEBP", lossless=True, quality=80, method=4, exact=True)
    elif name == "webp":
        clean.save(buffer, "WEBP", quality=image_format.quality, method=4)
    elif name == "jpeg":
        # 4:4:4: chroma subsampling costs little at 512 px and keeps colours of small
        # details, which participants judge.
        clean.convert("RGB").save(buffer, "JPEG", quality=image_format.quality, subsampling=0)
    else:
        raise ValueError(f"unknown image format {name!r}")
    return buffer.getvalue()


def padding_floor(data: bytes) -> int:
    """The fewest bytes a padding chunk adds to this file (an empty chunk)."""
    kind = _kind(data)
    if kind == "png":
        return 12  # length, type, CRC
    if kind == "jpeg":
        return 4  # marker and length of one comment segment
    # WebP: an 8-byte chunk header, plus the 18-byte VP8X chunk a simple file needs.
    return 8 if data[12:16] == b"VP8X" else 26


def pad(data: bytes, size: int) -> bytes:
    """`data` grown to exactly `size` bytes by a chunk that every decoder skips."""
    extra = size - len(data)
    if extra == 0:
        return data
    if extra < padding_floor(data):
        raise ValueError(f"cannot pad {len(data)} bytes to {size}: at least {padding_floor(data)}")
    kind = _kind(data)
    if kind == "png":
        return _pad_png(data, extra)
    if kind == "jpeg":
        return _pad_jpeg(data, extra)
    return _pad_webp(data, extra)


def padded_set(encoded: Sequence[bytes]) -> tuple[list[bytes], int]:
    """Every copy of a set padded to one common length (each gets a padding chunk)."""
    size = max(len(data) + padding_floor(data) for data in encoded)
    if any((size - len(data)) % 2 for data in encoded if _kind(data) == "webp"):
        size += 1  # RIFF chunks have even lengths; WebP files are even, so all pad evenly
    return [pad(data, size) for data in encoded], size


def _kind(data: bytes) -> str:
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:2] == b"\xff\xd8":
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    raise ValueError("not a PNG, JPEG or WebP file")


def _pad_png(data: bytes, extra: int) -> bytes:
    # "scFt": lower-case first letter = ancillary (decoders skip it), lower-case
    # second = private; placed just before IEND.
    kind = b"scFt"
    body = bytes(extra - 12)
    chunk = struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    end = len(data) - 12  # IEND is the last, empty chunk
    assert data[end + 4 : end + 8] == b"IEND"
    return data[:end] + chunk + data[end:]


def _pad_jpeg(data: bytes, extra: int) -> bytes:
    # Comment segments (FF FE, length includes its own two bytes, at most 65535) right
    # after the start-of-image marker.
    count = -(-extra // 65537)
    sizes = [extra // count + (1 if n < extra % count else 0) for n in range(count)]
    segments = b"".join(b"\xff\xfe" + struct.pack(">H", s - 2) + bytes(s - 4) for s in sizes)
    return data[:2] + segments + data[2:]


def _pad_webp(data: bytes, extra: int) -> bytes:
    if extra % 2:
        raise ValueError("a WebP file grows by whole RIFF chunks of even length")
    chunks = data[12:]
    if chunks[:4] != b"VP8X":
        # The simple format holds one image chunk; unknown chunks need the extended one.
        width, height, alpha = _webp_canvas(chunks)
        flags = 0x10 if alpha else 0
        canvas = struct.pack("<I", width - 1)[:3] + struct.pack("<I", height - 1)[:3]
        vp8x = b"VP8X" + struct.pack("<I", 10) + bytes([flags, 0, 0, 0]) + canvas
        chunks = vp8x + chunks
        extra -= 18
    body = bytes(extra - 8)
    chunks += b"PAD " + struct.pack("<I", len(body)) + body
    return b"RIFF" + struct.pack("<I", len(chunks) + 4) + b"WEBP" + chunks


def _webp_canvas(chunks: bytes) -> tuple[int, int, bool]:
    """Width, height and alpha of a simple-format WebP's image chunk."""
    fourcc, payload = chunks[:4], chunks[8:]
    if fourcc == b"VP8L":
        bits = int.from_bytes(payload[1:5], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, bool((bits >> 28) & 1)
    if fourcc == b"VP8 ":
        width, height = struct.unpack("<HH", payload[6:10])
        return width & 0x3FFF, height & 0x3FFF, False
    raise ValueError(f"unexpected WebP chunk {fourcc!r}")


# --- storing the copies of image sets -----------------------------------------------------


@dataclass
class CopiesResult:
    """What a run made."""

    image_sets: int = 0
    copies: int = 0
    sources_uploaded: int = 0


def image_sets_needing_copies(*, study_slug: str, image_format: ImageFormat, redo: bool = False):
    """Primary keys of the study's image sets with an image lacking a copy in this format."""
    images = GeneratedImage.objects.filter(image_set__study_slug=study_slug)
    if not redo:
        images = images.filter(Q(copy_file="") | ~Q(copy_format=image_format.key))
    return sorted(set(images.values_list("image_set_id", flat=True)))


def participant_copies_make(
    *,
    study_slug: str,
    image_format: ImageFormat,
    redo: bool = False,
    storage: Storage | None = None,
    progress=None,
) -> CopiesResult:
    """Make the copies of every image set of the study that lacks them (all with `redo`)."""
    storage = storage or default_storage
    result = CopiesResult()
    for set_id in image_sets_needing_copies(
        study_slug=study_slug, image_format=image_format, redo=redo
    ):
        images = list(GeneratedImage.objects.filter(image_set_id=set_id).order_by("pk"))
        result.sources_uploaded += image_set_copies_make(images, image_format, storage=storage)
        result.image_sets += 1
        result.copies += len(images)
        if progress is not None:
            progress(result)
    return result


def image_set_copies_make(
    images: Iterable[GeneratedImage], image_format: ImageFormat, *, storage: Storage
) -> int:
    """Write the padded copies of one image set and record them; returns sources uploaded.

    Old copies of these images are deleted once the new ones are recorded.
    """
    images = list(images)
    uploaded = sum(_source_publish(image, storage) for image in images)
    encoded = [encode(_source_open(image, storage), image_format) for image in images]
    copies, size = padded_set(encoded)
    old = [image.copy_file for image in images if image.copy_file]
    extension = EXTENSIONS[image_format.name]
    for image, data in zip(images, copies, strict=True):
        name = f"{PARTICIPANT_FOLDER}/{secrets.token_urlsafe(18)}.{extension}"
        image.copy_file = storage.save(name, ContentFile(data))
        image.copy_format = image_format.key
        image.copy_bytes = size
    with transaction.atomic():
        GeneratedImage.objects.bulk_update(images, ["copy_file", "copy_format", "copy_bytes"])
    for name in old:
        try:
            storage.delete(name)
        except OSError:  # a copy already gone is what we wanted
            log.warning("could not delete the old participant copy %s", name)
    return uploaded


def _local_path(name: str) -> Path:
    return Path(django_settings.MEDIA_ROOT) / name


def _source_publish(image: GeneratedImage, storage: Storage) -> int:
    """Upload the source from MEDIA_ROOT to an object store that lacks it (1 if uploaded).

    generate_batch and import_batch write sources to the local MEDIA_ROOT; with an
    object store as the default storage they are uploaded here, under the same name.
    """
    if isinstance(storage, FileSystemStorage):
        return 0
    local = _local_path(image.file.name)
    if storage.exists(image.file.name) or not local.is_file():
        return 0
    with local.open("rb") as handle:
        stored = storage.save(image.file.name, handle)
    if stored != image.file.name:  # the storage renamed it: keep the row pointing at it
        GeneratedImage.objects.filter(pk=image.pk).update(file=stored)
        image.file.name = stored
    return 1


def _source_open(image: GeneratedImage, storage: Storage) -> Image.Image:
    name = image.file.name
    local = _local_path(name)
    try:
        if local.is_file():
            data = local.read_bytes()
        else:
            with storage.open(name, "rb") as handle:
                data = handle.read()
    except (FileNotFoundError, OSError) as error:
        raise CopyError(SOURCE_MISSING.format(name=name, public_id=image.public_id)) from error
    try:
        opened = Image.open(io.BytesIO(data))
        opened.load()
    except (OSError, ValueError) as error:
        raise CopyError(SOURCE_UNREADABLE.format(name=name, public_id=image.public_id)) from error
    return opened
