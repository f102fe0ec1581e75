"""What more than one test module needs, defined once: the project's paths, free ports, S3
buckets and DSNs, the Dockerfile's command run as a server, probes, uploads through the admin,
images, and a database that refuses rows.

Fixtures are in the conftest.py files, which pytest finds by itself; test modules import plain
helpers from here (or tests/e2e/app.py), never from a conftest.py or from each other."""

import asyncio
import base64
import http.client
import importlib
import io
import json
import os
import resource
import secrets
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
import psycopg2
import pytest
from asgiref.sync import async_to_sync
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import clear_url_caches, reverse
from PIL import Image

import myapp.urls
from tests.postgres import PostgresUnavailable, TemporaryCluster
from transfer.database import Database, manage
from uploader.models import UploadedFile

BASE_DIR = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
# Every row copy_database copies, references to content types and permissions by natural key.
DUMPDATA = ["dumpdata", "--natural-foreign", "--exclude=contenttypes", "--exclude=auth.Permission"]
# Rows of a filled database (fill_database).
FILLED_USERS, FILLED_UPLOADS = 3, 500
# The platform retries its probe for up to 60 s, but gives each answer 20 s.
PROBE_BUDGET = 20


def free_port():
    """A port of 127.0.0.1 that nothing listens on, as a stopped service's (until one takes it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def closed_endpoint():
    """The URL of a server that refuses connections, as a stopped service does."""
    return f"http://127.0.0.1:{free_port()}"


def s3_dsn(endpoint, bucket="media", credentials="key:secret"):
    """The DSN of a bucket on the S3 server at endpoint (signature v4)."""
    return (
        f"s3://{credentials}@{bucket}.s3.us-east-1.amazonaws.com/"
        f"?auth=s3v4&endpoint={urllib.parse.quote(endpoint, safe='')}"
    )


def crc32(content):
    """A CRC-32 as uploads.js computes it and S3 takes it: base64 of its four bytes."""
    return base64.b64encode(zlib.crc32(content).to_bytes(4, "big")).decode()


def bucket_on(endpoint):
    """A new bucket on an S3 server over HTTP, and the DSN that stores in it through endpoint=."""
    name = f"media-{secrets.token_hex(4)}"
    s3 = boto3.resource("s3", **on_server(endpoint))
    return s3.create_bucket(Bucket=name), s3_dsn(endpoint, bucket=name)


def on_server(endpoint):
    """boto3's arguments to reach the emulated AWS at endpoint, with its default credentials."""
    return {
        "endpoint_url": endpoint,
        "region_name": "us-east-1",
        "aws_access_key_id": "key",
        "aws_secret_access_key": "secret",
    }


def iam_user_dsn(endpoint, dsn, statements):
    """dsn with the credentials of a new IAM user of the S3 server at endpoint, whose rights
    are the policy statements given; moto enforces them only inside its
    enable_iam_authentication()."""
    iam = boto3.client("iam", **on_server(endpoint))
    user = f"user-{secrets.token_hex(4)}"
    iam.create_user(UserName=user)
    iam.put_user_policy(
        UserName=user,
        PolicyName=f"{user}-rights",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
    )
    key = iam.create_access_key(UserName=user)["AccessKey"]
    secret = urllib.parse.quote(key["SecretAccessKey"], safe="")
    return dsn.replace("key:secret@", f"{key['AccessKeyId']}:{secret}@")


def dockerfile_instructions(keyword):
    """The arguments of every Dockerfile line starting with keyword, continuations joined."""
    text = (BASE_DIR / "Dockerfile").read_text().replace("\\\n", " ")
    return [line.split(None, 1)[1] for line in text.splitlines() if line.startswith(f"{keyword} ")]


def dockerfile_cmd_on(port):
    """The Dockerfile's CMD, on a port of 127.0.0.1 instead of port 80 of every interface."""
    (cmd,) = dockerfile_instructions("CMD")
    argv = json.loads(cmd)
    argv[argv.index("--host") + 1 :] = ["127.0.0.1", "--port", str(port)]
    return argv


def image_environ(**variables):
    """A process environment as the image has it: its PATH, a production SECRET_KEY (50+
    characters, as Django's deploy check wants) unless one is given, and the variables the
    platform would set; nothing of the developer's."""
    return {
        "PATH": f"{VENV_BIN}:{os.defpath}",
        "SECRET_KEY": secrets.token_urlsafe(50),
        **variables,
    }


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    log: Path
    # When it was started, as the container would be.
    started: float


@contextmanager
def running_server(image_dir, environ, log, *options, timeout=30, file_limit=None):
    """The Dockerfile's CMD (with options added) in image_dir, as the container runs it but on a
    free port of 127.0.0.1, its output and errors written to the file log; yields a Server once
    it gives any HTTP answer, and stops it as `docker stop` does (SIGTERM) on the way out.

    file_limit: the most file descriptors the server may have open, as `ulimit -n` sets it."""
    port, started = free_port(), time.monotonic()
    limit = (file_limit, file_limit)
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*dockerfile_cmd_on(port), *options],
            cwd=image_dir,
            env=environ,
            stdout=output,
            stderr=subprocess.STDOUT,
            preexec_fn=file_limit and (lambda: resource.setrlimit(resource.RLIMIT_NOFILE, limit)),
        )
        server = Server(process, port, log, started)
        try:
            _wait_for_an_answer(server, timeout)
            yield server
        finally:
            server.process.terminate()
            server.process.wait(timeout=20)


