"""Databases as copy_database sees them: a database DSN checked by the rules the settings apply,
a connection of its own, what it holds, and the commands that copy it.

PostgreSQL to PostgreSQL goes through pg_dump and pg_restore, piped (custom format, one
transaction at the target). Any other pair goes through the ORM: migrate at the target, then
transfer/rows.py, a process whose settings have both databases.
"""

import glob
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.db.utils import ConnectionHandler

from myapp.configuration.database import VARIABLES, checked_dsn, connect, settings_from
from myapp.configuration.environment import ConfigurationError, mask_password

# Rows that migrate makes by itself at any database, and that copy_database never copies: the
# migrations applied, and the content types and permissions of the models (referred to by
# their natural keys).
MADE_BY_MIGRATE = {"django_migrations", "django_content_type", "auth_permission"}
# Where Debian and Ubuntu install each PostgreSQL version's programs, side by side.
INSTALLED_VERSIONS = "/usr/lib/postgresql/*/bin"
CLIENT_TOOLS = (
    "install PostgreSQL's client tools (Debian/Ubuntu: apt-get install postgresql-client)"
)


class Database:
    def __init__(self, dsn, name):
        self.dsn = dsn
        self.described = f"{name}={mask_password(dsn)!r}"
        # A connection of its own, beside the project's: the handler Django keeps its own in.
        self.connection = ConnectionHandler({"default": settings_from(dsn)})["default"]
        self.is_postgres = self.connection.vendor == "postgresql"

    def same_as(self, other):
        ours, theirs = self.connection.settings_dict, other.connection.settings_dict
        keys = ("ENGINE", "NAME", "HOST", "PORT")
        return [ours[key] for key in keys] == [theirs[key] for key in keys]

    def check(self):
        """Connect once, or raise a ConfigurationError saying why not."""
        connect(self.connection, self.described)

    def contents(self):
        """Each table that holds rows, and how many, but the ones migrate fills by itself."""
        with self.connection.cursor() as cursor:
            counts = {}
            for table in sorted(self.connection.introspection.table_names(cursor)):
                if table not in MADE_BY_MIGRATE:
                    quoted = self.connection.ops.quote_name(table)
                    cursor.execute(f"SELECT COUNT(*) FROM {quoted}")  # noqa: S608 (a table's name)
                    (rows,) = cursor.fetchone()
                    if rows:
                        counts[table] = rows
        return counts

    def server_major(self):
        with self.connection.cursor():
            return self.connection.pg_version // 10000

    def close(self):
        self.connection.close()

    def libpq_environment(self):
        """libpq's variables for pg_dump and pg_restore: the password never on a command line."""
        parameters = self.connection.settings_dict
        names = {"HOST": "PGHOST", "PORT": "PGPORT", "USER": "PGUSER", "PASSWORD": "PGPASSWORD"}
        environ = {variable: str(parameters[key]) for key, variable in names.items()}
        for option, value in parameters["OPTIONS"].items():
            environ[f"PG{option.upper()}"] = str(value)  # libpq's names: PGSSLMODE...
        return {**os.environ, **{name: value for name, value in environ.items() if value}}

    def django_environment(self):
        """The environment a manage.py command runs in to use this database as its default."""
        environ = {name: value for name, value in os.environ.items() if name not in VARIABLES}
        return {**environ, "DEFAULT_DATABASE_DSN": self.dsn}


def open_database(dsn, name, source=False):
    """The Database a DSN names ('default': the configured one); name is what messages call it.
    A source that is a SQLite file must exist (connecting would make an empty one)."""
    if dsn == "default":
        dsn = settings.DEFAULT_DATABASE_DSN
    database = Database(checked_dsn(name, dsn), name)
    path = database.connection.settings_dict["NAME"]
    if source and database.connection.vendor == "sqlite" and not Path(path).exists():
        raise ConfigurationError(
            f"{database.described} names the SQLite file {path}, which does not exist: correct "
            "the path (sqlite:////ABSOLUTE/PATH.sqlite3)"
        )
    return database


def find_tool(name, server_major):
    """The newest pg_dump or pg_restore found (on PATH, in pg_config's folder, in each installed
    version's folder), refused if missing or older than the server."""
    folders = glob.glob(INSTALLED_VERSIONS)
    if pg_config := shutil.which("pg_config"):
        result = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)  # noqa: S603 (found on PATH)
        folders.append(result.stdout.strip())
    candidates = {shutil.which(name), *(shutil.which(name, path=folder) for folder in folders)}
    versions = {}
    for candidate in filter(None, candidates):
        result = subprocess.run([candidate, "--version"], capture_output=True, text=True)  # noqa: S603 (a found tool)
        if found := re.search(r"[0-9]+", result.stdout):
            versions[candidate] = int(found[0])
    if not versions:
        raise ConfigurationError(f"{name} is not installed: {CLIENT_TOOLS}")
    newest = max(versions, key=versions.get)
    if versions[newest] < server_major:
        raise ConfigurationError(
            f"{name} is version {versions[newest]}, older than the PostgreSQL {server_major} "
            f"server, which it cannot copy: install PostgreSQL {server_major}'s client tools"
        )
    return newest


def pipe(writer, reader, what):
    """Run writer | reader (commands as manage() gives them) to the end; raise a
    ConfigurationError with the error line of the one that failed (never a password: libpq's
    goes by the environment)."""
    first = start(writer, stdout=subprocess.PIPE)
    second = start(reader, stdin=first.stdout)
    first.stdout.close()  # the reader's now: the writer stops if the reader does
    _, second_errors = second.communicate()
    _, first_errors = first.communicate()
    for process, errors in ((first, first_errors), (second, second_errors)):
        if process.returncode:
            raise ConfigurationError(f"{what}: {error_line(errors)}")


def run(command, what):
    """Run a command as manage() gives it; its output, or a ConfigurationError with its error
    line."""
    process = start(command, stdout=subprocess.PIPE)
    output, errors = process.communicate()
    if process.returncode:
        raise ConfigurationError(f"{what}: {error_line(errors)}")
    return output.decode()


def start(command, stdin=None, stdout=subprocess.DEVNULL):
    return subprocess.Popen(  # noqa: S603 (the project's Python, or a found PostgreSQL tool)
        command["args"],
        stdin=stdin,
        stdout=stdout,
        stderr=subprocess.PIPE,
        env=command["env"],
        cwd=command.get("cwd"),
    )


def error_line(output):
    """What a failed command said: a Python exception's last line, else the first line that says
    error (pg_restore's first failure), else its last line."""
    lines = [line.strip() for line in output.decode(errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines if re.search(r"error", line, re.IGNORECASE)]
    if "Traceback (most recent call last):" in lines:
        errors = lines[-1:]
    return (errors[:1] or lines[-1:] or ["(no message)"])[0]


def copy_rows(source, target):
    """transfer/rows.py, from source to target, as manage() gives a command."""
    environ = {
        **target.django_environment(),
        "DJANGO_SETTINGS_MODULE": "transfer.settings",
        "COPY_DATABASE_SOURCE_DSN": source.dsn,
    }
    return {
        "args": [sys.executable, "-m", "transfer.rows"],
        "env": environ,
        "cwd": settings.BASE_DIR,
    }


def manage(database, *command):
    """A manage.py command with DEFAULT_DATABASE_DSN set to database (the settings module is
    the one in the environment, where manage.py puts it)."""
    return {
        "args": [sys.executable, "-m", "django", *command],
        "env": database.django_environment(),
        "cwd": settings.BASE_DIR,
    }
