"""Readers of environment variables that turn a mistake into a one-line error, secrets masked."""

import os
import re
from decimal import Decimal
from urllib.parse import unquote, urlsplit

import dj_database_url
from django.core.checks import Error
from django.core.exceptions import ImproperlyConfigured
from django.views.debug import SafeExceptionReporterFilter

TRUE_VALUES = {"true", "1", "yes", "on"}
FALSE_VALUES = {"false", "0", "no", "off"}
QUOTES = "'\""
# What Django's request host validation accepts, without the port: a name or an IP address.
# ASCII only: with IGNORECASE alone, [a-z] would also match the Kelvin sign and the long s.
HOST_NAME = re.compile(r"\.?[a-z0-9-]+(\.[a-z0-9-]+)*\.?|\[[a-f0-9:.]+\]", re.IGNORECASE | re.ASCII)
SIZE_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20}
SIZE_UNITS["gib"] = 2**30
# ASCII digits only: \d and str.isdigit() take other scripts' digits too (and "²").
SIZE = re.compile(r"([0-9]+(?:\.[0-9]+)?) *([a-z]*)", re.IGNORECASE | re.ASCII)
WHOLE_NUMBER = re.compile(r"[0-9]+")
EMBEDDED_USERINFO = re.compile(r"(://|%3A%2F%2F)((?:[^/?#&@%\s]|%(?!40)[0-9A-F]{2})*)(@|%40)", re.I)
SECRET_QUERY_VALUE = re.compile(
    r"([?&][^=&#]*(?:pass|secret|key|token|signature)[^=&#]*=)[^&#]*", re.I
)
# How Python holds the bytes of a variable that are not UTF-8 (surrogateescape).
NOT_UTF8 = re.compile("[\udc80-\udcff]")
# A URL's scheme with a mistyped separator (postgres//, postgres:/, s3:): shown as it is.
MISTYPED_SCHEME = re.compile(r"([a-z][a-z0-9+.-]*)(:?/+)(?=[^/])", re.IGNORECASE)
# A user name a message may show, as a database's or an S3 key's is.
PLAIN_USER = re.compile(r"[A-Za-z0-9_.-]{1,63}")


class ConfigurationError(ImproperlyConfigured):
    """A variable has a value the project cannot use; the message says how to fix it."""


def check_messages(check, check_id):
    """A start check as a Django system check's messages: its one line as an Error."""
    try:
        check()
    except ConfigurationError as error:
        return [Error(str(error), id=check_id)]
    return []


def shown(name, value):
    """A variable as a message may show it: a secret by its name only, a DSN masked."""
    if SafeExceptionReporterFilter.hidden_settings.search(name):
        return name
    return f"{name}={mask_password(value)!r}"


def read(name):
    """A variable without the blanks around it, refused if it holds bytes that are not UTF-8
    (Python keeps them as surrogates, which every later encode() would fail on)."""
    value = os.environ.get(name, "").strip()
    if NOT_UTF8.search(value):
        raise ConfigurationError(
            f"{shown(name, value)} holds a byte that is not UTF-8 text: retype the value, "
            "or URL-encode the character in a DSN (e.g. %C3%A9 for \u00e9)"
        )
    return value


def get_value(name, default=None):
    """Read a variable without the blanks around it; set to an empty string, it counts as unset."""
    value = read(name)
    if value and (value[0] in QUOTES or value[-1] in QUOTES):
        secret = shown(name, value) == name
        example = "VALUE" if secret else mask_password(value.strip(QUOTES))
        raise ConfigurationError(
            f"{shown(name, value)} is wrapped in quotes, which would be part of the value: "
            f"remove them, e.g. {name}={example}"
        )
    return value or default


def get_boolean(name, default):
    """Read a true/false variable; anything else is an error, never silently false."""
    value = get_value(name, default="")
    if value.lower() in TRUE_VALUES | FALSE_VALUES:
        return value.lower() in TRUE_VALUES
    if not value:
        return default
    raise ConfigurationError(
        f"{shown(name, value)} is not a boolean: use {name}=True or {name}=False."
    )


def get_integer(name, default):
    """Read a whole number that is zero or more."""
    value = get_value(name, default=str(default))
    if not WHOLE_NUMBER.fullmatch(value):
        raise ConfigurationError(
            f"{shown(name, value)} is not a whole number of 0 or more: use e.g. {name}={default}"
        )
    return int(value)


