"""The running server under concurrent uploads and failing services: nothing lost, nothing orphaned.

The app runs as the Dockerfile's CMD (tests/e2e/conftest.py), on PostgreSQL and a local folder
or a real S3 server over HTTP; the admin is used over HTTP as a browser behind the platform's
load balancer would. After each test, rows and stored files match, or `reconcile_media --fix`
makes them match and says what it did.
"""

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest
from moto.server import ThreadedMotoServer

from tests.e2e.admin_http import AdminSession
from tests.e2e.app import PASSWORD, USERNAME, fresh_database, reconciled, running_app
from tests.helpers import (
    bucket_on,
    free_port,
    image_environ,
    postgresql_of_its_own,
    refuse_inserts,
)

pytestmark = pytest.mark.slow

ADD = "/admin/uploader/uploadedfile/add/"
CHANGELIST = "/admin/uploader/uploadedfile/"
CONCURRENT_UPLOADS = 50


class Bucket:
    """A bucket on an S3 server over HTTP, and the DSN that points the app at it."""

    def __init__(self, endpoint):
        self.bucket, self.dsn = bucket_on(endpoint)

    def files(self):
        return {item.key: item.get()["Body"].read() for item in self.bucket.objects.all()}


class Folder:
    """A local media folder, and the DSN that points the app at it."""

    def __init__(self, path):
        self.path = path
        self.dsn = path.as_uri() + "/?url=%2Fmedia%2F"

    def files(self):
        return {
            str(file.relative_to(self.path)): file.read_bytes()
            for file in self.path.rglob("*")
            if file.is_file()
        }


@dataclass
class App:
    """The app on its database and storage, with an editor logged in to its admin."""

    database: str
    environ: dict
    log: Path
    admin: AdminSession
    # The add form, whose CSRF token uploads send.
    add_page: bytes


@contextmanager
def running(image_dir, tmp_path, storage, database=None):
    """The app as its container runs it, on database (by default a fresh one) and storage."""
    with ExitStack() as stack:
        if database is None:
            database = stack.enter_context(fresh_database())
        environ = image_environ(
            DOMAIN="localhost", DEFAULT_DATABASE_DSN=database, DEFAULT_STORAGE_DSN=storage.dsn
        )
        log = tmp_path / "server.log"
        port = stack.enter_context(running_app(image_dir, environ, log))
        admin = AdminSession(port, USERNAME, PASSWORD)
        yield App(database, environ, log, admin, admin.get(ADD)[2])


def rows(database_dsn, column="file"):
    """A column of every UploadedFile (its stored name), read straight from the database."""
    with psycopg2.connect(database_dsn) as connection, connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM uploader_uploadedfile")  # noqa: S608 (ours)
        values = [value for (value,) in cursor.fetchall()]
    connection.close()
    return values


@pytest.fixture(params=["local folder", "S3 over HTTP"])
def storage(request, tmp_path, moto_server):
    return Folder(tmp_path / "media") if request.param == "local folder" else Bucket(moto_server)


def test_concurrent_same_name_uploads_keep_every_file(image_dir, tmp_path, storage):
    with running(image_dir, tmp_path, storage) as app:
        admin, page, database = app.admin, app.add_page, app.database
        contents = [f"upload number {n}\n".encode() * 1000 for n in range(CONCURRENT_UPLOADS)]
        start_together = threading.Barrier(CONCURRENT_UPLOADS)

        def upload(content):
            start_together.wait()
            return admin.upload("same-name.txt", content, page)

        with ThreadPoolExecutor(CONCURRENT_UPLOADS) as pool:
            answers = list(pool.map(upload, contents))

        assert answers == [(302, CHANGELIST)] * CONCURRENT_UPLOADS
        assert reconciled(image_dir, app.environ).startswith(
            f"{CONCURRENT_UPLOADS} rows, {CONCURRENT_UPLOADS} stored files: rows and stored "
        )
        names = rows(database)
        assert len(set(names)) == CONCURRENT_UPLOADS
        assert all(name.endswith("/same-name.txt") for name in names)
        stored = storage.files()
        assert set(stored) == set(names)
        assert sorted(stored.values()) == sorted(contents)


