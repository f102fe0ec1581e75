import os
from contextlib import ExitStack

import pytest

from tests.helpers import fill_database, migrate_database
from tests.postgres import new_database


@pytest.fixture(autouse=True)
def databases_of_their_own(django_db_blocker):
    """copy_database opens connections of its own, to databases other than the tests'."""
    with django_db_blocker.unblock():
        yield


@pytest.fixture(autouse=True)
def hash_cache_of_its_own(monkeypatch, tmp_path):
    """copy_media keeps MD5s in the user's cache folder: each test in a folder of its own."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def new_postgresql():
    """Make empty databases on the tests' PostgreSQL server, dropped after the test; each call
    returns one's DSN."""
    with ExitStack() as stack:
        yield lambda: stack.enter_context(new_database(os.environ["DEFAULT_DATABASE_DSN"], "copy"))


@pytest.fixture(scope="module")
def filled_postgresql():
    """A migrated PostgreSQL database with rows, for tests that only read it; its DSN."""
    with new_database(os.environ["DEFAULT_DATABASE_DSN"], "source") as dsn:
        migrate_database(dsn)
        fill_database(dsn)
        yield dsn
