import urllib.parse

import pytest
from django.db import OperationalError, connection
from django.db.utils import ConnectionHandler


@pytest.mark.django_db
def test_runs_on_postgresql_through_psycopg2():
    """Tests must meet the database and driver production uses (run them with make test)."""
    assert connection.vendor == "postgresql"
    assert connection.Database.__name__ == "psycopg2"
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def test_connections_persist_and_are_checked_before_reuse(load_settings):
    database = load_settings(DEFAULT_DATABASE_DSN="postgres://u:p@db:5432/x")["DATABASES"]

    assert database["default"]["CONN_MAX_AGE"] == 600
    assert database["default"]["CONN_HEALTH_CHECKS"] is True
    assert database["default"]["OPTIONS"] == {"connect_timeout": 5}


def test_a_dsn_may_set_its_own_connect_timeout(load_settings):
    dsn = "postgres://u:p@db:5432/x?connect_timeout=10"

    assert load_settings(DEFAULT_DATABASE_DSN=dsn)["DATABASES"]["default"]["OPTIONS"] == {
        "connect_timeout": 10
    }


def test_a_hung_database_fails_a_request_instead_of_holding_its_thread(
    load_settings, unanswering_server, django_db_blocker
):
    """At run time too, not only in the start check: libpq gives up after connect_timeout."""
    hung = urllib.parse.urlsplit(unanswering_server)
    dsn = f"postgres://u:p@{hung.hostname}:{hung.port}/x?connect_timeout=2"
    databases = ConnectionHandler(load_settings(DEFAULT_DATABASE_DSN=dsn)["DATABASES"])

    with django_db_blocker.unblock(), pytest.raises(OperationalError, match="timeout expired"):
        databases["default"].ensure_connection()
