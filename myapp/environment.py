"""Read the settings' environment variables, turning mistakes into one-line errors."""

import os
import re
import sys
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import dj_database_url
from django.core.checks.security.base import (
    SECRET_KEY_INSECURE_PREFIX,
    SECRET_KEY_MIN_LENGTH,
    SECRET_KEY_MIN_UNIQUE_CHARACTERS,
)
from django.core.exceptions import ImproperlyConfigured
from django.views.debug import SafeExceptionReporterFilter

TRUE_VALUES = {"true", "1", "yes", "on"}
FALSE_VALUES = {"false", "0", "no", "off"}
QUOTES = "'\""
DATABASE_DSN_EXAMPLE = "postgres://USER:PASSWORD@HOST:5432/NAME"
FILE_DSN_EXAMPLE = "file:///data/media/?url=%2Fmedia%2F"
S3_DSN_EXAMPLE = "s3://KEY:SECRET@BUCKET.s3.REGION.amazonaws.com/?auth=s3v4"
RANDOM_STRING_COMMAND = 'python -c "import secrets; print(secrets.token_urlsafe(50))"'
# What Django's request host validation accepts, without the port: a name or an IP address.
HOST_NAME = re.compile(r"\.?[a-z0-9-]+(\.[a-z0-9-]+)*\.?|\[[a-f0-9:.]+\]", re.IGNORECASE)
HTTP_URL = re.compile(r"https?://[^/?#@\s]+(/[^\s]*)?", re.IGNORECASE)
# An S3 endpoint's own host name, e.g. s3.eu-central-1.amazonaws.com, has no bucket in front.
AWS_ENDPOINT = re.compile(r"s3[.-]([a-z0-9-]+\.)?amazonaws\.com", re.IGNORECASE)
S3_ACLS = [
    "private",
    "public-read",
    "public-read-write",
    "authenticated-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
    "aws-exec-read",
    "log-delivery-write",
    "none",  # send no ACL at all, for buckets whose ACLs are disabled
]
# Each query parameter a storage DSN may have: (check of its value, a valid example).
S3_PARAMETERS = {
    "auth": (lambda value: value in {"s3v4", "s3"}, "auth=s3v4"),
    "domain": (HOST_NAME.fullmatch, "domain=cdn.example.com"),
    "url": (HTTP_URL.fullmatch, "url=https://cdn.example.com/media/"),
    "acl": (
        lambda value: value in S3_ACLS,
        f"acl=private (one of {', '.join(S3_ACLS)})",
    ),
    "qs_auth": (lambda value: value.lower() in TRUE_VALUES | FALSE_VALUES, "qs_auth=true"),
    "addressing_style": (
        lambda value: value in {"auto", "path", "virtual"},
        "addressing_style=path",
    ),
    "region_name": (re.compile(r"[a-z0-9-]+").fullmatch, "region_name=eu-central-1"),
    "endpoint": (
        re.compile(r"https?://[a-z0-9.-]+(:\d{1,5})?/?", re.IGNORECASE).fullmatch,
        "endpoint=https://s3.example.com:9000",
    ),
}
FILE_PARAMETERS = {
    "url": (lambda value: value.endswith("/"), "url=%2Fmedia%2F"),
}
SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
}
SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]*)", re.IGNORECASE)


class ConfigurationError(ImproperlyConfigured):
    """A variable has a value the project cannot use; the message says how to fix it."""


@contextmanager
def exit_on_configuration_error():
    """Stop the program with the error's one line instead of a traceback."""
    try:
        yield
    except ConfigurationError as error:
        sys.exit(f"Configuration error: {error}")


def is_secret(name):
    """Whether a variable holds a secret, by the names Django hides in error reports."""
    return bool(SafeExceptionReporterFilter.hidden_settings.search(name))


def shown(name, value):
    """A variable as a message may show it: a secret by its name only, a DSN masked."""
    if is_secret(name):
        return name
    return f"{name}={mask_password(value)!r}"


def get_value(name, default=None):
    """Read a variable without the blanks around it; set to an empty string, it counts as unset."""
    value = os.environ.get(name, "").strip()
    if value and (value[0] in QUOTES or value[-1] in QUOTES):
        example = "VALUE" if is_secret(name) else mask_password(value.strip(QUOTES))
        raise ConfigurationError(
            f"{shown(name, value)} is wrapped in quotes, which would be part of the value: "
            f"remove them, e.g. {name}={example}"
        )
    return value or default


