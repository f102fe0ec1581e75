"""Static files and /healthz as the ASGI front (myapp/serving/front.py) answers them before
Django, with everything WhiteNoise gives kept, and large request bodies read ahead of Django:
in this process, as Uvicorn calls the application; the Dockerfile's CMD serving them too (slow)."""

import asyncio
import gzip
import http.client
import json
import os
import subprocess
import threading

import brotli
import pytest
from a2wsgi import WSGIMiddleware
from asgiref.sync import async_to_sync, sync_to_async
from django.core.wsgi import get_wsgi_application
from django.http import FileResponse

from myapp.serving import front
from tests.helpers import VENV_BIN, asgi_request, image_environ, running_server

CSS = "admin/css/base.css"
HTTPS = [(b"x-forwarded-proto", b"https")]
# Larger than the front holds in memory: read from disk in chunks.
BIG_SIZE = 3 * front.MEMORY_FILE_SIZE + 123


@pytest.fixture
def hashed(static_root):
    """The URL of the stylesheet under its hashed name, and its content."""
    name = json.loads((static_root / "staticfiles.json").read_text())["paths"][CSS]
    return f"/static/{name}", (static_root / name).read_bytes()


@pytest.fixture
def own_static_root(settings, tmp_path):
    """Static files of this test's own (none collected): STATIC_ROOT, to write them in."""
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STATIC_ROOT.mkdir()
    return settings.STATIC_ROOT


@pytest.fixture
def big(own_static_root):
    """A file too large to hold in memory: its URL and content."""
    content = os.urandom(BIG_SIZE)
    (own_static_root / "big.bin").write_bytes(content)
    return "/static/big.bin", content


def from_memory(response):
    """Whether the front answered from memory: the body in one piece, not read in chunks."""
    return len(response.pieces) == 1


def test_liveness_answers_any_host_over_plain_http(front_request, django_requests, settings):
    settings.SECURE_SSL_REDIRECT = True

    response = front_request("GET", "/healthz", [(b"host", b"10.1.2.3")])

    assert (response.status, response.body) == (200, b"ok\n")
    assert response.headers["content-type"] == "text/plain"
    assert django_requests == []


def test_hashed_files_are_cached_forever_with_the_security_headers(
    front_request, django_requests, settings, hashed
):
    settings.SECURE_SSL_REDIRECT = True
    url, content = hashed

    response = front_request("GET", url, HTTPS)

    assert (response.status, response.body) == (200, content)
    assert from_memory(response)
    assert response.headers["cache-control"] == "max-age=315360000, public, immutable"
    assert response.headers["content-type"].startswith("text/css")
    # What Django's SecurityMiddleware adds to its answers, over HTTPS.
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["strict-transport-security"].startswith("max-age=31536000")
    assert response.headers["referrer-policy"] == "same-origin"
    assert django_requests == []


@pytest.mark.parametrize(
    ("headers", "scheme"),
    [
        ([], "https"),
        ([(b"x-forwarded-proto", b"https, http")], "http"),  # the first proxy's word counts
    ],
)
def test_https_as_django_tells_it(
    front_request, django_requests, settings, hashed, headers, scheme
):
    settings.SECURE_SSL_REDIRECT = True

    response = front_request("GET", hashed[0], headers, scheme=scheme)

    assert response.status == 200
    assert "strict-transport-security" in response.headers
    assert django_requests == []


PROXY_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")


@pytest.mark.parametrize(
    ("headers", "scheme", "proxy_header"),
    [
        ([], "http", PROXY_HEADER),
        ([(b"x-forwarded-proto", b"http")], "https", PROXY_HEADER),  # the proxy's word counts
        (HTTPS, "http", None),  # without a proxy header, X-Forwarded-Proto says nothing
    ],
)
def test_plain_http_is_redirected_to_https_as_django_would(
    front_request, django_requests, settings, hashed, headers, scheme, proxy_header
):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = proxy_header

    response = front_request("GET", hashed[0], headers, scheme=scheme)

    assert response.status == 301
    assert response.headers["location"] == f"https://testserver{hashed[0]}"
    # By the tutorial's SecurityMiddleware, called by the front.
    assert django_requests == []


