"""The client's address, as lockouts and throttles count it."""

from django.conf import settings


def client_address(request) -> str:
    """The address a request came from.

    Behind the HTTPS proxy (CLIENT_BEHIND_PROXY=true) it is the last address in
    X-Forwarded-For, the one the proxy itself appended: earlier entries come from the
    client and can be forged. Otherwise REMOTE_ADDR.
    """
    if settings.CLIENT_BEHIND_PROXY:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        addresses = [part.strip() for part in forwarded.split(",") if part.strip()]
        if addresses:
            return addresses[-1]
    return request.META.get("REMOTE_ADDR", "") or "unknown"
