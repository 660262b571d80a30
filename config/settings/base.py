"""Settings shared by every environment; local, test and production only override.

Every secret and host comes from the environment (django-environ). The embedded
defaults give a fresh machine a working site: SQLite in WAL mode and a local-memory
cache. DATABASE_URL and CACHE_URL switch to PostgreSQL and Redis.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from study.names import LANGUAGES as PARTICIPANT_LANGUAGES

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
# A .env file is read when present so a researcher can keep deployment values in one place.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env("DJANGO_SECRET_KEY", default="insecure-local-only-key")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "axes",
    "generation",
    "survey",
]

MIDDLEWARE = [
    "config.middleware.DebugLoopbackOnlyMiddleware",
    "config.middleware.RequestBodyLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its lockout response.
    "axes.middleware.AxesMiddleware",
]

# --- logging in: lockout after failed passwords (django-axes) ---------------------------
# AxesStandaloneBackend must come first: it refuses a locked-out user before the
# password is even checked. StudyMembershipBackend gives per-study permissions.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "survey.permissions.StudyMembershipBackend",
]
# After AXES_FAILURE_LIMIT wrong passwords for one user name from one address, that
# user name is locked for that address for AXES_COOLOFF_HOURS (the right password is
# refused too). `manage.py axes_reset` lifts every lockout; attempts are kept in the
# database (admin: Axes > Access attempts).
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=1.0)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# No start-up banner on every management command; lockouts are still logged.
AXES_VERBOSE = False
# Client addresses for lockouts and the API's token throttle (config/clients.py): set
# CLIENT_BEHIND_PROXY=true only behind a proxy that appends to X-Forwarded-For.
CLIENT_BEHIND_PROXY = env.bool("CLIENT_BEHIND_PROXY", default=False)
AXES_CLIENT_IP_CALLABLE = "config.clients.client_address"

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- database -------------------------------------------------------------------------
# SQLite by default, tuned for many participants at once: WAL lets readers run beside
# the one writer, IMMEDIATE transactions take the write lock up front (no deadlocked
# upgrade from read to write), and the busy timeout makes a writer wait instead of
# failing with "database is locked".
SQLITE_PATH = env.path("SQLITE_PATH", default=BASE_DIR / "var" / "db.sqlite3")
SQLITE_DEFAULT = {
    "ENGINE": "django.db.backends.sqlite3",
    "NAME": str(SQLITE_PATH),
    "OPTIONS": {
        "init_command": (
            "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;PRAGMA foreign_keys=ON;"
        ),
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    },
}
if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db("DATABASE_URL")}
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
else:
    DATABASES = {"default": SQLITE_DEFAULT}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- cache (throttling, sessions' neighbours) --------------------------------------------
if env.str("CACHE_URL", default=""):
    CACHES = {"default": env.cache("CACHE_URL", backend="django_redis.cache.RedisCache")}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "scoft",
        }
    }

# --- i18n -----------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = list(PARTICIPANT_LANGUAGES.items())
LOCALE_PATHS = [BASE_DIR / "survey" / "locale"]
USE_I18N = True
TIME_ZONE = "UTC"
USE_TZ = True

# --- static and media -----------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "var" / "static")
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "var" / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Media on an S3-compatible object store (AWS S3, MinIO, Ceph, R2 ...) instead of the
# local disk, through django-storages: set MEDIA_S3_BUCKET (docs/images-and-storage.md).
MEDIA_S3_BUCKET = env.str("MEDIA_S3_BUCKET", default="")
if MEDIA_S3_BUCKET:
    LIBCLOUD_PROVIDERS = {
        "media": {
            "type": "libcloud.storage.types.Provider.MINIO",  # any S3 API, signature v4
            "user": env.str("MEDIA_S3_ACCESS_KEY"),
            "key": env.str("MEDIA_S3_SECRET_KEY"),
            "bucket": MEDIA_S3_BUCKET,
            "endpoint": env.str("MEDIA_S3_ENDPOINT", default="https://s3.amazonaws.com"),
            "region": env.str("MEDIA_S3_REGION", default="us-east-1"),
        }
    }
    DEFAULT_LIBCLOUD_PROVIDER = "media"
    MEDIA_STORAGE = {"BACKEND": "config.storage.S3CompatibleStorage"}
    STORAGES["default"] = MEDIA_STORAGE
# Participant images (survey.blinding): "stream" through Django, or handed to the web
# server with "x-accel-redirect" (nginx) or "x-sendfile" (Apache mod_xsendfile).
SURVEY_IMAGE_SERVING = env.str("SURVEY_IMAGE_SERVING", default="stream")
if SURVEY_IMAGE_SERVING not in ("stream", "x-accel-redirect", "x-sendfile"):
    raise ImproperlyConfigured(
        f"SURVEY_IMAGE_SERVING={SURVEY_IMAGE_SERVING!r} is not one of stream, "
        "x-accel-redirect, x-sendfile."
    )
SURVEY_IMAGE_ACCEL_PREFIX = env.str("SURVEY_IMAGE_ACCEL_PREFIX", default="/protected-media/")
SURVEY_IMAGE_MAX_AGE = env.int("SURVEY_IMAGE_MAX_AGE", default=24 * 60 * 60)
# Media (the stored images) served by Django itself, to staff only: local and demo.
# In production the proxy serves them, or they are not exposed at all.
SERVE_MEDIA = env.bool("SERVE_MEDIA", default=False)

# Downloads of exports are built in an unnamed temporary file here first (None: the
# system's temporary folder), so they can be sent with their length and checksum.
EXPORT_SPOOL_DIR = env.str("EXPORT_SPOOL_DIR", default="") or None

# --- security that holds everywhere -----------------------------------------------------
# Participant links carry a token; never send it to another site in the Referer header.
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024  # rankings are tiny; refuse oversized bodies
# Whole request bodies (files included) above this are refused with 413 before parsing
# (config.middleware.RequestBodyLimitMiddleware); no page takes an upload.
REQUEST_BODY_MAX_BYTES = env.int("REQUEST_BODY_MAX_BYTES", default=2 * 1024 * 1024)
DATA_UPLOAD_MAX_NUMBER_FILES = 1
# Error reports (debug page, e-mails) hide passwords inside *_URL values and tokens.
DEFAULT_EXCEPTION_REPORTER_FILTER = "config.reporting.CredentialHidingFilter"

# --- REST framework ---------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "survey.authentication.ThrottledTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Counted in the default cache, so shared by every worker when CACHE_URL is Redis.
    "DEFAULT_THROTTLE_RATES": {
        "researcher": env.str("API_RATE_RESEARCHER", default="300/minute"),
        "researcher-export": env.str("API_RATE_EXPORT", default="60/hour"),
        # Wrong API tokens per client address; past it every token is refused (429).
        "token-failures": env.str("API_RATE_TOKEN_FAILURES", default="10/minute"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "SCoFT study platform API",
    "DESCRIPTION": "Researcher API: studies, progress, exports, participant exclusion.",
    "VERSION": "1.0.0",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