def test_plain_http_is_served_without_hsts_when_not_redirected(
    front_request, django_requests, hashed
):
    # SECURE_SSL_REDIRECT is off (as in DEBUG): plain HTTP is served.
    response = front_request("GET", hashed[0])

    assert (response.status, response.body) == (200, hashed[1])
    assert from_memory(response)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "strict-transport-security" not in response.headers
    assert django_requests == []


def test_unhashed_names_are_cached_briefly(front_request):
    response = front_request("GET", f"/static/{CSS}", HTTPS)

    assert response.status == 200
    assert response.headers["cache-control"] == "max-age=60, public"


@pytest.mark.parametrize(
    ("accept", "encoding", "decompress"),
    [("gzip", "gzip", gzip.decompress), ("gzip, deflate, br", "br", brotli.decompress)],
)
def test_compressed_variants_by_accept_encoding(
    front_request, hashed, accept, encoding, decompress
):
    url, content = hashed

    response = front_request("GET", url, [*HTTPS, (b"accept-encoding", accept.encode())])

    assert response.status == 200
    assert response.headers["content-encoding"] == encoding
    assert response.headers["vary"] == "Accept-Encoding"
    assert decompress(response.body) == content
    assert from_memory(response)


def test_no_compression_unasked(front_request, hashed):
    response = front_request("GET", hashed[0], HTTPS)

    assert "content-encoding" not in response.headers
    assert response.headers["vary"] == "Accept-Encoding"


def test_head_has_the_headers_and_no_body(front_request, django_requests, hashed):
    response = front_request("HEAD", hashed[0], HTTPS)

    assert (response.status, response.body) == (200, b"")
    assert int(response.headers["content-length"]) == len(hashed[1])
    assert response.headers["content-type"].startswith("text/css")
    assert django_requests == []


def test_conditional_request_is_not_modified(front_request, hashed):
    etag = front_request("GET", hashed[0], HTTPS).headers["etag"]

    response = front_request("GET", hashed[0], [*HTTPS, (b"if-none-match", etag.encode())])

    assert (response.status, response.body) == (304, b"")
    assert response.headers["etag"] == etag


@pytest.mark.parametrize("file", ["hashed", "big"])  # held in memory, or read from disk
def test_range_request(front_request, request, file):
    url, content = request.getfixturevalue(file)

    response = front_request("GET", url, [*HTTPS, (b"range", b"bytes=10-19")])

    assert response.status == 206
    assert response.headers["content-range"] == f"bytes 10-19/{len(content)}"
    assert response.body == content[10:20]


def test_a_file_too_large_to_hold_streams_from_disk_in_chunks(front_request, big):
    url, content = big

    response = front_request("GET", url, HTTPS)

    assert response.status == 200
    assert int(response.headers["content-length"]) == BIG_SIZE
    assert response.body == content
    # Never the whole file in memory at once.
    assert max(map(len, response.pieces)) == front.CHUNKS_PER_READ * FileResponse.block_size


def test_a_large_file_is_read_beside_the_thread_of_synchronous_code(big):
    """Reads from disk do not queue for the thread where synchronous code runs in turn
    (sync_to_async's default): a slow request there holds up no download."""
    application = front.Front(application=None)
    url, content = big
    downloaded = threading.Event()
    body = []

    async def send(message):
        body.append(message.get("body", b""))

    async def download():
        scope = {"type": "http", "method": "GET", "path": url, "headers": [], "scheme": "https"}
        await application(scope, None, send)
        downloaded.set()

    async def download_during_a_slow_request():
        slow_request = sync_to_async(downloaded.wait)  # done when the download is, or in 10 s
        finished_meanwhile, _ = await asyncio.gather(slow_request(timeout=10), download())
        return finished_meanwhile

    assert async_to_sync(download_during_a_slow_request)()
    assert b"".join(body[1:]) == content


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_other_methods_are_not_allowed(front_request, django_requests, hashed, method):
    response = front_request(method, hashed[0], HTTPS)

    assert response.status == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert django_requests == []


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
def test_no_file_outside_the_collected_ones(front_request, path):
    response = front_request("GET", path, HTTPS)

    assert response.status == 404
    assert b"SECRET_KEY" not in response.body
    assert b"django" not in response.body.lower()


