"""Static files and /healthz as the Dockerfile's CMD serves them: answered by the ASGI front
(myapp/front.py) before Django, with everything WhiteNoise gives kept."""

import asyncio
import gzip
import http.client
import json
import os
import shutil

import brotli
import pytest
from asgiref.sync import async_to_sync

from myapp import front
from tests.helpers import image_environ, running_server

pytestmark = pytest.mark.slow

CSS = "admin/css/base.css"
# Larger than the front holds in memory: read from disk in chunks.
BIG_SIZE = 3 * front.MEMORY_FILE_SIZE + 123
HTTPS = {"X-Forwarded-Proto": "https"}


@pytest.fixture(scope="module")
def served(image_dir, tmp_path_factory):
    """The built image's files, plus a large one, served by the Dockerfile's CMD; yields a
    function that makes one request and returns (status, headers, body)."""
    app = tmp_path_factory.mktemp("front") / "app"
    shutil.copytree(image_dir, app)
    (app / "staticfiles" / "big.bin").write_bytes(os.urandom(BIG_SIZE))
    environ = image_environ(
        DOMAIN="localhost", DEFAULT_DATABASE_DSN=f"sqlite:///{app / 'db.sqlite3'}"
    )

    with running_server(app, environ, app.parent / "server.log") as server:

        def request(method, path, headers=None):
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            try:
                connection.request(method, path, headers={"Host": "localhost", **(headers or {})})
                response = connection.getresponse()
                return response.status, response.headers, response.read()
            finally:
                connection.close()

        request.root = app / "staticfiles"
        request.hashed = (
            "/static/" + json.loads((request.root / "staticfiles.json").read_text())["paths"][CSS]
        )
        yield request


def test_liveness_answers_any_host_over_plain_http(served):
    status, headers, body = served("GET", "/healthz", {"Host": "10.1.2.3"})

    assert (status, body, headers["Content-Type"]) == (200, b"ok\n", "text/plain")


def test_hashed_files_are_cached_forever_with_the_security_headers(served):
    status, headers, body = served("GET", served.hashed, HTTPS)

    assert status == 200
    assert body == (served.root / served.hashed.removeprefix("/static/")).read_bytes()
    assert headers["Cache-Control"] == "max-age=315360000, public, immutable"
    assert headers["Content-Type"].startswith("text/css")
    # What Django's SecurityMiddleware adds to its answers, over HTTPS.
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert headers["Referrer-Policy"] == "same-origin"


def test_unhashed_names_are_cached_briefly(served):
    status, headers, _ = served("GET", f"/static/{CSS}", HTTPS)

    assert status == 200
    assert headers["Cache-Control"] == "max-age=60, public"


@pytest.mark.parametrize(
    ("accept", "encoding", "decompress"),
    [("gzip", "gzip", gzip.decompress), ("gzip, deflate, br", "br", brotli.decompress)],
)
def test_compressed_variants_by_accept_encoding(served, accept, encoding, decompress):
    status, headers, body = served("GET", served.hashed, {**HTTPS, "Accept-Encoding": accept})

    assert status == 200
    assert headers["Content-Encoding"] == encoding
    assert headers["Vary"] == "Accept-Encoding"
    assert decompress(body) == (served.root / served.hashed.removeprefix("/static/")).read_bytes()


def test_no_compression_unasked(served):
    _, headers, body = served("GET", served.hashed, HTTPS)

    assert "Content-Encoding" not in headers
    assert headers["Vary"] == "Accept-Encoding"
    assert int(headers["Content-Length"]) == len(body)


def test_head_has_the_headers_and_no_body(served):
    status, headers, body = served("HEAD", served.hashed, HTTPS)

    assert status == 200
    assert body == b""
    expected = (served.root / served.hashed.removeprefix("/static/")).stat().st_size
    assert int(headers["Content-Length"]) == expected


def test_conditional_request_is_not_modified(served):
    etag = served("GET", served.hashed, HTTPS)[1]["ETag"]

    status, headers, body = served("GET", served.hashed, {**HTTPS, "If-None-Match": etag})

    assert (status, body) == (304, b"")
    assert headers["ETag"] == etag


