"""Read the settings' environment variables, turning mistakes into one-line errors."""

import os
import sys
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

TRUE_VALUES = {"true", "1", "yes", "on"}
FALSE_VALUES = {"false", "0", "no", "off"}
STORAGE_SCHEMES = {"file", "s3"}
FILE_DSN_EXAMPLE = "file:///data/media/?url=%2Fmedia%2F"


class ConfigurationError(ImproperlyConfigured):
    """A variable has a value the project cannot use; the message says how to fix it."""


@contextmanager
def exit_on_configuration_error():
    """Stop the program with the error's one line instead of a traceback."""
    try:
        yield
    except ConfigurationError as error:
        sys.exit(f"Configuration error: {error}")


def get_boolean(name, default):
    """Read a true/false variable; anything else is an error, never silently false."""
    value = os.environ.get(name)
    if value is None:
        return default
    if value.strip().lower() in TRUE_VALUES:
        return True
    if value.strip().lower() in FALSE_VALUES:
        return False
    raise ConfigurationError(f"{name}={value!r} is not a boolean: use {name}=True or {name}=False.")


def get_list(name):
    """Read a comma-separated variable into a list, ignoring blanks around the commas."""
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def get_database(*names, default):
    """Parse the first of the named DSN variables that is set into a DATABASES entry."""
    name = next((name for name in names if os.environ.get(name)), None)
    dsn = os.environ[name] if name else default
    try:
        return dj_database_url.parse(dsn)
    except ValueError as error:
        raise ConfigurationError(
            f"{name}={mask_password(dsn)!r} is not a database DSN ({error}): "
            "use e.g. postgres://USER:PASSWORD@HOST:5432/NAME"
        ) from None


def parse_storage_dsn(dsn):
    """Check a storage DSN and return (MEDIA_ROOT, MEDIA_URL): a file:// DSN's folder and URL.

    Other storages serve their own URLs, so they leave both empty.
    """
    parts = urlsplit(dsn)
    if parts.scheme not in STORAGE_SCHEMES:
        raise ConfigurationError(
            f"DEFAULT_STORAGE_DSN={mask_password(dsn)!r} has no supported scheme: use "
            f"{FILE_DSN_EXAMPLE} or s3://KEY:SECRET@BUCKET.s3.REGION.amazonaws.com/"
        )
    if parts.scheme != "file":
        return "", ""
    if parts.netloc or not parts.path.startswith("/"):
        raise ConfigurationError(
            f"DEFAULT_STORAGE_DSN={dsn!r} needs an absolute path after file://, "
            f"e.g. {FILE_DSN_EXAMPLE}"
        )
    media_url = parse_qs(parts.query).get("url", [""])[0]
    if not media_url:
        raise ConfigurationError(
            f"DEFAULT_STORAGE_DSN={dsn!r} has no url= to serve files at, e.g. {FILE_DSN_EXAMPLE}"
        )
    return Path(unquote(parts.path)), media_url


def mask_password(dsn):
    """Hide the password (or S3 secret) of a DSN, for messages."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()