def get_boolean(name, default):
    """Read a true/false variable; anything else is an error, never silently false."""
    value = get_value(name)
    if value is None:
        return default
    if value.lower() in TRUE_VALUES:
        return True
    if value.lower() in FALSE_VALUES:
        return False
    raise ConfigurationError(
        f"{shown(name, value)} is not a boolean: use {name}=True or {name}=False."
    )


def get_integer(name, default):
    """Read a whole number that is zero or more."""
    value = get_value(name)
    if value is None:
        return default
    if not value.isdigit():
        raise ConfigurationError(
            f"{shown(name, value)} is not a whole number of 0 or more: use e.g. {name}={default}"
        )
    return int(value)


def get_size(name, default):
    """Read a size in bytes, with an optional decimal (kB, MB, GB) or binary (KiB...) unit."""
    value = get_value(name)
    if value is None:
        return default
    match = SIZE.fullmatch(value)
    if match and match[2].lower() in SIZE_UNITS:
        size = int(Decimal(match[1]) * SIZE_UNITS[match[2].lower()])
        if size > 0:
            return size
    raise ConfigurationError(
        f"{shown(name, value)} is not a size of at least one byte: use e.g. {name}=100MB "
        "(a number of bytes, or with a unit: kB, MB, GB, KiB, MiB, GiB)"
    )


