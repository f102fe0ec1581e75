import logging
import os
import shutil
import tempfile
import time
import urllib.parse
import warnings
import wsgiref.util
from pathlib import Path

import pytest
from django.db import connection

from myapp.serving import health
from tests.helpers import (
    asgi_get,
    bucket_on,
    closed_endpoint,
    image_environ,
    probe,
    running_server,
    s3_dsn,
)


def test_liveness_needs_no_database_and_no_allowed_host(client):
    # No django_db mark: any database query would fail this test.
    response = client.get("/healthz", headers={"host": "10.1.2.3"})

    # Plain text, as the ASGI front's own answer to /healthz (myapp/serving/front.py).
    assert (response.status_code, response.text, response["Content-Type"]) == (
        200,
        "ok\n",
        "text/plain",
    )


@pytest.mark.django_db
def test_liveness_over_wsgi():
    # Imported here: importing it runs the start checks, which connect to the database.
    from myapp.wsgi import application

    environ = {"PATH_INFO": "/healthz", "HTTP_HOST": "10.1.2.3"}
    wsgiref.util.setup_testing_defaults(environ)
    statuses = []
    body = b"".join(application(environ, lambda status, headers: statuses.append(status)))

    assert (statuses, body) == (["200 OK"], b"ok\n")


@pytest.mark.django_db
def test_liveness_over_the_asgi_entry_point():
    # Imported here: importing it runs the start checks, which connect to the database.
    from myapp.asgi import application

    status, _, body = asgi_get(application, "/healthz", [(b"host", b"10.1.2.3")])

    assert (status, body) == (200, b"ok\n")


@pytest.mark.django_db(transaction=True)
def test_ready_when_database_and_storage_answer(client):
    response = client.get("/readyz", headers={"host": "10.1.2.3"})

    assert (response.status_code, response.text, response["Content-Type"]) == (
        200,
        "ready\n",
        "text/plain",
    )


@pytest.mark.django_db(transaction=True)
def test_ready_again_once_the_database_is_back(client):
    assert client.get("/readyz").status_code == 200
    # What a database restart does to every connection open to it: each one is cut.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )

    # Probes come every few seconds; checks run in either of two threads.
    answers = {(r.status_code, r.text) for r in (client.get("/readyz") for _ in range(6))}

    assert answers == {(200, "ready\n")}


@pytest.mark.django_db(transaction=True)
def test_not_ready_names_a_storage_that_refuses_connections(client, use_storage):
    use_storage(s3_dsn(closed_endpoint(), credentials="KEY:TOPSECRET"))

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.text.startswith("storage: ")
    assert "TOPSECRET" not in response.text
    assert "database" not in response.text


@pytest.mark.django_db(transaction=True)
def test_not_ready_when_the_bucket_does_not_exist(client, use_storage, moto_server):
    bucket, dsn = bucket_on(moto_server)
    use_storage(dsn.replace(bucket.name, f"{bucket.name}-gone"))

    response = client.get("/readyz")

    assert (response.status_code, response.text) == (503, "storage: NoSuchBucket\n")
    assert response["Content-Type"] == "text/plain"


@pytest.mark.django_db(transaction=True)
def test_ready_with_a_bucket_leaves_nothing_in_it(client, use_storage, moto_server):
    bucket, dsn = bucket_on(moto_server)
    use_storage(dsn)

    assert client.get("/readyz").status_code == 200
    assert list(bucket.objects.all()) == []


@pytest.mark.django_db(transaction=True)
def test_ready_makes_the_media_folder_and_leaves_nothing_in_it(client, media_root):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert list(media_root.iterdir()) == []


@pytest.mark.django_db(transaction=True)
def test_not_ready_when_the_media_folder_cannot_be_made(client, use_storage, tmp_path):
    (tmp_path / "data").write_text("a file where the folder should be")
    use_storage((tmp_path / "data" / "media").as_uri() + "/?url=%2Fmedia%2F")

    response = client.get("/readyz")

    assert (response.status_code, response.text) == (503, "storage: NotADirectoryError (ENOTDIR)\n")


def test_not_ready_when_the_server_may_not_write_the_media_folder(use_storage):
    # The server runs as an unprivileged user (docker-entrypoint.sh), here "nobody", and the
    # folder belongs to another user. As root, which may write anywhere, the check runs in a
    # child process that becomes nobody: forked, not started anew, because the interpreter may
    # sit where nobody cannot reach it (pyenv's, under /root). The folder is where nobody may
    # look (pytest's own temporary folders are not).
    folder = Path(tempfile.mkdtemp())
    try:
        folder.chmod(0o755)
        media = folder / "media"
        media.mkdir(mode=0o755)
        if os.geteuid() != 0:
            media.chmod(0o555)
        use_storage(media.as_uri() + "/?url=%2Fmedia%2F")

        assert in_a_process_of_nobodys(health.uploads_can_be_stored) == f"PermissionError: {media}"
    finally:
        shutil.rmtree(folder)


