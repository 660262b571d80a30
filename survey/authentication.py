"""API token authentication that stops guessing: wrong tokens are counted per address.

Kept apart from survey.apis because REST framework imports its default authentication
classes while survey.apis is still being imported.
"""

from django.core.cache import cache
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.throttling import SimpleRateThrottle

from config.clients import client_address

ERROR_TOO_MANY_TOKEN_FAILURES = (
    "Too many requests with a wrong API token from this address; try again in {wait} s."
)


class TokenFailureThrottle(SimpleRateThrottle):
    """Counts wrong API tokens per client address (rate "token-failures").

    Counted in the default cache, so shared by every worker (production requires
    CACHE_URL). Past the rate, every token from that address is refused until the
    window has passed, the right one too: guessing cannot continue behind a lucky hit.
    """

    scope = "token-failures"

    def get_cache_key(self, request, view=None):
        return self.cache_format % {"scope": self.scope, "ident": client_address(request)}

    def blocked(self, request) -> float | None:
        """Seconds to wait when this address is over the rate, else None."""
        self.key = self.get_cache_key(request)
        self.history = cache.get(self.key, [])
        self.now = self.timer()
        while self.history and self.history[-1] <= self.now - self.duration:
            self.history.pop()
        if len(self.history) >= self.num_requests:
            return self.wait()
        return None

    def record_failure(self, request) -> None:
        self.blocked(request)
        self.history.insert(0, self.now)
        cache.set(self.key, self.history, self.duration)


class ThrottledTokenAuthentication(TokenAuthentication):
    """Token authentication that refuses (429) an address after too many wrong tokens."""

    def authenticate(self, request):
        if not request.META.get("HTTP_AUTHORIZATION", "").lower().startswith("token"):
            return None
        throttle = TokenFailureThrottle()
        if (wait := throttle.blocked(request)) is not None:
            raise exceptions.Throttled(
                wait, detail=ERROR_TOO_MANY_TOKEN_FAILURES.format(wait=int(wait) + 1)
            )
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed:
            throttle.record_failure(request)
            raise