def test_small_answers_are_kept_in_memory_within_a_budget(
    front_request, own_static_root, monkeypatch
):
    """Answers are kept up to a size each and a budget in all, as an HTTP cache keeps them:
    a file changed on disk (same size, so WhiteNoise's headers still hold) is still answered
    as it was when kept; the others are read again."""
    monkeypatch.setattr(front, "MEMORY_FILE_SIZE", 1000)
    monkeypatch.setattr(front, "MEMORY_BUDGET", 2000)
    small = {f"{name}.txt": os.urandom(1000) for name in "abc"}
    files = {**small, "larger.txt": os.urandom(1001)}
    for name, content in files.items():
        (own_static_root / name).write_bytes(content)
    for name, content in files.items():
        assert front_request("GET", f"/static/{name}", HTTPS).body == content
        (own_static_root / name).write_bytes(os.urandom(len(content)))

    kept = [
        name
        for name, content in files.items()
        if front_request("GET", f"/static/{name}", HTTPS).body == content
    ]

    # The first two fill the budget.
    assert kept == ["a.txt", "b.txt"]


@pytest.mark.parametrize(
    ("headers", "kept"),
    [
        ([], True),
        ([(b"x-forwarded-proto", b"http")], True),  # kept apart from the HTTPS answer
        ([(b"accept-encoding", b"gzip")], True),  # what Vary names: kept by its value
        ([(b"if-modified-since", b"Thu, 01 Jan 1970 00:00:00 GMT")], False),
        ([(b"range", b"bytes=0-9")], False),
    ],
)
def test_answers_are_kept_as_an_http_cache_keeps_them(
    front_request, own_static_root, headers, kept
):
    file = own_static_root / "a.txt"
    file.write_bytes(b"first text")
    request_headers = [*HTTPS, *headers]
    request_headers = list(dict(request_headers).items())  # the last X-Forwarded-Proto counts
    first = front_request("GET", "/static/a.txt", request_headers)
    file.write_bytes(b"later text")

    again = front_request("GET", "/static/a.txt", request_headers)

    assert (again.status, again.headers) == (first.status, first.headers)
    assert (again.body == first.body) == kept
    if dict(headers).get(b"x-forwarded-proto") == b"http":
        assert "strict-transport-security" not in again.headers


def test_an_answer_kept_for_one_kind_of_request_never_answers_another(
    front_request, hashed, settings
):
    """Each answer is kept for its method, its scheme as the proxy tells it, and the request
    headers its Vary names: asked one way after another, each gets its own."""
    settings.SECURE_SSL_REDIRECT = True
    url, content = hashed
    gzip_asked = [*HTTPS, (b"accept-encoding", b"gzip")]

    answers = [
        front_request("HEAD", url, HTTPS),
        front_request("GET", url, gzip_asked),
        front_request("GET", url, HTTPS),
        front_request("GET", url, [(b"x-forwarded-proto", b"http")]),
    ]

    head, gzipped, plain, redirect = answers
    assert [answer.status for answer in answers] == [200, 200, 200, 301]
    assert head.body == b""
    assert gzipped.headers["content-encoding"] == "gzip"
    assert gzip.decompress(gzipped.body) == content
    assert "content-encoding" not in plain.headers
    assert plain.body == content
    assert redirect.headers["location"] == f"https://testserver{url}"