def in_a_process_of_nobodys(function):
    """What function raised ("Type: message") or returned, in a forked child run as nobody."""
    read, write = os.pipe()
    with warnings.catch_warnings():
        # The test process has threads (servers of other tests); the child only calls function.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: never back into pytest
        try:
            if os.geteuid() == 0:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
            try:
                outcome = repr(function())
            except Exception as error:
                outcome = f"{type(error).__name__}: {error}"
            os.write(write, outcome.encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as answer:
        outcome = answer.read()
    os.waitpid(pid, 0)
    return outcome


@pytest.mark.django_db(transaction=True)
def test_not_ready_within_the_deadline_when_storage_hangs(
    client, use_storage, unanswering_server, monkeypatch
):
    monkeypatch.setattr(health, "CHECK_TIMEOUT", 1.0)
    use_storage(s3_dsn(unanswering_server))

    started = time.monotonic()
    first = client.get("/readyz")
    second = client.get("/readyz")
    elapsed = time.monotonic() - started

    assert first.status_code == second.status_code == 503
    assert first.text == "storage: no answer within 1 s\n"
    # The hung check is waited for, not started again, and each probe keeps to its deadline.
    assert elapsed < 2 * 1.0 + 1.5


@pytest.mark.slow
def test_the_server_answers_probes_in_time_while_its_database_hangs(
    image_dir, unanswering_server, tmp_path
):
    hung = urllib.parse.urlsplit(unanswering_server)
    environ = image_environ(
        DOMAIN="example.com",
        DEFAULT_DATABASE_DSN=f"postgres://user:pw@{hung.hostname}:{hung.port}/db",
    )

    with running_server(image_dir, environ, tmp_path / "server.log") as server:
        alive = probe(f"http://127.0.0.1:{server.port}/healthz")
        ready = probe(f"http://127.0.0.1:{server.port}/readyz")

    assert alive == (200, b"ok\n")
    assert ready == (503, b"database: no answer within 5 s\n")


@pytest.mark.slow
@pytest.mark.parametrize("storage", ["missing bucket", "folder under a file"])
def test_the_server_is_not_ready_while_uploads_cannot_work(
    image_dir, moto_server, tmp_path, storage
):
    if storage == "missing bucket":
        bucket, dsn = bucket_on(moto_server)
        dsn, failure = dsn.replace(bucket.name, f"{bucket.name}-gone"), b"NoSuchBucket"
    else:
        dsn = (tmp_path / "data" / "media").as_uri() + "/?url=%2Fmedia%2F"
        failure = b"NotADirectoryError (ENOTDIR)"
    environ = image_environ(
        DOMAIN="example.com",
        DEFAULT_DATABASE_DSN=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        DEFAULT_STORAGE_DSN=dsn,
    )

    with running_server(image_dir, environ, tmp_path / "server.log") as server:
        if storage == "folder under a file":  # after the start, which would refuse it
            (tmp_path / "data").write_text("a file where the folder should be")
        ready = probe(f"http://127.0.0.1:{server.port}/readyz")

    assert ready == (503, b"storage: " + failure + b"\n")


@pytest.mark.django_db(transaction=True)
def test_not_ready_is_logged_once_per_change_with_its_reason(
    front_request, use_storage, tmp_path, caplog
):
    """Answered by the ASGI front (outside Django's request log, which would log an ERROR for
    each probe): the log says what changed, once."""
    front_request("GET", "/healthz")  # Django's set up: its logging configured
    logging.getLogger(health.__name__).addHandler(caplog.handler)
    (tmp_path / "data").write_text("a file where the folder should be")
    use_storage((tmp_path / "data" / "media").as_uri() + "/?url=%2Fmedia%2F")

    answers = [front_request("GET", "/readyz") for _ in range(3)]
    (tmp_path / "data").unlink()
    answers += [front_request("GET", "/readyz") for _ in range(2)]

    logging.getLogger(health.__name__).removeHandler(caplog.handler)

    assert [answer.status for answer in answers] == [503, 503, 503, 200, 200]
    assert answers[0].body == b"storage: NotADirectoryError (ENOTDIR)\n"
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("ERROR", "Not ready: storage: NotADirectoryError (ENOTDIR)"),
        ("WARNING", "Ready again: the database and the storage answer."),
    ]
