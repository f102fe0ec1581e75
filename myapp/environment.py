"""Read the settings' environment variables, turning mistakes into one-line errors."""

import logging
import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections
from django.db import Error as DatabaseError
from django.views.debug import SafeExceptionReporterFilter

TRUE_VALUES = {"true", "1", "yes", "on"}
FALSE_VALUES = {"false", "0", "no", "off"}
QUOTES = "'\""
DATABASE_DSN_EXAMPLE = "postgres://USER:PASSWORD@HOST:5432/NAME"
FILE_DSN_EXAMPLE = "file:///data/media/?url=%2Fmedia%2F"
S3_DSN_EXAMPLE = "s3://KEY:SECRET@BUCKET.s3.REGION.amazonaws.com/?auth=s3v4"
RANDOM_STRING_COMMAND = 'python -c "import secrets; print(secrets.token_urlsafe(50))"'
# The key settings.py uses in DEBUG when none is set: it is public, so never one for production.
DEVELOPMENT_SECRET_KEY = "django-insecure-local-development-only"  # noqa: S105 (public)
DATABASE_VARIABLES = ("DEFAULT_DATABASE_DSN", "DATABASE_URL")
# How long the server's start waits for a database that accepts connections but does not answer
# (libpq's connect_timeout): well within the platform's 20 s for a first answer.
DATABASE_CONNECT_TIMEOUT = 5
# What Django's request host validation accepts, without the port: a name or an IP address.
# ASCII only: with IGNORECASE alone, [a-z] would also match the Kelvin sign and the long s.
HOST_NAME = re.compile(r"\.?[a-z0-9-]+(\.[a-z0-9-]+)*\.?|\[[a-f0-9:.]+\]", re.IGNORECASE | re.ASCII)
HTTP_URL = re.compile(r"https?://[^/?#@\s]+(/[^\s]*)?", re.IGNORECASE)
# An S3 endpoint's own host name, e.g. s3.eu-central-1.amazonaws.com, has no bucket in front.
AWS_ENDPOINT = re.compile(r"s3[.-]([a-z0-9-]+\.)?amazonaws\.com", re.IGNORECASE)
# The names S3 accepts for a bucket (and botocore for a region), checked before any request.
S3_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
S3_REGION = re.compile(r"(?![0-9]+$)(?!-)[a-zA-Z0-9-]{1,63}(?<!-)")
# Ports a URL can name: urlsplit() reads 0 to 65535, but nothing listens on port 0.
PORTS = range(1, 65536)
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
    "region_name": (S3_REGION.fullmatch, "region_name=eu-central-1"),
    "endpoint": (
        lambda value: is_endpoint(value),  # defined below
        "endpoint=https://s3.example.com:9000",
    ),
}
FILE_PARAMETERS = {
    # Django serves static files under /static/ (STATIC_URL) and refuses a MEDIA_URL there.
    "url": (
        lambda value: value.endswith("/") and not value.startswith("/static/"),
        "url=%2Fmedia%2F",
    ),
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
# ASCII digits only: \d and str.isdigit() take other scripts' digits too (and "²").
SIZE = re.compile(r"([0-9]+(?:\.[0-9]+)?) *([a-z]*)", re.IGNORECASE | re.ASCII)
WHOLE_NUMBER = re.compile(r"[0-9]+")
EMBEDDED_USERINFO = re.compile(
    r"(://|%3A%2F%2F)((?:[^/?#&@%\s]|%(?!40)[0-9A-F]{2})*)(@|%40)", re.IGNORECASE
)
# A user name a message may show, as a database's or an S3 key's is.
PLAIN_USER = re.compile(r"[A-Za-z0-9_.-]{1,63}")
# libpq's and SQLite's reasons for refusing a connection, and what to do about each.
DATABASE_ADVICE = [
    (
        "password authentication failed|role .* does not exist|no pg_hba.conf entry",
        "correct the user and password (URL-encode special characters, e.g. %40 for @)",
    ),
    ("could not translate host name", "correct the host name"),
    (
        "Connection refused|No such file or directory|Network is unreachable|No route to host",
        "start the database server, or correct the host and port",
    ),
    ('database ".*" does not exist', "create the database, or correct the name after the last /"),
    (
        "unable to open database file",
        "create the SQLite file's folder and let the server write there, or correct the path",
    ),
]


class ConfigurationError(ImproperlyConfigured):
    """A variable has a value the project cannot use; the message says how to fix it."""


class DatabaseNoAnswer(ConfigurationError):
    """The database accepted no connection in time: an outage as often as a mistake."""


@contextmanager
def exit_on_configuration_error():
    """Stop the program with the error's one line instead of a traceback.

    A database that cannot be reached fails wherever it is first used, so commands that never
    connect (the build's collectstatic) need none: then too, one line says why. Other errors
    show as they are.
    """
    try:
        try:
            yield
        except ConfigurationError:
            raise
        except (ImproperlyConfigured, DatabaseError):
            reason = database_error()
            if reason:
                raise reason from None
            raise
    except ConfigurationError as error:
        sys.exit(f"Configuration error: {error}")


def database_error():
    """The ConfigurationError saying why the database cannot be reached, if it cannot."""
    try:
        check_database()
    except ConfigurationError as reason:
        return reason
    except Exception:  # the settings themselves cannot be loaded: error says why
        return None
    return None


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
    if not WHOLE_NUMBER.fullmatch(value):
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
    """Read the secret key; when required, refuse only a key that is certainly not secret.

    A key merely weaker than Django recommends (short, few distinct characters) is for
    `check --deploy` to report (security.W009): a key that the hosting platform generated
    must never stop the site from booting. Quotes around it are kept: they do it no harm.
    """
    key = os.environ.get(name, "").strip()
    if not required:
        return key or DEVELOPMENT_SECRET_KEY
    if not key:
        problem = "is not set"
    elif key == DEVELOPMENT_SECRET_KEY:
        problem = "is the project's development key, which is public"
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
    if dsn == "sqlite://:memory:":
        # Documented by dj-database-url, though ":memory:" reads as a port that is not a number.
        return dj_database_url.parse(dsn)
    parts = split_dsn(name, dsn, DATABASE_DSN_EXAMPLE)
    scheme = parts.scheme
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
    if database.get("HOST", "").startswith("/"):
        # A Unix socket's folder, URL-encoded as the host: urlsplit() lowercased it.
        host = parts.netloc.rpartition("@")[2]
        database["HOST"] = unquote(host.rpartition(":")[0] if parts.port else host)
    return database


def check_database():
    """Connect to the default database once, or raise a ConfigurationError saying why not.

    Without an answer within DATABASE_CONNECT_TIMEOUT, it raises DatabaseNoAnswer.
    """
    name = next((name for name in DATABASE_VARIABLES if get_value(name)), None)
    described = shown(name, get_value(name)) if name else DATABASE_VARIABLES[0]
    try:
        connection = connections[DEFAULT_DB_ALIAS]
    except ImproperlyConfigured as error:
        # Django could not load the scheme's backend: its driver (or GDAL) is not installed.
        reason = str(error).splitlines()[0]
        raise ConfigurationError(
            f"{described} needs a database driver that is not installed ({reason}): "
            f"use e.g. {DATABASE_DSN_EXAMPLE}, or add the driver to requirements.in"
        ) from None
    if not name:
        database = connection.settings_dict["NAME"]
        described += f" is not set, so the embedded SQLite database {database}"
    parameters = connection.get_connection_params()
    if connection.vendor == "postgresql":
        parameters.setdefault("connect_timeout", DATABASE_CONNECT_TIMEOUT)
    try:
        connection.get_new_connection(parameters).close()
    except connection.Database.Error as error:
        # The driver's first line names the host, port or file, never the password.
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        reason = " ".join(first_line.split("failed:")[-1].split()).removeprefix("FATAL: ")
        if "timeout expired" in reason:
            raise DatabaseNoAnswer(
                f"{described} gave no answer within {parameters['connect_timeout']} s: "
                "check that the database server is up, and the host and port"
            ) from None
        advice = next(
            (advice for pattern, advice in DATABASE_ADVICE if re.search(pattern, reason)),
            "check the host, port, user, password and database name",
        )
        if not name:
            advice += f", or set {DATABASE_VARIABLES[0]}"
        raise ConfigurationError(f"{described} cannot be reached ({reason}): {advice}") from None


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
        if parts.port is not None:
            # django-storage-url always connects to https://HOST/, whatever the port.
            raise ConfigurationError(
                f"{shown(name, dsn)} has a port, which the storage ignores: name the server "
                "with endpoint= instead, e.g. "
                f"{S3_DSN_EXAMPLE}&endpoint=https%3A%2F%2Fs3.example.com%3A9000"
            )
        if not parts.username or not parts.password:
            raise ConfigurationError(
                f"{shown(name, dsn)} has no credentials: put the URL-encoded key and secret "
                f"before the bucket, e.g. {S3_DSN_EXAMPLE}"
            )
        if not parts.hostname or AWS_ENDPOINT.fullmatch(parts.hostname):
            raise ConfigurationError(
                f"{shown(name, dsn)} names no bucket: put it before the host, e.g. {S3_DSN_EXAMPLE}"
            )
        if "." not in parts.hostname or not HOST_NAME.fullmatch(parts.hostname):
            # django-storage-url reads the bucket and the service's host from this host name.
            raise ConfigurationError(
                f"{shown(name, dsn)} needs the bucket and the storage service's host name, "
                f"dot-separated, e.g. {S3_DSN_EXAMPLE}"
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
                f"{shown(name, dsn)} has an invalid {parameter}={mask_password(values[0])!r}: "
                f"use e.g. {parameter_example}"
            )


def is_endpoint(value):
    """Whether a URL can be an S3 endpoint: http(s), a host, maybe a port, and no path."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:  # a port that is not a number, or over 65535
        return False
    host = parts.netloc.rsplit(":", 1)[0] if port is not None else parts.netloc
    return (
        parts.scheme.lower() in {"http", "https"}
        and HOST_NAME.fullmatch(host) is not None
        and (port is None or port in PORTS)
        and parts.path in {"", "/"}
        and not (parts.query or parts.fragment)
    )


def check_storage():
    """Build the media storage and its client as the first upload would, without a request."""
    from django.core.files.storage import storages

    name = "DEFAULT_STORAGE_DSN"
    dsn = get_value(name, "")
    try:
        storage = storages["default"]
        # For S3, this builds the client and checks the bucket and region the DSN gives.
        storage.url("startup-check")
        bucket = getattr(storage, "bucket_name", None)
    except Exception as error:
        # Its type only: the error's text may quote the DSN's secret.
        raise ConfigurationError(
            f"{shown(name, dsn)} cannot be used by the storage library "
            f"({type(error).__name__}): check it against e.g. {S3_DSN_EXAMPLE}"
        ) from None
    if bucket is not None and not S3_BUCKET.fullmatch(bucket):
        raise ConfigurationError(
            f"{shown(name, dsn)} names the bucket {bucket!r}, which S3 refuses: use 3 to 63 "
            f"lowercase letters, digits, dots or hyphens, e.g. {S3_DSN_EXAMPLE}"
        )


def check_before_serving():
    """What the server checks once at start, so that no mistake waits for the first request.

    A database that gives no answer in time is an outage as often as a mistake: the server
    starts anyway, so that the platform's probes get an answer, and /readyz reports it.
    """
    from django.conf import settings

    if not settings.DEBUG and not settings.ALLOWED_HOSTS:
        raise ConfigurationError(
            "DOMAIN is not set, so with DEBUG off every request would be refused (400 Bad "
            "Request): set DOMAIN to the site's host name, e.g. DOMAIN=example.com "
            "(or set DJANGO_DEBUG=True for local development)."
        )
    check_storage()
    # In a thread: Uvicorn's --reload and --workers import the app inside their event loop,
    # where Django refuses to connect.
    with ThreadPoolExecutor(max_workers=1) as executor:
        checked = executor.submit(check_database)
    try:
        checked.result()
    except DatabaseNoAnswer as error:
        logging.getLogger(__name__).warning("Starting anyway: %s", error)


def mask_password(dsn):
    """Hide a DSN's secrets for messages: the password (or S3 secret) after the user name, the
    whole user-info part when it is not a plain name (e.g. a secret pasted without its key),
    and secret-looking query values. A database user without a password stays readable.

    It never fails, as it is used to report DSNs that are not even URLs: a password holding an
    unescaped /, ? or # is masked up to the last @.
    """
    scheme, separator, rest = dsn.partition("://")
    if not separator:
        scheme, rest = "", dsn
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
    masked = f"{scheme}{separator}{rest}"
    return re.sub(
        r"([?&][^=&#]*(?:pass|secret|key|token|signature)[^=&#]*=)[^&#]*",
        r"\1***",
        masked,
        flags=re.IGNORECASE,
    )
