"""What an error report (the debug page, error e-mails, logs) may show.

Django's own filter hides settings whose names look secret (KEY, TOKEN, PASS...), but
a password inside a URL (DATABASE_URL=postgres://user:password@host/db, CACHE_URL,
any *_URL in the environment or the settings) and a participant's token held in a
local variable went through. This filter also hides those, whether DEBUG is on or off.
"""

import re

from django.views.debug import SafeExceptionReporterFilter

# user:password@ inside any URL ("scheme://user:password@host").
URL_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@")
# Names whose values are secret as a whole, beyond Django's list: participant tokens,
# session ids and CSRF values.
HIDDEN_NAMES = re.compile(
    r"API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|SESSION|CSRF|CREDENTIAL|DSN",
    flags=re.I,
)


def hide_url_credentials(text: str) -> str:
    """`text` with the user name and password of every URL in it replaced by stars."""
    return URL_CREDENTIALS.sub(
        lambda m: f"{m['scheme']}{CredentialHidingFilter.cleansed_substitute}@", text
    )


class CredentialHidingFilter(SafeExceptionReporterFilter):
    """Django's filter, plus credentials inside URLs and tokens in local variables."""

    hidden_settings = HIDDEN_NAMES

    def is_active(self, request):
        # Always: a debug page seen by mistake must not show the secrets either.
        return True

    def cleanse_setting(self, key, value):
        cleansed = super().cleanse_setting(key, value)
        # type(), not isinstance: lazy objects pretend to be str but are not one.
        if type(cleansed) is str:
            return hide_url_credentials(cleansed)
        return cleansed

    def get_traceback_frame_variables(self, request, tb_frame):
        variables = super().get_traceback_frame_variables(request, tb_frame)
        return [(name, self.cleanse_setting(name, value)) for name, value in variables]