def get_secret_key(name, required):
    """Read the secret key; when required, it must be one Django's deploy check accepts."""
    key = get_value(name)
    if not required:
        return key or "django-insecure-local-development-only"
    if not key:
        problem = "is not set"
    elif key.startswith(SECRET_KEY_INSECURE_PREFIX):
        problem = f"starts with {SECRET_KEY_INSECURE_PREFIX}, like keys that are not secret"
    elif len(key) < SECRET_KEY_MIN_LENGTH or len(set(key)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS:
        problem = (
            f"is too easy to guess: it needs {SECRET_KEY_MIN_LENGTH} characters or more, "
            f"{SECRET_KEY_MIN_UNIQUE_CHARACTERS} of them different"
        )
    else:
        return key
    raise ConfigurationError(
        f"{name} {problem}: set it to a long random string, such as {RANDOM_STRING_COMMAND} "
        "prints (or set DJANGO_DEBUG=True for local development)."
    )


def get_hosts(name):
    """Read a comma-separated list of host names, ignoring blanks around the commas."""
    value = get_value(name, "")
    hosts = [item.strip() for item in value.split(",") if item.strip()]
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
    try:
        parts = urlsplit(dsn)
        parts.port  # noqa: B018 (a port that is not a number fails here)
    except ValueError:
        raise ConfigurationError(
            f"{shown(name, dsn)} has a host or port that cannot be read (a port is a number; "
            f"URL-encode special characters in the password, e.g. %40 for @): use e.g. {example}"
        ) from None
    return parts


def get_database(*names, default):
    """Parse the first of the named DSN variables that is set into a DATABASES entry."""
    name = next((name for name in names if get_value(name)), None)
    if name is None:
        return dj_database_url.parse(default)
    dsn = get_value(name)
    scheme = split_dsn(name, dsn, DATABASE_DSN_EXAMPLE).scheme
    if scheme not in dj_database_url.ENGINE_SCHEMES:
        raise ConfigurationError(
            f"{shown(name, dsn)} has an unknown scheme {scheme!r}: "
            f"use e.g. {DATABASE_DSN_EXAMPLE} (or sqlite:////ABSOLUTE/PATH.sqlite3)"
        )
    try:
        database = dj_database_url.parse(dsn)
    except ValueError:
        # Not its error's text: that may quote the DSN, password and all.
        raise ConfigurationError(
            f"{shown(name, dsn)} is not a database DSN: use e.g. {DATABASE_DSN_EXAMPLE}"
        ) from None
    if not database["NAME"]:
        raise ConfigurationError(
            f"{shown(name, dsn)} names no database: end it with /NAME, e.g. {DATABASE_DSN_EXAMPLE}"
        )
    return database


def parse_storage_dsn(dsn):
    """Check a storage DSN and return (MEDIA_ROOT, MEDIA_URL): a file:// DSN's folder and URL.

    Other storages serve their own URLs, so they leave both empty.
    """
    name = "DEFAULT_STORAGE_DSN"
    parts = split_dsn(name, dsn, S3_DSN_EXAMPLE)
    if parts.scheme not in {"file", "s3"}:
        raise ConfigurationError(
            f"{shown(name, dsn)} has no supported scheme: "
            f"use {FILE_DSN_EXAMPLE} or {S3_DSN_EXAMPLE}"
        )
    parameters = parse_qs(parts.query, keep_blank_values=True)
    if parts.scheme == "s3":
        check_parameters(dsn, parameters, S3_PARAMETERS, S3_DSN_EXAMPLE)
        if not parts.username or not parts.password:
            raise ConfigurationError(
                f"{shown(name, dsn)} has no credentials: put the URL-encoded key and secret "
                f"before the bucket, e.g. {S3_DSN_EXAMPLE}"
            )
        if not parts.hostname or AWS_ENDPOINT.fullmatch(parts.hostname):
            raise ConfigurationError(
                f"{shown(name, dsn)} names no bucket: put it before the host, e.g. {S3_DSN_EXAMPLE}"
            )
        signed = parameters.get("qs_auth", ["false"])[0].lower() in TRUE_VALUES
        if signed and ("domain" in parameters or "url" in parameters):
            # django-storages signs only the bucket's own URLs: a domain's links would fail.
            raise ConfigurationError(
                f"{shown(name, dsn)} has qs_auth=true with domain= or url=, but signed links "
                "come from the bucket itself: drop domain= and url=, e.g. "
                f"{S3_DSN_EXAMPLE}&acl=private&qs_auth=true"
            )
        return "", ""
    check_parameters(dsn, parameters, FILE_PARAMETERS, FILE_DSN_EXAMPLE)
    if parts.netloc or not parts.path.startswith("/"):
        raise ConfigurationError(
            f"{shown(name, dsn)} needs an absolute path after file://, e.g. {FILE_DSN_EXAMPLE}"
        )
    if "url" not in parameters:
        raise ConfigurationError(
            f"{shown(name, dsn)} has no url= to serve files at, e.g. {FILE_DSN_EXAMPLE}"
        )
    return Path(unquote(parts.path)), parameters["url"][0]


def check_parameters(dsn, parameters, known, example):
    """Check a storage DSN's query parameters: known names, each once, with valid values."""
    name = "DEFAULT_STORAGE_DSN"
    for parameter, values in parameters.items():
        if parameter not in known:
            raise ConfigurationError(
                f"{shown(name, dsn)} has an unknown parameter {parameter!r}: "
                f"the known ones are {', '.join(known)}, e.g. {example}"
            )
        is_valid, parameter_example = known[parameter]
        if len(values) > 1:
            raise ConfigurationError(
                f"{shown(name, dsn)} has {parameter}= {len(values)} times: keep one, "
                f"e.g. {parameter_example}"
            )
        if not is_valid(values[0]):
            raise ConfigurationError(
                f"{shown(name, dsn)} has an invalid {parameter}={values[0]!r}: "
                f"use e.g. {parameter_example}"
            )


def mask_password(dsn):
    """Hide the password (or S3 secret) of a DSN, and secret-looking query values, for messages.

    It never fails, as it is used to report DSNs that are not even URLs: a password holding an
    unescaped /, ? or # is masked up to the last @.
    """
    scheme, separator, rest = dsn.partition("://")
    netloc = re.split(r"[/?#]", rest, maxsplit=1)[0]
    userinfo_end = netloc.rfind("@") if "@" in netloc else rest.rfind("@")
    if separator and ":" in rest[: max(userinfo_end, 0)]:
        user = rest[: rest.index(":")]
        rest = f"{user}:***{rest[userinfo_end:]}"
    masked = f"{scheme}{separator}{rest}"
    return re.sub(
        r"([?&][^=&#]*(?:pass|secret|key|token|signature)[^=&#]*=)[^&#]*",
        r"\1***",
        masked,
        flags=re.IGNORECASE,
    )
