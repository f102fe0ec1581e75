"""Errors of the server as the Dockerfile runs it, its database stopped once it has started: the
debug page shows no credential, and production logs each error to stderr, traceback and path, no
secret."""

import http.client
import secrets

import pytest

from tests.helpers import image_environ, postgresql_of_its_own, running_server

pytestmark = pytest.mark.slow

SECRET = f"pw-{secrets.token_hex(8)}"


@pytest.fixture
def database():
    """A PostgreSQL server of the test's own, for it to stop; its DSN holds SECRET."""
    with postgresql_of_its_own(password=SECRET) as cluster:
        yield cluster


def environment(debug, database):
    """The app's variables: every DSN holds SECRET."""
    return image_environ(
        DOMAIN="localhost",
        DJANGO_DEBUG=str(debug),
        DEFAULT_DATABASE_DSN=database.dsn,
        DEFAULT_STORAGE_DSN=f"s3://AKIAEXAMPLE:{SECRET}@media.s3.eu-central-1.amazonaws.com/",
    )


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


def test_the_debug_page_shows_no_credential(image_dir, tmp_path, database):
    log = tmp_path / "server.log"
    with running_server(image_dir, environment(True, database), log) as server:
        database.stop()
        status, page = get_a_page_that_needs_the_database(
            server.port, f"sessionid={secrets.token_hex(16)}"
        )

    assert status == 500
    assert "OperationalError" in page
    assert "Local vars" in page  # the frames' variables are there, masked
    assert SECRET not in page
    assert SECRET not in log.read_text()


def test_production_logs_the_error_with_its_traceback_and_path_but_no_secret(
    image_dir, tmp_path, database
):
    log = tmp_path / "server.log"
    with running_server(image_dir, environment(False, database), log) as server:
        database.stop()
        status, page = get_a_page_that_needs_the_database(
            server.port, f"__Secure-sessionid={secrets.token_hex(16)}"
        )

    output = log.read_text()
    assert status == 500
    assert "OperationalError" not in page
    assert "ERROR django.request: Internal Server Error: /admin/" in output
    assert "Traceback (most recent call last):" in output
    assert "psycopg2.OperationalError: connection to server on socket" in output
    assert SECRET not in output
