import pytest
from django.db import connection


@pytest.mark.django_db
def test_runs_on_postgresql_through_psycopg2():
    """Tests must meet the database and driver production uses (run them with make test)."""
    assert connection.vendor == "postgresql"
    assert connection.Database.__name__ == "psycopg2"
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