def _wait_for_an_answer(server, timeout):
    """Any HTTP answer to the liveness probe, which needs neither HTTPS nor an allowed host."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"the server stopped:\n{server.log.read_text()}")
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        try:
            connection.request("GET", "/healthz", headers={"Host": "localhost"})
            connection.getresponse().read()
            return
        except OSError:
            time.sleep(0.1)
        finally:
            connection.close()
    pytest.fail(f"no answer on port {server.port} within {timeout} s:\n{server.log.read_text()}")


@dataclass
class AsgiResponse:
    status: int
    headers: dict
    body: bytes
    # The body as the application sent it, one item per message.
    pieces: list
    # How many bytes of the request's body the application read.
    read: int


def asgi_request(application, method, path, headers=(), scheme="http", body=()):
    """Make a request of an ASGI application in this process, as Uvicorn would (plain HTTP
    unless scheme says otherwise, Host testserver unless headers give one), with body given
    as the pieces the network brings (None: the client stops sending); returns an
    AsgiResponse. The application's messages
    must be what Uvicorn accepts, and follow the ASGI spec: one start, lowercase header names,
    body messages up to the one without more_body and nothing after, as many bytes as
    Content-Length says (none for 304; Uvicorn sends none for HEAD)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": scheme,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [*headers] if b"host" in dict(headers) else [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 12345),
        "server": ("127.0.0.1", 80),
    }
    arriving = [{"type": "http.request", "body": piece, "more_body": True} for piece in body]
    arriving.append({"type": "http.request", "body": b"", "more_body": False})
    sent, read = [], []

    async def receive():
        await asyncio.sleep(0)  # as a network read would, let other tasks run
        if arriving:
            if arriving[0]["body"] is None:  # the client stops sending, and waits
                await asyncio.sleep(60)
            read.append(len(arriving[0]["body"]))
            return arriving.pop(0)
        # The body is over: the client waits for the answer, then goes.
        for _ in range(1000):
            if len(sent) > 1 and not sent[-1].get("more_body", False):
                break
            await asyncio.sleep(0.01)
        return {"type": "http.disconnect"}

    async def send(message):
        assert message["type"] == ("http.response.body" if sent else "http.response.start")
        ended = len(sent) > 1 and not sent[-1].get("more_body", False)
        assert not ended, f"{message} sent after the response's end"
        sent.append(message)

    async_to_sync(application)(scope, receive, send)
    start, *bodies = sent
    assert bodies, "no body message"
    assert not bodies[-1].get("more_body", False), "the response never ended"
    assert all(name == name.lower() for name, _ in start["headers"]), start["headers"]
    response_headers = {name.decode(): value.decode() for name, value in start["headers"]}
    pieces = [message.get("body", b"") for message in bodies]
    content = b"".join(pieces)
    if method == "HEAD":
        content = b""
    elif start["status"] == 304:
        assert content == b"", "a body for 304"
    elif "content-length" in response_headers:
        assert len(content) == int(response_headers["content-length"])
    return AsgiResponse(start["status"], response_headers, content, pieces, sum(read))


def asgi_get(application, path, headers=()):
    """GET path from an ASGI application in this process, as Uvicorn would over plain HTTP;
    returns (status, headers as a dict, body)."""
    response = asgi_request(application, "GET", path, headers)
    return response.status, response.headers, response.body


def probe(url, retry_until_up=False):
    """GET a health URL as the platform's probe does: plain HTTP, a foreign Host, 20 s at most."""
    request = urllib.request.Request(url, headers={"Host": "10.0.0.7"})
    deadline = time.monotonic() + PROBE_BUDGET
    while True:
        try:
            with urllib.request.urlopen(request, timeout=PROBE_BUDGET) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()
        except OSError:
            if not retry_until_up or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@contextmanager
def postgresql_of_its_own(password=None):
    """A started PostgreSQL server for one test to stop, start or check passwords on (make
    test's trusts everyone); yields its TemporaryCluster. With DEFAULT_DATABASE_DSN naming a
    server elsewhere (Compose), there may be none to make here: skipped then, but never on CI."""
    try:
        cluster = TemporaryCluster(password=password)
    except PostgresUnavailable as error:
        if os.environ.get("CI"):
            pytest.fail(str(error))
        pytest.skip(str(error))
    with cluster:
        yield cluster


def reload_urls():
    """Build the URLs anew, as after a change of DEBUG or of the admin's registered models."""
    importlib.reload(myapp.urls)
    clear_url_caches()


def upload(client, name, content):
    """Add a file through the admin's form, as an editor does; returns its new row."""
    response = client.post(
        reverse("admin:uploader_uploadedfile_add"), {"file": SimpleUploadedFile(name, content)}
    )
    assert response.status_code == 302, response.content
    return UploadedFile.objects.latest("pk")