def test_range_request(served):
    status, headers, body = served("GET", "/static/big.bin", {**HTTPS, "Range": "bytes=10-19"})

    assert status == 206
    assert headers["Content-Range"] == f"bytes 10-19/{BIG_SIZE}"
    assert body == (served.root / "big.bin").read_bytes()[10:20]


def test_a_file_too_large_to_hold_streams_from_disk(served):
    status, headers, body = served("GET", "/static/big.bin", HTTPS)

    assert status == 200
    assert int(headers["Content-Length"]) == BIG_SIZE
    assert body == (served.root / "big.bin").read_bytes()


def test_other_methods_are_not_allowed(served):
    status, headers, _ = served("POST", served.hashed, HTTPS)

    assert status == 405
    assert headers["Allow"] == "GET, HEAD"


@pytest.mark.parametrize(
    "path",
    [
        "/static/admin/css/missing.css",
        "/static/../manage.py",
        "/static/%2e%2e/manage.py",
        "/static/admin/../../myapp/settings.py",
        "/static/staticfiles.json/../../manage.py",
    ],
)
def test_no_file_outside_the_collected_ones(served, path):
    status, _, body = served("GET", path, HTTPS)

    assert status == 404
    assert b"SECRET_KEY" not in body
    assert b"django" not in body.lower()


def test_plain_http_is_redirected_to_https_as_by_django(served):
    status, headers, _ = served("GET", served.hashed)

    assert status == 301
    assert headers["Location"] == f"https://localhost{served.hashed}"


def test_memory_is_bounded(settings, static_root, monkeypatch):
    """Past its budget the front holds no more files, and serves the others from disk."""
    monkeypatch.setattr(front, "MEMORY_BUDGET", 100_000)
    application = front.Front(application=None)

    held = [content for _, content in application.files.values() if content is not None]
    assert 0 < sum(map(len, held)) <= 100_000
    assert len(held) < len(application.files)

    on_disk = next(
        url
        for url, static_file in application.whitenoise.files.items()
        for encoding, path, _ in static_file.alternatives
        if not encoding.pattern and application.files[path][1] is None
    )
    sent = []

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "path": on_disk, "method": "GET", "headers": [], "scheme": "https"}
    async_to_sync(application)(scope, None, send)

    assert sent[0]["status"] == 200
    body = b"".join(message.get("body", b"") for message in sent[1:])
    assert body == (static_root / on_disk.removeprefix("/static/")).read_bytes()


def test_a_large_body_is_read_ahead_whole_and_in_order():
    pieces = [os.urandom(50_000) for _ in range(60)]
    messages = [{"type": "http.request", "body": piece, "more_body": True} for piece in pieces]
    messages[-1]["more_body"] = False
    received = []

    async def receive():
        await asyncio.sleep(0)  # as a network read would, let the reader run
        return messages.pop(0)

    async def read_all():
        async with front.ReadAhead(receive) as read:
            while True:
                message = await read()
                received.append(message)
                if not message["more_body"]:
                    return
                for _ in range(5):  # Django takes its time with each piece
                    await asyncio.sleep(0)

    async_to_sync(read_all)()

    assert b"".join(message["body"] for message in received) == b"".join(pieces)
    # Fewer, larger pieces than the network's, none larger than the read-ahead allows.
    assert 1 < len(received) < len(pieces)
    assert max(len(message["body"]) for message in received) < front.READ_AHEAD + 50_000


def test_a_disconnect_during_a_large_body_reaches_django():
    messages = [
        {"type": "http.request", "body": b"x" * 1000, "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive():
        return messages.pop(0)

    async def read_two():
        async with front.ReadAhead(receive) as read:
            return [await read(), await read()]

    first, second = async_to_sync(read_two)()

    assert (first["body"], first["more_body"]) == (b"x" * 1000, True)
    assert second == {"type": "http.disconnect"}