def test_nothing_is_kept_when_whitenoise_looks_for_changes(
    front_request, own_static_root, settings
):
    settings.WHITENOISE_AUTOREFRESH = True
    file = own_static_root / "a.txt"
    file.write_bytes(b"first text")
    front_request("GET", "/static/a.txt", HTTPS)
    file.write_bytes(b"later text")

    assert front_request("GET", "/static/a.txt", HTTPS).body == b"later text"


def login_form(size):
    """A login form of size bytes with a self-made CSRF cookie and token: (headers, body)."""
    token = "t" * 32  # a CSRF secret, as the login page's cookie and form give it
    form = f"csrfmiddlewaretoken={token}&username=".encode()
    headers = [
        (b"cookie", f"__Secure-csrftoken={token}; csrftoken={token}".encode()),
        (b"content-type", b"application/x-www-form-urlencoded"),
        (b"content-length", str(size).encode()),
    ]
    return headers, form + b"x" * (size - len(form))


def counting_receives(received):
    """Django, as myapp/asgi.py runs it, recording the size of each body piece it reads."""
    django = WSGIMiddleware(get_wsgi_application())

    async def application(scope, receive, send):
        async def receive_and_count():
            message = await receive()
            received.append(len(message.get("body", b"")))
            return message

        await django(scope, receive_and_count, send)

    return application


def pieces_of(body, piece=64 * 1024):
    return [body[start : start + piece] for start in range(0, len(body), piece)]


def test_a_form_reaches_django_whole():
    """Received on the event loop before Django's thread waits on it: one piece."""
    headers, body = login_form(front.READ_AHEAD)
    received = []

    response = asgi_request(
        front.Front(counting_receives(received)),
        "POST",
        "/admin/login/",
        headers,
        body=pieces_of(body),
    )

    # The login form, again: Django read the whole body, and found no password in it.
    assert response.status == 200
    assert b"Please enter the correct" not in response.body
    assert received == [len(body)]


@pytest.mark.django_db(transaction=True)  # the session, seen from Django's own thread
def test_an_upload_reaches_django_read_ahead(admin_client, settings):
    """Django gets an upload's body in fewer, larger pieces than the network brings, up to
    READ_AHEAD bytes each (about)."""
    token, wrong = "t" * 32, "u" * 32  # Django reads the whole form to find the token
    size = settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 3 * front.READ_AHEAD
    head = (
        f'--x\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n{wrong}\r\n'
        '--x\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n\r\n'
    ).encode()
    tail = b"\r\n--x--\r\n"
    body = head + b"x" * (size - len(head) - len(tail)) + tail
    session = admin_client.cookies[settings.SESSION_COOKIE_NAME].value
    csrf = settings.CSRF_COOKIE_NAME
    headers = [
        (b"cookie", f"{settings.SESSION_COOKIE_NAME}={session}; {csrf}={token}".encode()),
        (b"content-type", b"multipart/form-data; boundary=x"),
        (b"content-length", str(size).encode()),
    ]
    received = []

    response = asgi_request(
        front.Front(counting_receives(received)),
        "POST",
        "/admin/uploader/uploadedfile/add/",
        headers,
        body=pieces_of(body),
    )

    # Django's CSRF check read the whole form, and refused the token it found.
    assert response.status == 403
    assert sum(received) == size
    assert 1 < len([n for n in received if n]) < size / (64 * 1024)
    assert max(received) <= front.READ_AHEAD + 64 * 1024


def test_a_large_body_is_read_ahead_whole_and_in_order():
    pieces = [os.urandom(50_000) for _ in range(60)]
    messages = [{"type": "http.request", "body": piece, "more_body": True} for piece in pieces]
    messages[-1]["more_body"] = False
    received = []

    async def receive():
        await asyncio.sleep(0)  # as a network read would, let the reader run
        return messages.pop(0)

    async def read_all():
        read = front.ReadAhead(receive)
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


