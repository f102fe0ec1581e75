import io
import os
import signal
import subprocess
import sys
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.helpers import (
    BASE_DIR,
    FILLED_UPLOADS,
    FILLED_USERS,
    closed_endpoint,
    dumped_rows,
    fill_database,
    migrate_database,
)
from transfer import database
from transfer.database import Database


def copy(*args):
    """Run copy_database; what it printed."""
    output = io.StringIO()
    call_command("copy_database", *args, stdout=output)
    return output.getvalue()


def refusal(*args):
    """Run copy_database, which must refuse; its one line."""
    with pytest.raises(CommandError) as refused:
        copy(*args)
    message = str(refused.value)
    assert "\n" not in message
    return message


@pytest.mark.slow
def test_postgresql_to_sqlite_and_back_gives_identical_rows(
    filled_postgresql, new_postgresql, tmp_path
):
    sqlite = f"sqlite:///{tmp_path / 'copy.sqlite3'}"
    back = new_postgresql()

    copy(filled_postgresql, sqlite)
    copy(sqlite, back)

    rows = dumped_rows(filled_postgresql)
    assert sum(b'"model": "uploader.uploadedfile"' in row for row in rows) == FILLED_UPLOADS
    assert sum(b'"model": "auth.user"' in row for row in rows) == FILLED_USERS
    assert dumped_rows(sqlite) == rows
    assert dumped_rows(back) == rows


@pytest.mark.slow
def test_postgresql_to_postgresql_goes_through_pg_dump(filled_postgresql, new_postgresql):
    target = new_postgresql()

    output = copy(filled_postgresql, target)

    assert "pg_dump" in output
    assert dumped_rows(target) == dumped_rows(filled_postgresql)
    # The sequences came too: a new row takes the next free key.
    fill_database(target, uploads=1)


@pytest.mark.slow
def test_default_names_the_configured_database(filled_postgresql, new_postgresql, monkeypatch):
    """As a release command would run it: DEFAULT_DATABASE_DSN, in a process of its own."""
    target = new_postgresql()
    environ = {**os.environ, "DEFAULT_DATABASE_DSN": filled_postgresql}
    subprocess.run(
        [sys.executable, "manage.py", "copy_database", "default", target],
        cwd=BASE_DIR,
        env=environ,
        check=True,
        capture_output=True,
    )

    assert dumped_rows(target) == dumped_rows(filled_postgresql)


@pytest.mark.slow
def test_a_target_with_rows_is_replaced_only_with_yes(filled_postgresql, new_postgresql):
    target = new_postgresql()
    migrate_database(target)
    fill_database(target, uploads=2)
    before = dumped_rows(target)

    message = refusal(filled_postgresql, target)

    assert f"auth_user ({FILLED_USERS} rows)" in message
    assert "uploader_uploadedfile (2 rows)" in message
    assert "--yes" in message
    assert dumped_rows(target) == before

    output = copy(filled_postgresql, target, "--yes")

    assert "uploader_uploadedfile (2 rows)" in output
    assert dumped_rows(target) == dumped_rows(filled_postgresql)


@pytest.mark.slow
def test_a_copy_killed_halfway_then_run_again_copies_everything_once(new_postgresql, tmp_path):
    source = new_postgresql()
    migrate_database(source)
    fill_database(source, uploads=30_000)
    target = f"sqlite:///{tmp_path / 'copy.sqlite3'}"
    command = [sys.executable, "-u", "manage.py", "copy_database", source, target]
    process = subprocess.Popen(
        command, cwd=BASE_DIR, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    for line in process.stdout:
        if line.startswith("Copying rows"):
            break
    time.sleep(1)
    process.stdout.close()
    # The command and the two it pipes, as Ctrl+C or a lost terminal would stop them.
    os.killpg(process.pid, signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL

    copy(source, target)

    assert dumped_rows(target) == dumped_rows(source)


def test_bad_dsns_are_refused_in_one_line_without_their_secret(filled_postgresql):
    assert refusal("postgres//u:s3cret@host/x", "default") == (
        "SOURCE_DSN='postgres//u:***@host/x' is not a URL: use e.g. "
        "postgres://USER:PASSWORD@HOST:5432/NAME"
    )
    message = refusal(filled_postgresql, "mysqlx://u:s3cret@host/x")
    assert message.startswith("TARGET_DSN='mysqlx://u:***@host/x' has an unknown scheme")
    assert "names no database" in refusal("default", "postgres://u:s3cret@host")
    assert "s3cret" not in refusal(filled_postgresql, filled_postgresql)


def test_an_unreachable_target_is_said_in_one_line(filled_postgresql, tmp_path):
    port = closed_endpoint().rpartition(":")[2]

    message = refusal(filled_postgresql, f"postgres://u:s3cret@127.0.0.1:{port}/x")

    assert message == (
        f"TARGET_DSN='postgres://u:***@127.0.0.1:{port}/x' cannot be reached (Connection "
        "refused): start the database server, or correct the host and port"
    )
    message = refusal(filled_postgresql, f"sqlite:///{tmp_path}/missing/copy.sqlite3")
    assert "create the SQLite file's folder" in message
    assert not (tmp_path / "missing").exists()


def test_a_missing_sqlite_source_is_not_made(tmp_path):
    message = refusal(f"sqlite:///{tmp_path}/typo.sqlite3", f"sqlite:///{tmp_path}/copy.sqlite3")

    assert "names the SQLite file" in message
    assert list(tmp_path.iterdir()) == []


def tables(dsn):
    database = Database(dsn, "DSN")
    with database.connection.cursor() as cursor:
        names = database.connection.introspection.table_names(cursor)
    database.close()
    return names


def fake_tool(folder, name, version):
    """An executable that says it is name at version, as an old client package's would."""
    tool = folder / name
    tool.write_text(f"#!/bin/sh\necho '{name} (PostgreSQL) {version}'\n")
    tool.chmod(0o755)


@pytest.mark.parametrize("installed", [[], ["9.6"]])
def test_missing_or_old_client_tools_are_said_in_one_line(
    filled_postgresql, new_postgresql, monkeypatch, tmp_path, installed
):
    target = new_postgresql()
    for version in installed:
        fake_tool(tmp_path, "pg_dump", version)
        fake_tool(tmp_path, "pg_restore", version)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(database, "INSTALLED_VERSIONS", str(tmp_path / "none" / "*"))

    message = refusal(filled_postgresql, target)

    if installed:
        assert message.startswith("pg_dump is version 9, older than the PostgreSQL ")
        assert message.endswith("client tools")
    else:
        assert message == (
            "pg_dump is not installed: install PostgreSQL's client tools (Debian/Ubuntu: "
            "apt-get install postgresql-client)"
        )
    assert tables(target) == []
