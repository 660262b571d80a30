"""The test suite: fast hashing, plain static storage, media in a throwaway folder."""

import tempfile

from .base import *  # noqa: F403
from .base import env

DEBUG = False
SECRET_KEY = "test-only-key"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = env.path("MEDIA_ROOT", default=tempfile.mkdtemp(prefix="scoft-test-media-"))
# whitenoise warns about a missing STATIC_ROOT at every request; tests never collect static.
STATIC_ROOT = tempfile.mkdtemp(prefix="scoft-test-static-")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Tests log in with client.login(), which passes no request to the backends; the
# lockout tests turn django-axes on with the settings fixture.
AXES_ENABLED = False
