"""make mutation's pytest plugin: what runs a mutant's tests quickly, kept out of tests/conftest.py.

scripts/mutation.py puts this folder on PYTHONPATH, and pyproject.toml's [tool.mutmut] loads the
plugin with `-p mutation_plugin` into each pytest run of mutmut (one per mutant, each in a
process forked from one that imported Django and the tests already). Runs that go on at once
share TEST_SHARED_DIR (mutants/shared/):

- the static files, collected by the first run instead of once per mutant (seconds, when the
  tests of a mutant often take less);
- a test database per run going on at once: each process takes the lowest number whose lock
  no running process holds, and keeps it, with its database (--reuse-db), for its later runs.

A mutant's tests also run quickest first, as mutmut's first run timed them.
"""

import fcntl
import itertools
import json
import os
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings

# The test database of each process: {process id: (number, lock file descriptor)}.
_test_databases = {}


def shared_dir():
    return Path(os.environ["TEST_SHARED_DIR"])


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    """Name this process's test database, once pytest-django has configured Django."""
    if os.getpid() not in _test_databases:
        for number in itertools.count():
            lock = os.open(shared_dir() / f"database-{number}.lock", os.O_WRONLY | os.O_CREAT)
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(lock)
                continue
            _test_databases[os.getpid()] = number, lock
            break
    number, _ = _test_databases[os.getpid()]
    database = settings.DATABASES["default"]
    database.setdefault("TEST", {})["NAME"] = f"test_{database['NAME']}_{number}"


@pytest.hookimpl(tryfirst=True)
def pytest_fixture_setup(fixturedef, request):
    """tests/conftest.py's static_root, collected once for every run into the shared folder
    (scripts/mutation.py empties it at each start, so that the first run collects). A plugin's
    fixture cannot override a conftest's, so this hook sets it up instead, caching its value as
    pytest's own setup does."""
    if fixturedef.argname != "static_root":
        return None
    static_root = shared_dir() / "staticfiles"
    lock = os.open(shared_dir() / "staticfiles.lock", os.O_WRONLY | os.O_CREAT)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one run collects, the others wait for it
        if not (static_root / "staticfiles.json").exists():
            with override_settings(STATIC_ROOT=static_root):
                call_command("collectstatic", interactive=False, verbosity=0)
    finally:
        os.close(lock)
    fixturedef.cached_result = (static_root, fixturedef.cache_key(request), None)
    return static_root


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """mutmut gives a mutant's tests in no particular order, and a run stops at its first
    failure: the quickest first, so that a mutant a quick test catches is not kept waiting for
    the slow tests to pass."""
    stats = Path("mutmut-stats.json")  # mutmut runs pytest in its copy, mutants/
    if "MUTANT_UNDER_TEST" in os.environ and stats.exists():
        durations = json.loads(stats.read_text())["duration_by_test"]
        items.sort(key=lambda item: durations.get(item.nodeid, 0))
