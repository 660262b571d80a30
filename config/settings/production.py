"""Production: every secret and host from the environment, HTTPS everywhere.

Required: DJANGO_SECRET_KEY, DJANGO_ALLOWED_HOSTS and CACHE_URL (Redis). Usually also
DATABASE_URL (PostgreSQL). There is deliberately no default secret: a missing
DJANGO_SECRET_KEY stops the process at start-up. Neither is there a default cache:
throttles and lockouts count in the cache, and with one local-memory cache per
gunicorn worker every limit would be multiplied by the number of workers.
"""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import CACHES, env

ERROR_NO_SHARED_CACHE = (
    "Production needs a cache shared by every worker (throttles and login lockouts count "
    "there): set CACHE_URL, e.g. redis://127.0.0.1:6379/1."
)
PER_PROCESS_CACHES = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)

DEBUG = False
SECRET_KEY = env("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
if not env.str("CACHE_URL", default="") or CACHES["default"]["BACKEND"] in PER_PROCESS_CACHES:
    raise ImproperlyConfigured(ERROR_NO_SHARED_CACHE)

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
# Load balancers and monitors probe over plain HTTP: the health check answers 200 there
# instead of redirecting to HTTPS.
SECURE_REDIRECT_EXEMPT = [r"^healthz/$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
