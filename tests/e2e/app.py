"""The app as its container runs it, on a database of its own, with an admin account."""

import os
import secrets
import subprocess
import urllib.parse
from contextlib import contextmanager

import dj_database_url
import psycopg2
import pytest
from psycopg2 import sql

from tests.helpers import VENV_BIN, running_server

USERNAME = "admin"
PASSWORD = secrets.token_urlsafe()


@contextmanager
def fresh_database():
    """A new database on the PostgreSQL server the tests run on; yields its DSN."""
    dsn = os.environ.get("DEFAULT_DATABASE_DSN", "")
    server = dj_database_url.parse(dsn) if dsn else {}
    if "postgresql" not in server.get("ENGINE", ""):
        pytest.fail("the browser tests need DEFAULT_DATABASE_DSN on PostgreSQL: run make test")
    name = f"myapp_e2e_{secrets.token_hex(4)}"
    connection = psycopg2.connect(
        dbname=server["NAME"],
        user=server["USER"],
        password=server["PASSWORD"],
        host=server["HOST"],
        port=server["PORT"] or None,
    )
    # CREATE and DROP DATABASE cannot run inside a transaction.
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield urllib.parse.urlsplit(dsn)._replace(path=f"/{name}").geturl()
        finally:
            with connection.cursor() as cursor:
                cursor.execute(
                    sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name))
                )
    finally:
        connection.close()


@contextmanager
def running_app(image_dir, environ, log):
    """Migrate, create the admin, then run the Dockerfile's CMD; yields its port."""
    manage = [VENV_BIN / "python", "manage.py"]
    for command in [["migrate", "--no-input"], ["createsuperuser", "--no-input"]]:
        result = subprocess.run(
            [*manage, *command],
            cwd=image_dir,
            env={
                **environ,
                "DJANGO_SUPERUSER_USERNAME": USERNAME,
                "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
                "DJANGO_SUPERUSER_EMAIL": "admin@example.com",
            },
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
    with running_server(image_dir, environ, log) as server:
        yield server.port