def test_the_read_ahead_stops_at_its_size_and_keeps_the_end():
    """Django takes its time: meanwhile READ_AHEAD bytes are read, and no more; the end of
    the body is the message without more_body (as ASGI has it: no body key means empty)."""
    size = front.READ_AHEAD
    pieces = [b"a" * (size - 1), b"b"] * 3
    messages = [{"type": "http.request", "body": piece, "more_body": True} for piece in pieces]
    messages.append({"type": "http.request"})
    received = []

    async def receive():
        return messages.pop(0)

    async def read_all():
        read = front.ReadAhead(receive)
        while not received or received[-1]["more_body"]:
            received.append(await asyncio.wait_for(read(), timeout=10))
            for _ in range(5):  # Django takes its time with each piece
                await asyncio.sleep(0)

    async_to_sync(read_all)()

    # READ_AHEAD bytes at a time, exactly, as ASGI's messages; the end an empty one.
    assert received == [
        {"type": "http.request", "body": b"a" * (size - 1) + b"b", "more_body": True},
        {"type": "http.request", "body": b"a" * (size - 1) + b"b", "more_body": True},
        {"type": "http.request", "body": b"a" * (size - 1) + b"b", "more_body": True},
        {"type": "http.request", "body": b"", "more_body": False},
    ]


def test_a_form_is_received_whole_before_django_reads_it():
    """The pieces as ASGI may send them (a message without `body` is an empty piece, one
    without `more_body` the last), then what the client sends next, as it comes."""
    messages = [
        {"type": "http.request", "body": b"name=", "more_body": True},
        {"type": "http.request", "more_body": True},
        {"type": "http.request", "body": b"value"},
        {"type": "http.disconnect"},
    ]

    async def receive():
        return messages.pop(0)

    async def read_twice():
        read = await front.read_whole(receive)
        return [await read(), await read()]

    assert async_to_sync(read_twice)() == [
        {"type": "http.request", "body": b"name=value"},
        {"type": "http.disconnect"},
    ]


def test_a_client_that_stops_sending_is_taken_as_gone(monkeypatch):
    monkeypatch.setattr(front, "BODY_TIMEOUT", 0.1)
    messages = [{"type": "http.request", "body": b"x" * 1000, "more_body": True}]

    async def receive():
        if messages:
            return messages.pop(0)
        await asyncio.sleep(10)

    async def read_two():
        read = front.ReadAhead(receive)
        return [await read(), await read()]

    assert async_to_sync(read_two)()[1] == {"type": "http.disconnect"}


def test_a_form_that_stops_arriving_is_answered_408_without_django(
    front_request, django_requests, monkeypatch
):
    monkeypatch.setattr(front, "BODY_TIMEOUT", 0.1)
    headers, body = login_form(1000)

    response = front_request("POST", "/admin/login/", headers, body=[body[:10], None])

    assert response.status == 408
    assert response.body == b"Request Timeout: the request's body stopped arriving for 0.1 s.\n"
    assert response.headers["connection"] == "close"
    assert django_requests == []