@pytest.fixture
def stoppable_s3():
    """An S3 server of its own on 127.0.0.1, that a test can stop and start again."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    holder = {"server": server}

    def restart():
        holder["server"] = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        holder["server"].start()

    yield f"http://127.0.0.1:{port}", holder, restart
    holder["server"].stop()


def test_s3_stopped_mid_run_loses_nothing_and_orphans_nothing(image_dir, tmp_path, stoppable_s3):
    endpoint, holder, restart = stoppable_s3
    bucket = Bucket(endpoint)
    with running(image_dir, tmp_path, bucket) as app:
        admin = app.admin
        assert admin.upload("before.txt", b"stored before the outage") == (302, CHANGELIST)

        holder["server"].stop()
        assert admin.upload("during.txt", b"sent during the outage") == (302, ADD)
        message = admin.get(ADD)[2].decode()
        assert "The file could not be stored (EndpointConnectionError)" in message
        assert "nothing was saved" in message
        status, _, body = admin.get("/readyz")
        # A refused connection, or (while boto still retries) no answer within the deadline.
        assert (status, body.split(b":")[0]) == (503, b"storage")
        assert admin.get("/healthz")[0] == 200
        assert admin.get(CHANGELIST)[0] == 200  # the app keeps serving

        restart()
        assert admin.get("/readyz")[0] == 200
        assert admin.upload("after.txt", b"stored after the outage") == (302, CHANGELIST)

        reconciled(image_dir, app.environ)
        names = rows(app.database)
        stored = bucket.files()
    assert sorted(name.rsplit("/", 1)[1] for name in names) == ["after.txt", "before.txt"]
    assert set(stored) == set(names)
    assert sorted(stored.values()) == [b"stored after the outage", b"stored before the outage"]


@pytest.fixture
def stoppable_postgresql():
    """A PostgreSQL server of its own, that a test can stop and start again."""
    with postgresql_of_its_own() as cluster:
        yield cluster


def test_postgresql_stopped_mid_run_loses_nothing_and_orphans_nothing(
    image_dir, tmp_path, stoppable_postgresql
):
    folder = Folder(tmp_path / "media")
    cluster = stoppable_postgresql
    with running(image_dir, tmp_path, folder, database=cluster.dsn) as app:
        admin, page = app.admin, app.add_page
        assert admin.upload("before.txt", b"stored before the outage", page)[0] == 302

        cluster.stop()
        assert admin.upload("during.txt", b"sent during the outage", page)[0] == 500
        assert admin.get("/readyz")[::2] == (503, b"database: OperationalError\n")
        assert admin.get("/healthz")[0] == 200

        cluster.start()
        assert admin.get("/readyz")[0] == 200
        assert admin.upload("after.txt", b"stored after the outage", page)[0] == 302

        # The database refuses the row after the file was stored: the file goes again.
        with refused_inserts(cluster.dsn):
            assert admin.upload("refused.txt", b"refused by the database", page)[0] == 500
        reconciled(image_dir, app.environ)
        names = rows(cluster.dsn)
    assert sorted(name.rsplit("/", 1)[1] for name in names) == ["after.txt", "before.txt"]
    stored = folder.files()
    assert set(stored) == set(names)
    assert sorted(stored.values()) == [b"stored after the outage", b"stored before the outage"]


@contextmanager
def refused_inserts(database_dsn):
    """Every new UploadedFile row fails, as on a full disk, for the app's own connections too."""
    with psycopg2.connect(database_dsn) as connection, connection.cursor() as cursor:
        undo = refuse_inserts(cursor, "could not extend file: No space left on device")
    try:
        yield
    finally:
        with psycopg2.connect(database_dsn) as connection, connection.cursor() as cursor:
            cursor.execute(undo)
        connection.close()


def test_deleting_while_s3_is_down_is_told_logged_and_finished_by_reconcile_media(
    image_dir, tmp_path, stoppable_s3
):
    endpoint, holder, restart = stoppable_s3
    bucket = Bucket(endpoint)
    with running(image_dir, tmp_path, bucket) as app:
        admin, page, database = app.admin, app.add_page, app.database
        for number in range(5):
            assert admin.upload(f"file-{number}.txt", b"kept", page) == (302, CHANGELIST)
        names = sorted(rows(database))

        holder["server"].stop()
        changelist = admin.get(CHANGELIST)[2]
        fields = {"action": "delete_selected", "post": "yes"}
        fields["_selected_action"] = [str(pk) for pk in rows(database, "id")]
        assert admin.post_form(CHANGELIST, fields, changelist)[0] == 302
        message = admin.get(CHANGELIST)[2].decode()
        assert rows(database) == []
        assert "The storage could not delete 5 file(s) (EndpointConnectionError)" in message
        logged = re.findall(r"Could not delete (\S+) in the storage: (\w+)", app.log.read_text())
        assert sorted(logged) == [(name, "EndpointConnectionError") for name in names]

        restart()
        assert sorted(bucket.files()) == names  # kept, but listed for removal
        report = reconciled(image_dir, app.environ)
    assert sorted(re.findall(r"Removed deleted row's file (\S+)", report)) == names
    assert bucket.files() == {}


def test_an_upload_whose_answer_is_lost_leaves_no_file(image_dir, tmp_path, answer_losing_proxy):
    bucket = Bucket(answer_losing_proxy.endpoint)
    with running(image_dir, tmp_path, bucket) as app:
        admin = app.admin

        answer_losing_proxy.losing.set()
        answer = admin.upload("lost.txt", b"stored, but the answer was lost", app.add_page)
        answer_losing_proxy.losing.clear()

        assert answer == (302, ADD)
        message = admin.get(ADD)[2].decode()
        assert "The file could not be stored (ConnectionClosedError)" in message
        assert re.search(r"Could not store \w+/lost\.txt in the storage: ", app.log.read_text())
        assert rows(app.database) == []
        assert bucket.files() == {}
        reconciled(image_dir, app.environ)


def test_a_brief_s3_outage_during_a_burst_leaves_rows_and_files_matching(
    image_dir, tmp_path, stoppable_s3
):
    endpoint, holder, restart = stoppable_s3
    bucket = Bucket(endpoint)
    uploads = 60
    with running(image_dir, tmp_path, bucket) as app:
        admin, page, database = app.admin, app.add_page, app.database
        done = []

        def upload(number):
            answer = admin.upload(f"burst-{number}.txt", b"%d\n" % number * 5000, page)
            done.append(answer)
            return answer

        with ThreadPoolExecutor(8) as pool:
            answers = pool.map(upload, range(uploads))
            deadline = time.monotonic() + 60
            while len(done) < uploads // 3 and time.monotonic() < deadline:
                time.sleep(0.05)
            holder["server"].stop()  # mid-burst, uploads in flight
            time.sleep(2)
            restart()
            answers = list(answers)

        assert set(answers) <= {(302, CHANGELIST), (302, ADD)}
        saved = answers.count((302, CHANGELIST))
        assert len(rows(database)) == saved
        reconciled(image_dir, app.environ)
        names = rows(database)
        assert set(bucket.files()) == set(names)
