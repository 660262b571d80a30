"""What participants download: blinded copies only, never a source file.

The participant copy of every image is made once, when its image set is registered
(generation.services.copies: pixels only, the spec's format, the set's common byte
size, an opaque storage name). Here it is only sent, without decoding or re-encoding,
in one of three ways (setting SURVEY_IMAGE_SERVING, docs/images-and-storage.md):

- "stream": Django streams the stored file (local disk or object store);
- "x-accel-redirect": nginx sends it, from the internal location in
  SURVEY_IMAGE_ACCEL_PREFIX (which maps to MEDIA_ROOT or proxies the object store);
- "x-sendfile": Apache (mod_xsendfile) or lighttpd sends MEDIA_ROOT/<name>.

Responses are private (a participant's own page image) and cacheable for
SURVEY_IMAGE_MAX_AGE seconds (never past the link's expiry), so a browser fetches each
image of a page once.
"""

import io
import os
from functools import lru_cache

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.utils.cache import get_conditional_response, patch_cache_control
from PIL import Image

from generation.services.copies import content_type, pixels_only

from .image_links import LinkedCopy

SERVING_MODES = ("stream", "x-accel-redirect", "x-sendfile")
PRACTICE_SHADES = ((20, 40, 230), (90, 110, 210), (150, 160, 190), (200, 200, 200))


def participant_copy_response(request: HttpRequest, copy: LinkedCopy, etag: str) -> HttpResponse:
    """A participant copy as a response, in the configured serving mode.

    `copy` comes from the image link (survey.image_links), so nothing here touches the
    database; a copy missing from storage (made again since the page was shown) is 404.
    """
    mode = settings.SURVEY_IMAGE_SERVING
    kind = content_type(copy.copy_format.split("-q", 1)[0])
    not_modified = get_conditional_response(request, etag=etag)
    if not_modified is not None:
        response = not_modified
    elif mode == "x-accel-redirect":
        response = HttpResponse(content_type=kind)
        response["X-Accel-Redirect"] = (
            settings.SURVEY_IMAGE_ACCEL_PREFIX.rstrip("/") + "/" + copy.name
        )
    elif mode == "x-sendfile":
        response = HttpResponse(content_type=kind)
        response["X-Sendfile"] = os.path.join(settings.MEDIA_ROOT, copy.name)
    else:
        try:
            handle = default_storage.open(copy.name, "rb")
        except FileNotFoundError:
            raise Http404("No such image.") from None
        response = FileResponse(handle, content_type=kind)
        if copy.size:
            response["Content-Length"] = str(copy.size)
        response.headers.pop("Content-Disposition", None)  # the storage name stays inside
    response["ETag"] = etag
    response["X-Content-Type-Options"] = "nosniff"
    patch_cache_control(response, private=True, max_age=copy.max_age)
    return response


def pixels_to_png(source: Image.Image) -> bytes:
    """Copy only the pixels into a new image (empty ``info``) and encode it as PNG."""
    buffer = io.BytesIO()
    pixels_only(source).save(buffer, "PNG")
    return buffer.getvalue()


@lru_cache(maxsize=len(PRACTICE_SHADES))
def practice_png(number: int) -> bytes:
    """The practice page's squares: shades from clearly blue to grey."""
    return pixels_to_png(Image.new("RGB", (96, 96), PRACTICE_SHADES[number - 1]))