def test_a_disconnect_during_a_large_body_reaches_django():
    messages = [
        {"type": "http.request", "body": b"x" * 1000, "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive():
        return messages.pop(0)

    async def read_two():
        read = front.ReadAhead(receive)
        return [await read(), await read()]

    first, second = async_to_sync(read_two)()

    assert (first["body"], first["more_body"]) == (b"x" * 1000, True)
    assert second == {"type": "http.disconnect"}


@pytest.mark.slow
def test_the_dockerfile_cmd_serves_static_files_and_liveness(image_dir):
    """The end-to-end path: Uvicorn, as the image runs it, with the front before Django."""
    environ = image_environ(
        DOMAIN="localhost", DEFAULT_DATABASE_DSN=f"sqlite:///{image_dir.parent / 'front.sqlite3'}"
    )
    manifest = json.loads((image_dir / "staticfiles" / "staticfiles.json").read_text())
    hashed = f"/static/{manifest['paths'][CSS]}"

    with running_server(image_dir, environ, image_dir.parent / "front.log") as server:

        def get(path, headers):
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            try:
                connection.request("GET", path, headers={"Host": "localhost", **headers})
                response = connection.getresponse()
                return response.status, response.headers, response.read()
            finally:
                connection.close()

        liveness = get("/healthz", {"Host": "10.1.2.3"})
        static = get(hashed, {"X-Forwarded-Proto": "https", "Accept-Encoding": "br"})
        redirect = get(hashed, {})

    assert (liveness[0], liveness[2]) == (200, b"ok\n")
    status, headers, body = static
    assert status == 200
    assert headers["Content-Encoding"] == "br"
    expected = (image_dir / "staticfiles" / hashed.removeprefix("/static/")).read_bytes()
    assert brotli.decompress(body) == expected
    assert headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert (redirect[0], redirect[1]["Location"]) == (301, f"https://localhost{hashed}")


def add_a_header(headers, path, url):
    headers["X-Added"] = url


def test_whitenoise_settings_hold(front_request, own_static_root, settings):
    """WhiteNoise's documented settings, as the front answers with its middleware."""
    settings.WHITENOISE_INDEX_FILE = True
    settings.WHITENOISE_MAX_AGE = 123
    settings.WHITENOISE_ADD_HEADERS_FUNCTION = add_a_header
    (own_static_root / "docs").mkdir()
    (own_static_root / "docs" / "index.html").write_text("<p>docs</p>")

    index = front_request("GET", "/static/docs/", HTTPS)
    redirect = front_request("GET", "/static/docs", HTTPS)

    assert (index.status, index.body) == (200, b"<p>docs</p>")
    assert index.headers["cache-control"] == "max-age=123, public"
    assert index.headers["x-added"] == "/static/docs/"
    assert (redirect.status, redirect.headers["location"]) == (302, "docs/")


@pytest.mark.slow
def test_the_dockerfile_cmd_serves_with_whitenoise_settings(image_dir, tmp_path):
    """WhiteNoise's settings under the production CMD (settings of a module of the test's,
    which takes the project's and adds them)."""
    (tmp_path / "whitenoise_settings.py").write_text(
        "from myapp.settings import *\n"
        f"STATIC_ROOT = {str(tmp_path / 'static')!r}\n"
        "WHITENOISE_INDEX_FILE = True\n"
        "WHITENOISE_MAX_AGE = 123\n"
        "WHITENOISE_KEEP_ONLY_HASHED_FILES = True\n"
        "def WHITENOISE_ADD_HEADERS_FUNCTION(headers, path, url):\n"
        "    headers['X-Added'] = url\n"
    )
    environ = image_environ(
        DOMAIN="localhost",
        DEFAULT_DATABASE_DSN=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        DJANGO_SETTINGS_MODULE="whitenoise_settings",
        PYTHONPATH=str(tmp_path),
    )
    subprocess.run(
        [VENV_BIN / "python", "manage.py", "collectstatic", "--no-input", "--verbosity", "0"],
        cwd=image_dir,
        env=environ,
        check=True,
    )
    manifest = json.loads((tmp_path / "static" / "staticfiles.json").read_text())
    hashed = f"/static/{manifest['paths'][CSS]}"
    (tmp_path / "static" / "docs").mkdir()
    (tmp_path / "static" / "docs" / "index.html").write_text("<p>docs</p>")

    with running_server(image_dir, environ, tmp_path / "server.log") as server:

        def get(path):
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            try:
                connection.request(
                    "GET", path, headers={"Host": "localhost", "X-Forwarded-Proto": "https"}
                )
                response = connection.getresponse()
                return response.status, response.headers, response.read()
            finally:
                connection.close()

        file, unhashed, index = get(hashed), get(f"/static/{CSS}"), get("/static/docs/")

    assert file[0] == 200
    assert file[1]["X-Added"] == hashed
    assert file[1]["Cache-Control"].startswith("max-age=315360000")
    assert unhashed[0] == 404  # collectstatic kept only the hashed names
    assert (index[0], index[2]) == (200, b"<p>docs</p>")
    assert index[1]["Cache-Control"] == "max-age=123, public"
