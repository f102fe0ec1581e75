"""A throwaway PostgreSQL server, made from the server binaries installed on the machine.

The tests use it to stop a database mid-run. Run as a script, it runs a command with
DEFAULT_DATABASE_DSN pointing at one, unless that variable already names a server:

    python tests/postgres.py python -m pytest

(a script path, which works from any folder: `python -m tests.postgres` would find the package
named tests that django-storage-url installs, unless run from the project's root).
"""

import glob
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlsplit

NOT_FOUND = (
    "No PostgreSQL server found to test on: install one (Debian/Ubuntu: apt-get install "
    "postgresql) or set DEFAULT_DATABASE_DSN=postgres://USER:PASSWORD@HOST:5432/NAME"
)


class PostgresUnavailable(RuntimeError):
    """No server can be made here; the message says what to install or set."""


def find_bindir():
    """The folder of initdb and pg_ctl: pg_config's, Debian's newest, or on PATH."""
    candidates = []
    if shutil.which("pg_config"):
        pg_config = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        candidates.append(pg_config.stdout.strip())
    debian = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted(debian, key=lambda path: [int(n) for n in re.findall(r"\d+", path)])[::-1]
    if shutil.which("initdb"):
        candidates.append(str(Path(shutil.which("initdb")).parent))
    for candidate in candidates:
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    raise PostgresUnavailable(NOT_FOUND)


class TemporaryCluster:
    """A cluster in a temporary folder, listening on a Unix socket there and nowhere else.

    With a password, the postgres user needs it to connect; without, anyone connects.
    """

    def __init__(self, password=None):
        self.bindir = find_bindir()
        self.folder = Path(tempfile.mkdtemp(prefix="myapp-postgres-"))
        self.data = self.folder / "data"
        self.password = password
        self.run_as = []
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root: run it as the postgres system user.
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresUnavailable(
                    "PostgreSQL refuses to run as root and there is no postgres user to run it "
                    "as: install Debian's postgresql package, or set DEFAULT_DATABASE_DSN"
                ) from None
            os.chown(self.folder, user.pw_uid, user.pw_gid)
            self.run_as = ["runuser", "-u", "postgres", "--"]
        authentication = ["--auth", "trust"]
        if password:
            password_file = self.folder / "password"
            password_file.write_text(password)
            authentication = ["--auth", "scram-sha-256", "--pwfile", password_file]
        self._run("initdb", "--pgdata", self.data, "--username", "postgres", *authentication)
        (self.folder / "password").unlink(missing_ok=True)

    @property
    def dsn(self):
        user = f"postgres:{quote(self.password, safe='')}" if self.password else "postgres"
        return f"postgres://{user}@{quote(str(self.folder), safe='')}/postgres"

    def start(self):
        options = f"-c listen_addresses='' -c unix_socket_directories='{self.folder}' -c fsync=off"
        log = self.folder / "server.log"
        self._run("pg_ctl", "--pgdata", self.data, "--log", log, "--options", options, "start")

    def stop(self):
        self._run("pg_ctl", "--pgdata", self.data, "--mode", "fast", "stop")

    def remove(self):
        pg_ctl = [*self.run_as, self.bindir / "pg_ctl", "--pgdata", self.data]
        subprocess.run([*pg_ctl, "--mode", "immediate", "stop"], capture_output=True)
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(self, *exc_info):
        self.remove()

    def _run(self, program, *args):
        result = subprocess.run(
            [*self.run_as, self.bindir / program, *map(str, args)],
            capture_output=True,
            text=True,
        )
        if result.returncode:
            raise RuntimeError(f"{program} failed: {result.stdout}{result.stderr}")


@contextmanager
def new_database(dsn, prefix):
    """A database of its own on the PostgreSQL server that dsn names, dropped on the way out;
    yields its DSN."""
    import psycopg2  # here, so that running this file as make test does needs no driver
    from psycopg2 import sql

    name = f"{prefix}_{secrets.token_hex(4)}"
    connection = psycopg2.connect(urlsplit(dsn)._replace(scheme="postgresql").geturl())
    connection.autocommit = True  # CREATE and DROP DATABASE cannot run in a transaction
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield urlsplit(dsn)._replace(path=f"/{name}").geturl()
        finally:
            with connection.cursor() as cursor:
                drop = sql.SQL("DROP DATABASE {} WITH (FORCE)")
                cursor.execute(drop.format(sql.Identifier(name)))
    finally:
        connection.close()


def main(command):
    if os.environ.get("DEFAULT_DATABASE_DSN"):
        os.execvp(command[0], command)  # noqa: S606 (the command make test gives)
    # Stop cleanly on the TERM signal of a CI time-out, as on Ctrl+C: never leave a server behind.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with TemporaryCluster() as cluster:
            print(f"PostgreSQL ({cluster.bindir}) in {cluster.folder}", file=sys.stderr)
            environ = {**os.environ, "DEFAULT_DATABASE_DSN": cluster.dsn}
            return subprocess.run(command, env=environ).returncode
    except PostgresUnavailable as error:
        sys.exit(str(error))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
