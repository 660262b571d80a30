"""Project middleware: a ceiling on request bodies, and debug pages for this machine only."""

import ipaddress

from django.conf import settings
from django.http import HttpResponse

ERROR_BODY_TOO_LARGE = "The request is too large ({size} bytes; at most {limit} are accepted)."
ERROR_DEBUG_REMOTE = (
    "This server runs with DEBUG on and answers only this machine; run it with "
    "DJANGO_DEBUG=false (or the production settings) to serve other hosts."
)


class RequestBodyLimitMiddleware:
    """Refuse, before anything reads it, a body larger than REQUEST_BODY_MAX_BYTES.

    Django limits form fields in memory (DATA_UPLOAD_MAX_MEMORY_SIZE) but streams file
    parts of a multipart body to temporary files without a limit; no participant page
    takes a file, so a large body is refused with 413 before it is parsed. A body
    without Content-Length (chunked) is read by Django as empty.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.REQUEST_BODY_MAX_BYTES
        try:
            size = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            size = limit + 1
        if size > limit:
            response = HttpResponse(
                ERROR_BODY_TOO_LARGE.format(size=size, limit=limit) + "\n",
                status=413,
                content_type="text/plain; charset=utf-8",
            )
            # The unread body would otherwise be taken for the next request.
            response["Connection"] = "close"
            return response
        return self.get_response(request)


class DebugLoopbackOnlyMiddleware:
    """With DEBUG on, answer only clients on this machine (the debug page shows internals)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if settings.DEBUG and not _is_loopback(request.META.get("REMOTE_ADDR", "")):
            return HttpResponse(
                ERROR_DEBUG_REMOTE + "\n", status=403, content_type="text/plain; charset=utf-8"
            )
        return self.get_response(request)


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False
