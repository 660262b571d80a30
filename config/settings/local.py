"""Local development on this machine: runserver on 127.0.0.1.

DEBUG is on unless DJANGO_DEBUG=false, and then only for clients on this machine
(config.middleware.DebugLoopbackOnlyMiddleware): the debug page shows settings and
local variables. The demo serves with DJANGO_DEBUG=false. Static files come from the
apps' folders through whitenoise, with or without DEBUG, so no collectstatic is needed.
"""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
SERVE_MEDIA = env.bool("SERVE_MEDIA", default=True)
