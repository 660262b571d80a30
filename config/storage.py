"""Media on any S3-compatible object store, through django-storages' libcloud backend.

django-storages' own S3 backend needs boto3, whose botocore cannot be installed beside
this project's pinned python-dateutil 4; its libcloud backend talks the same S3 API
(signature v4) with apache-libcloud. Upstream builds the driver without an endpoint, so
this subclass passes the host, port and scheme of MEDIA_S3_ENDPOINT, and uploads each
file in one PUT (participant copies are a few hundred KB; some S3-compatible servers
do not implement multipart uploads).
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.deconstruct import deconstructible
from libcloud.storage.providers import get_driver
from libcloud.storage.types import ObjectDoesNotExistError, Provider
from storages.backends.apache_libcloud import LibCloudStorage

BAD_ENDPOINT = "MEDIA_S3_ENDPOINT={endpoint!r} must be an http:// or https:// URL."


@deconstructible
class S3CompatibleStorage(LibCloudStorage):
    """The MEDIA_S3_* object store (settings.LIBCLOUD_PROVIDERS["media"])."""

    def __init__(self, provider_name=None, option=None):
        provider_name = provider_name or settings.DEFAULT_LIBCLOUD_PROVIDER
        self.provider = settings.LIBCLOUD_PROVIDERS[provider_name]
        endpoint = urlsplit(self.provider["endpoint"])
        if endpoint.scheme not in ("http", "https") or not endpoint.hostname:
            raise ImproperlyConfigured(BAD_ENDPOINT.format(endpoint=self.provider["endpoint"]))
        secure = endpoint.scheme == "https"
        driver = get_driver(Provider.MINIO)(
            self.provider["user"],
            self.provider["key"],
            secure=secure,
            host=endpoint.hostname,
            port=endpoint.port or (443 if secure else 80),
        )
        driver.region_name = self.provider["region"]  # signed into every request (SigV4)
        driver.supports_s3_multipart_upload = False
        self.driver = driver
        self.bucket = self.provider["bucket"]

    def _read(self, name):
        try:
            obj = self._get_object(name)
        except ObjectDoesNotExistError as error:
            raise FileNotFoundError(str(error)) from error
        return b"".join(self.driver.download_object_as_stream(obj))

    def get_available_name(self, name, max_length=None):
        # Sources are uploaded under their own name; copies' names are random.
        return name
