"""What Django's error pages and reports may show: no secret, and no DSN's credentials."""

import re
from collections.abc import Mapping

from django.views.debug import SafeExceptionReporterFilter

# What Django hides by name, and DSNs: in settings, request headers, and frames' variables.
HIDDEN_NAMES = re.compile(
    SafeExceptionReporterFilter.hidden_settings.pattern + "|DSN|DATABASE_URL|CREDENTIAL",
    re.IGNORECASE,
)
# Credentials inside any text: a URL's password (scheme://user:PASSWORD@host), and the value
# of a secret-sounding key in key=value or 'key': value form, as in libpq's connection strings
# ("password=..."), query strings, and the repr of a dict or of a driver's parameters.
URL_PASSWORD = re.compile(r"(\w://[^:/?#@\s'\"]*:)[^@\s'\"]*(?=@)")
SECRET_VALUE = re.compile(
    r"""((?:pass|secret|key|token|signature|credential)\w*['"]?\s*[=:]\s*)"""
    r"""(?:'[^']*'|"[^"]*"|[^\s&,;'")}\]]+)""",
    re.IGNORECASE,
)


class ShownText(str):
    """Text that a report shows as it is, unquoted: a value's repr with its secrets masked."""

    def __repr__(self):
        return str(self)


class ExceptionReporterFilter(SafeExceptionReporterFilter):
    """Hide secrets everywhere Django's debug page and error reports show values, in DEBUG too.

    Django hides settings and request headers whose names look secret, and frames' variables
    only where a function was decorated. Here every variable is checked by its name too, and
    every value by its text: the driver's connection parameters, a DSN in a local variable,
    os.environ, a URL with a password.
    """

    hidden_settings = HIDDEN_NAMES

    def is_active(self, request):
        # Django's filter stands down in DEBUG; a debug page on a shared screen or in a
        # bug report must not show a production password either.
        return True

    def cleanse_setting(self, key, value):
        if isinstance(value, (tuple, list)) and [type(part) for part in value] == [bytes, bytes]:
            # An ASGI scope's header (the adapter puts the scope in META as "asgi.scope"):
            # hidden by its name as META's HTTP_ entry for it is, not by its text alone.
            name = "HTTP_" + value[0].decode("latin-1").upper().replace("-", "_")
            return (value[0], self.cleanse_setting(name, value[1]))
        if isinstance(value, Mapping) and not isinstance(value, dict):
            value = dict(value)  # os.environ, a request's headers
        cleansed = super().cleanse_setting(key, value)
        if cleansed is not value or isinstance(cleansed, (dict, list, tuple)):
            return cleansed
        return mask_credentials(value)

    def get_safe_cookies(self, request):
        # Django hides cookies by name; the session's and CSRF token's are credentials under
        # any name, and a fork's own may be: every value is hidden.
        return dict.fromkeys(getattr(request, "COOKIES", {}), self.cleansed_substitute)

    def get_traceback_frame_variables(self, request, tb_frame):
        return [
            (name, self.cleanse_setting(name, value))
            for name, value in super().get_traceback_frame_variables(request, tb_frame)
        ]


def mask_credentials(value):
    """The value, or its text with credentials masked if it holds any."""
    try:
        # str(): a lazy string (django-axes's settings hold some) passes isinstance as one.
        text = str(value) if isinstance(value, str) else repr(value)
    except Exception:  # a half-built object whose repr fails: the report says so itself
        return value
    masked = SECRET_VALUE.sub(r"\1********", URL_PASSWORD.sub(r"\1********", text))
    if masked == text:
        return value
    return masked if isinstance(value, str) else ShownText(masked)
