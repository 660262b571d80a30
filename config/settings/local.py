"""The demo and local development: debug on, runserver on 127.0.0.1."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
STORAGES = {
    "default": STORAGES["default"],  # noqa: F405 (the local disk, or MEDIA_S3_BUCKET's store)
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