def reconcile(*args):
    """Run reconcile_media; return its exit status and what it printed."""
    output = io.StringIO()
    try:
        call_command("reconcile_media", *args, stdout=output)
    except CommandError as error:
        return error.returncode, f"{output.getvalue()}{error}\n"
    return 0, output.getvalue()


def storage_errors(caplog):
    """What the uploader logged of a stored file's life (file_lifecycle/lifecycle.py)."""
    logger = "file_lifecycle.lifecycle"
    return [record.getMessage() for record in caplog.records if record.name == logger]


def refuse_inserts(cursor, message, at_commit=False):
    """Make the database refuse every new UploadedFile row with message, as a full disk would:
    at the INSERT, or only at COMMIT, once the row and its file were written. Returns the SQL
    that undoes it."""
    name = "refuse_at_commit" if at_commit else "refuse"
    when = (
        f"CONSTRAINT TRIGGER {name} AFTER INSERT ON uploader_uploadedfile "
        "DEFERRABLE INITIALLY DEFERRED"
        if at_commit
        else f"TRIGGER {name} BEFORE INSERT ON uploader_uploadedfile"
    )
    cursor.execute(
        f"CREATE FUNCTION {name}() RETURNS trigger AS $$ BEGIN "
        f"RAISE EXCEPTION '{message}'; END $$ LANGUAGE plpgsql"
    )
    cursor.execute(f"CREATE {when} FOR EACH ROW EXECUTE FUNCTION {name}()")
    return f"DROP TRIGGER {name} ON uploader_uploadedfile; DROP FUNCTION {name}()"


def image_bytes(size=(640, 480), image_format="PNG", mode="RGB", **options):
    """A real image file's bytes, of one colour."""
    data = io.BytesIO()
    Image.new(mode, size, "#36c").save(data, image_format, **options)
    return data.getvalue()


def huge_png(width, height):
    """A valid black-and-white PNG of width x height pixels, made a row at a time, so that a
    20,000 x 20,000 image (400 million pixels) is a file of a few hundred kB made in little
    memory: what a decompression bomb is."""
    row = b"\0" + bytes((width + 7) // 8)  # no filter, then the row's bits
    compressor = zlib.compressobj(9)
    pixels = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def run_manage(dsn, *command):
    """A manage.py command on the database at dsn, as copy_database runs one; its output."""
    command = manage(Database(dsn, "DSN"), *command)
    return subprocess.run(
        command["args"], env=command["env"], cwd=command["cwd"], check=True, capture_output=True
    ).stdout


def dumped_rows(dsn):
    """Every row copy_database copies, as dumpdata gives them (natural keys), in order."""
    return sorted(run_manage(dsn, *DUMPDATA, "--format=jsonl").splitlines())


def migrate_database(dsn):
    run_manage(dsn, "migrate", "--no-input", "--verbosity=0")


def fill_database(dsn, uploads=FILLED_UPLOADS):
    """Rows of every kind the project keeps, with references by content type and permission
    (which copy_database maps by natural key): users, a group, uploads, admin log entries."""
    connection = psycopg2.connect(dsn.replace("postgres://", "postgresql://", 1))
    with connection, connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, "
            "email, is_staff, is_active, date_joined) SELECT '!', n = 1, 'user-é-' || n || '-' || "
            "(SELECT count(*) FROM auth_user), "
            "'', '', '', true, true, now() FROM generate_series(1, %s) AS n",
            [FILLED_USERS],
        )
        cursor.execute(
            "INSERT INTO auth_group (name) SELECT 'editors ' || count(*) FROM auth_group "
            "RETURNING id"
        )
        (group,) = cursor.fetchone()
        cursor.execute(
            "INSERT INTO auth_group_permissions (group_id, permission_id) SELECT %s, id FROM "
            "auth_permission WHERE codename LIKE '%%uploadedfile'",
            [group],
        )
        cursor.execute(
            "INSERT INTO auth_user_groups (user_id, group_id) SELECT id, %s FROM auth_user", [group]
        )
        cursor.execute(
            "INSERT INTO uploader_uploadedfile (file, original_name, content_type, size, "
            "uploaded_at, has_preview, uploaded_by_id) SELECT md5(n::text) || '/file-' || n || "
            "'.txt', 'file-' || n || '.txt', 'text/plain', n, now() - n * interval '1 minute', "
            "false, (SELECT min(id) FROM auth_user) FROM generate_series(1, %s) AS n",
            [uploads],
        )
        cursor.execute(
            "INSERT INTO django_admin_log (action_time, user_id, content_type_id, object_id, "
            "object_repr, action_flag, change_message) SELECT now(), (SELECT min(id) FROM "
            "auth_user), (SELECT id FROM django_content_type WHERE model = 'uploadedfile'), "
            "id::text, 'file', 1, '[]' FROM uploader_uploadedfile AS u ORDER BY u.id DESC LIMIT 10"
        )
    connection.close()