def get_size(name, default):
    """Read a size in bytes, with an optional decimal (kB, MB, GB) or binary (KiB...) unit."""
    value = get_value(name, default=str(default))
    match = SIZE.fullmatch(value)
    if match and match[2].lower() in SIZE_UNITS:
        size = int(Decimal(match[1]) * SIZE_UNITS[match[2].lower()])
        if size > 0:
            return size
    raise ConfigurationError(
        f"{shown(name, value)} is not a size of at least one byte: use e.g. {name}=100MB "
        "(a number of bytes, or with a unit: kB, MB, GB, KiB, MiB, GiB)"
    )


def get_secret_key(name, development_key, required):
    """Read the secret key; when required, refuse only a key that is certainly not secret.

    A weak key is for `check --deploy` to report (security.W009): a key that the platform
    generated must never stop the site from booting. Quotes around it do it no harm.
    """
    key = read(name)
    if not required or key not in {"", development_key}:
        return key or development_key
    problem = "is the project's development key, which is public" if key else "is not set"
    raise ConfigurationError(
        f"{name} {problem}: set it to a long random string, such as python -c "
        '"import secrets; print(secrets.token_urlsafe(50))" prints '
        "(or set DJANGO_DEBUG=True for local development)."
    )


def get_hosts(name):
    """Read a comma-separated list of host names, ignoring blanks around the commas."""
    value = get_value(name, default="")
    hosts = [host.strip() for host in value.split(",") if host.strip()]
    if all(HOST_NAME.fullmatch(host) for host in hosts):
        return hosts
    # A URL or host:port pasted instead of a host name: suggest its host name alone.
    suggested = [urlsplit(host if "//" in host else f"//{host}").hostname for host in hosts]
    example = ",".join(host for host in suggested if host and HOST_NAME.fullmatch(host))
    raise ConfigurationError(
        f"{shown(name, value)} must hold bare host names, comma-separated, without scheme, "
        f"path or port: use e.g. {name}={example or 'example.com'}"
    )


def split_dsn(name, dsn, example):
    """Split a DSN into its parts, or say why it is not a URL."""
    if "://" not in dsn:
        raise ConfigurationError(f"{shown(name, dsn)} is not a URL: use e.g. {example}")
    if "\x00" in unquote(dsn):
        raise ConfigurationError(
            f"{shown(name, dsn)} holds %00 (a NUL character), which no name, path or password "
            f"can hold: remove it, e.g. {example}"
        )
    try:
        parts = urlsplit(dsn)
        parts.port  # noqa: B018 (a port that is not a number fails here)
    except ValueError:
        raise ConfigurationError(
            f"{shown(name, dsn)} has a host or port that cannot be read (a port is a number; "
            f"URL-encode special characters in the password, e.g. %40 for @): use e.g. {example}"
        ) from None
    return parts


def mask_password(dsn):
    """Hide a DSN's password (or S3 secret), its user-info when not a plain name, and
    secret-looking query values; a database user stays readable. It never fails, for DSNs that
    are not even URLs: a password holding an unescaped /, ? or # is masked up to the last @."""
    scheme, separator, rest = dsn.partition("://")
    if not separator:
        # Not a URL: a mistyped scheme's separator stays visible (the mistake to correct).
        mistyped = MISTYPED_SCHEME.match(dsn)
        scheme, separator = mistyped.groups() if mistyped else ("", "")
        rest = dsn[len(scheme + separator) :]
    netloc = re.split(r"[/?#]", rest, maxsplit=1)[0]
    userinfo_end = netloc.rfind("@") if "@" in netloc or not netloc else rest.rfind("@")
    if userinfo_end >= 0:
        user, colon, _ = rest[:userinfo_end].partition(":")
        if not PLAIN_USER.fullmatch(user):
            userinfo = "***"
        elif colon:
            userinfo = f"{user}:***"
        elif scheme.lower() in dj_database_url.ENGINE_SCHEMES:
            userinfo = user
        else:
            # A storage's user-info is KEY:SECRET: one part alone may well be the secret.
            userinfo = "***"
        rest = userinfo + rest[userinfo_end:]
    # URLs in query values (endpoint=, url=), URL-encoded or not, may carry user-info too.
    netloc_end = len(rest.split("?", 1)[0])
    rest = rest[:netloc_end] + EMBEDDED_USERINFO.sub(r"\1***\3", rest[netloc_end:])
    return SECRET_QUERY_VALUE.sub(r"\1***", f"{scheme}{separator}{rest}")
