"""Image links: what a ranking page's image URLs carry, read back without the database.

A participant downloads four images per page, so the image request is most of the
survey's traffic. Its URL carries everything needed to send the copy, sealed with
AES-SIV (deterministic authenticated encryption, from `cryptography`) under a key
derived from SECRET_KEY:

- the copy's storage name, format and size, and when the link expires, encrypted, so
  the URL says nothing about the image, its variant or its file;
- bound (as associated data, not stored) to the study in the URL and to the viewer: a
  key derived from the participant's secret token that the ranking page also sets as
  an HttpOnly cookie on the study's image path. Another browser, another participant or a
  changed byte of the URL cannot open it.

So an image request reads no session and makes no query. The same participant gets the
same URL for the same copy until the link's expiry bucket turns (so the browser's
cache works across reloads); two participants never share one. Links expire between
one and two SURVEY_IMAGE_MAX_AGE periods after they were made; a page shown again gets
fresh links. Keys from SECRET_KEY_FALLBACKS still open links while a secret rotates.
"""

import base64
import binascii
import time
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from django.conf import settings
from django.utils.crypto import salted_hmac

VIEWER_COOKIE = "survey_viewer"
_KEY_SALT = "survey.image_links.key"
_VIEWER_SALT = "survey.image_links.viewer"
_SEPARATOR = "|"


@dataclass(frozen=True)
class LinkedCopy:
    """A participant copy as an image link names it."""

    name: str  # in the default storage
    copy_format: str  # GeneratedImage.copy_format, e.g. "webp_lossless"
    size: int | None  # bytes, when known
    expires: int  # unix seconds

    @property
    def max_age(self) -> int:
        """Seconds a browser may keep it: SURVEY_IMAGE_MAX_AGE, never past the expiry."""
        return max(0, min(settings.SURVEY_IMAGE_MAX_AGE, self.expires - int(time.time())))


def viewer_key(token: str) -> str:
    """The value of the viewer cookie for a participant's secret token."""
    return salted_hmac(_VIEWER_SALT, token, algorithm="sha256").hexdigest()[:32]


def link_make(*, study_public_id: str, viewer: str, copy: LinkedCopy) -> str:
    """The URL-safe id of a copy for one viewer in one study."""
    fields = (str(copy.expires), str(copy.size or 0), copy.copy_format, copy.name)
    sealed = _cipher(settings.SECRET_KEY).encrypt(
        _SEPARATOR.join(fields).encode(), [study_public_id.encode(), viewer.encode()]
    )
    return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()


def link_open(link: str, *, study_public_id: str, viewer: str) -> LinkedCopy | None:
    """The copy a link names, or None when it is damaged, expired or someone else's."""
    try:
        sealed = base64.urlsafe_b64decode(link + "=" * (-len(link) % 4))
    except (binascii.Error, ValueError):
        return None
    bound = [study_public_id.encode(), viewer.encode()]
    for secret in (settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", ())):
        try:
            plain = _cipher(secret).decrypt(sealed, bound)
        except (InvalidTag, ValueError):
            continue
        expires, size, copy_format, name = plain.decode().split(_SEPARATOR, 3)
        copy = LinkedCopy(name, copy_format, int(size) or None, int(expires))
        return copy if copy.expires > time.time() else None
    return None


def link_expiry(now: float | None = None) -> int:
    """When links made now expire: the end of the next SURVEY_IMAGE_MAX_AGE period.

    Periods are fixed (multiples of the max age since the epoch), so links made within
    one period are identical and the browser's cached copy is used again.
    """
    period = max(1, settings.SURVEY_IMAGE_MAX_AGE)
    now = time.time() if now is None else now
    return (int(now) // period + 2) * period


@lru_cache(maxsize=4)
def _cipher(secret: str) -> AESSIV:
    # AES-SIV takes a 512-bit key (two AES-256 keys).
    return AESSIV(salted_hmac(_KEY_SALT, "aes-siv", secret=secret, algorithm="sha512").digest())
