"""Errors of the server as the Dockerfile runs it, when its database goes down: the debug page
shows no credential, and production logs each error to stderr, traceback and path, no secret.

The database is up when the server starts (the server refuses to start without it), and
stopped before the request."""

import http.client
import os
import secrets

import pytest

from tests.conftest import VENV_BIN
from tests.e2e.conftest import running_server

pytestmark = pytest.mark.slow

SECRET = f"pw-{secrets.token_hex(8)}"


def environment(debug, database_dsn):
    """Every DSN holds SECRET."""
    return {
        "PATH": f"{VENV_BIN}:{os.defpath}",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DOMAIN": "localhost",
        "DJANGO_DEBUG": str(debug),
        "DEFAULT_DATABASE_DSN": database_dsn,
        "DEFAULT_STORAGE_DSN": f"s3://AKIAEXAMPLE:{SECRET}@media.s3.eu-central-1.amazonaws.com/",
    }


def get_a_page_that_needs_the_database(port, cookie):
    """The admin with a session cookie: the session is looked up in the database."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(
            "GET",
            "/admin/",
            headers={"Host": "localhost", "X-Forwarded-Proto": "https", "Cookie": cookie},
        )
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


@pytest.mark.parametrize("stoppable_postgresql", [SECRET], indirect=True)
def test_the_debug_page_shows_no_credential(image_dir, tmp_path, stoppable_postgresql):
    log = tmp_path / "server.log"
    database = stoppable_postgresql
    with running_server(image_dir, environment(True, database.dsn), log) as port:
        database.stop()
        status, page = get_a_page_that_needs_the_database(
            port, f"sessionid={secrets.token_hex(16)}"
        )

    assert status == 500
    assert "OperationalError" in page
    assert "Local vars" in page  # the frames' variables are there, masked
    assert SECRET not in page
    assert SECRET not in log.read_text()


@pytest.mark.parametrize("stoppable_postgresql", [SECRET], indirect=True)
def test_production_logs_the_error_with_its_traceback_and_path_but_no_secret(
    image_dir, tmp_path, stoppable_postgresql
):
    log = tmp_path / "server.log"
    database = stoppable_postgresql
    with running_server(image_dir, environment(False, database.dsn), log) as port:
        database.stop()
        status, page = get_a_page_that_needs_the_database(
            port, f"__Secure-sessionid={secrets.token_hex(16)}"
        )

    output = log.read_text()
    assert status == 500
    assert "OperationalError" not in page
    assert "ERROR django.request: Internal Server Error: /admin/" in output
    assert "Traceback (most recent call last):" in output
    assert "psycopg2.OperationalError: connection to server" in output
    assert SECRET not in output
