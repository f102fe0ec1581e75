"""The database DSN's rules, checked before dj-database-url reads it, and a first connection."""

import re

import dj_database_url
from django.core.checks import Tags, register
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections

from myapp.configuration.environment import (
    ConfigurationError,
    check_messages,
    get_value,
    shown,
    split_dsn,
)

# The platform sets the same DSN under both names.
VARIABLES = ("DEFAULT_DATABASE_DSN", "DATABASE_URL")
EXAMPLE = "postgres://USER:PASSWORD@HOST:5432/NAME"
# How long a connection waits for a database that accepts connections but does not answer
# (libpq's connect_timeout): at start, well within the platform's 20 s for a first answer;
# at run time, so that a hung database ties up no worker thread for long. A DSN's
# ?connect_timeout= wins.
CONNECT_TIMEOUT = 5
# Connections are kept for this many seconds, and checked before each reuse (Django's
# CONN_HEALTH_CHECKS), so that a request does not pay for a new PostgreSQL connection.
CONN_MAX_AGE = 600
# libpq's and SQLite's reasons for refusing a connection, and what to do about each.
ADVICE = [
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


class DatabaseNoAnswer(ConfigurationError):
    """The database accepted no connection in time: an outage as often as a mistake."""


def variable():
    """The name of the first DSN variable that is set, or None."""
    return next((name for name in VARIABLES if get_value(name)), None)


def get_dsn(default):
    """Read the database DSN, refusing what dj-database-url would misread or quote in an error
    (its errors may hold the password)."""
    name = variable()
    dsn = get_value(name) if name else default
    # The default is the project's own.
    if name is None:
        return dsn
    return checked_dsn(name, dsn)


def checked_dsn(name, dsn):
    """A database DSN, refused as get_dsn() refuses it; messages name it as name (the variable,
    or a command's argument)."""
    # sqlite://:memory: is documented by dj-database-url, though split_dsn() would read
    # ":memory:" as a port that is not a number.
    if dsn == "sqlite://:memory:":
        return dsn
    parts = split_dsn(name, dsn, EXAMPLE)
    if parts.scheme not in dj_database_url.ENGINE_SCHEMES:
        raise ConfigurationError(
            f"{shown(name, dsn)} has an unknown scheme {parts.scheme!r}: "
            f"use e.g. {EXAMPLE} (or sqlite:////ABSOLUTE/PATH.sqlite3)"
        )
    if not parts.path.lstrip("/") and parts.scheme != "sqlite":
        raise ConfigurationError(
            f"{shown(name, dsn)} names no database: end it with /NAME, e.g. {EXAMPLE}"
        )
    return dsn


def settings_from(dsn):
    """The DATABASES entry for a DSN that get_dsn() accepted."""
    settings = dj_database_url.parse(dsn, conn_max_age=CONN_MAX_AGE, conn_health_checks=True)
    if settings["ENGINE"].rsplit(".", 1)[-1] in {"postgresql", "postgis"}:
        settings.setdefault("OPTIONS", {}).setdefault("connect_timeout", CONNECT_TIMEOUT)
    return settings


@register(Tags.database, deploy=True)
def check_database_answers(app_configs=None, databases=(), **kwargs):
    """`manage.py check --deploy --database default`, as a release command: the database
    answers (migrate, without --deploy, says so in its own one line)."""
    if DEFAULT_DB_ALIAS not in (databases or ()):
        return []
    return check_messages(check_connection, "myapp.E001")


def check_connection():
    """Connect to the default database once, or raise a ConfigurationError saying why not.

    Without an answer within CONNECT_TIMEOUT, it raises DatabaseNoAnswer.
    """
    name = variable()
    described = shown(name, get_value(name)) if name else VARIABLES[0]
    try:
        connection = connections[DEFAULT_DB_ALIAS]
    except ImproperlyConfigured as error:
        # Django could not load the scheme's backend: its driver (or GDAL) is not installed.
        reason = str(error).splitlines()[0]
        raise ConfigurationError(
            f"{described} needs a database driver that is not installed ({reason}): "
            f"use e.g. {EXAMPLE}, or add the driver to requirements.in"
        ) from None
    advice = ""
    if not name:
        database = connection.settings_dict["NAME"]
        described += f" is not set, so the embedded SQLite database {database}"
        advice = f", or set {VARIABLES[0]}"
    connect(connection, described, advice)


def connect(connection, described, more_advice=""):
    """Open and close a new connection, or raise a ConfigurationError (DatabaseNoAnswer without
    an answer in time) saying why not, described as described."""
    parameters = connection.get_connection_params()
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
            (advice for pattern, advice in ADVICE if re.search(pattern, reason)),
            "check the host, port, user, password and database name",
        )
        raise ConfigurationError(
            f"{described} cannot be reached ({reason}): {advice}{more_advice}"
        ) from None
