"""Resources bounded: request bodies refused from their headers (myapp/serving/front.py), and idle
connections closed before they use up the file descriptors (myapp/serving/protocol.py),
against the Dockerfile's CMD (slow); the same rules in this process, the protocol's with small
numbers."""

import asyncio
import contextlib
import http.client
import logging
import resource
import socket
import threading
import time

import pytest
import uvicorn
from django.urls import resolve

from myapp.serving import front, protocol
from tests.helpers import free_port, image_environ, running_server

UPLOAD_MAX_SIZE = 10**6
FORM_LIMIT = 2_621_440  # Django's DATA_UPLOAD_MAX_MEMORY_SIZE, which the project keeps
UPLOAD_URL = "/admin/uploader/uploadedfile/add/"
CHANGE_URL = "/admin/uploader/uploadedfile/1/change/"
GIB = 2**30


@pytest.fixture(scope="module")
def server(image_dir, tmp_path_factory):
    """The Dockerfile's CMD with 1,024 file descriptors and a temporary folder of its own;
    yields its port, its log and that folder."""
    folder = tmp_path_factory.mktemp("limits")
    (folder / "tmp").mkdir()
    environ = image_environ(
        DOMAIN="localhost",
        DEFAULT_DATABASE_DSN=f"sqlite:///{folder / 'db.sqlite3'}",
        UPLOAD_MAX_SIZE=str(UPLOAD_MAX_SIZE),
        TMPDIR=str(folder / "tmp"),
    )
    log = folder / "server.log"
    with running_server(image_dir, environ, log, file_limit=1024) as started:
        yield started.port, log, folder / "tmp", started.process.pid


def get_healthz(port):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/healthz", headers={"Host": "localhost"})
        return connection.getresponse().status
    finally:
        connection.close()


def send_headers(port, method, path, headers):
    """Send a request's headers and none of its body; return the answer's status, headers
    and body, as the server sent them before a byte of the body came."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.putrequest(method, path, skip_host=True)
        for name, value in {"Host": "localhost", "X-Forwarded-Proto": "https", **headers}.items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.headers, response.read().decode()
    finally:
        connection.close()


@pytest.mark.slow
def test_an_upload_over_the_limit_and_its_form_is_refused_before_it_is_read(server):
    """Past what the front drains to send the browser back to the form (below)."""
    port, _, temporary, _ = server
    length = front.DRAINED_AT_MOST + 1
    headers = {"Content-Length": str(length), "Content-Type": "multipart/form-data; boundary=x"}

    status, _, text = send_headers(port, "POST", UPLOAD_URL, headers)

    assert status == 413
    assert text == (
        f"Content Too Large: this URL takes a body of {UPLOAD_MAX_SIZE + FORM_LIMIT:,} bytes "
        f"at most; this request's is {length:,} bytes.\n"
    )
    assert list(temporary.iterdir()) == []


@pytest.mark.slow
def test_idle_connections_do_not_stop_the_server_from_answering(server):
    port, log, _, _ = server
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # Twice the server's descriptors, if this process may open as many; over them anyway.
    count = min(2000, hard - 100)
    if count <= 1024:
        pytest.skip(f"this process may open {hard} files, too few to outnumber the server's")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, count + 100), hard))
    with contextlib.ExitStack() as stack:
        idle = []
        for number in range(count):
            connection = stack.enter_context(socket.create_connection(("127.0.0.1", port)))
            if number % 2:
                connection.sendall(b"GET /hea")  # half a request line, never finished
            idle.append(connection)

        started = time.monotonic()
        assert get_healthz(port) == 200
        assert time.monotonic() - started < 5

        # The newest of them are still open: closed once they have waited HEADER_TIMEOUT.
        last = idle[-1]
        last.settimeout(protocol.HEADER_TIMEOUT + 5)
        with contextlib.suppress(ConnectionResetError):
            assert last.recv(1) == b""
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert "Traceback" not in log.read_text()


def timed_get(port, path, timeout):
    """GET path as a browser behind the platform's proxy would; its status, or None if no
    answer came within timeout seconds."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Host": "localhost", "X-Forwarded-Proto": "https"})
        return connection.getresponse().status
    except TimeoutError:
        return None
    finally:
        connection.close()


@pytest.mark.slow
@pytest.mark.parametrize("senders", [10, 500])
def test_slow_senders_hold_up_no_page(server, senders):
    """Clients that post the login form (with a CSRF cookie and token of their own making) at a
    byte every 2 s cost a connection each, never one of Django's threads."""
    port, log, _, _ = server
    token = "t" * 32
    body = f"csrfmiddlewaretoken={token}&username=a&password=b".encode()
    head = (
        "POST /admin/login/ HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-Proto: https\r\n"
        f"Cookie: __Secure-csrftoken={token}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    answers = []
    with contextlib.ExitStack() as stack:
        slow = []
        for _ in range(senders):
            connection = stack.enter_context(socket.create_connection(("127.0.0.1", port)))
            connection.sendall(head)
            slow.append(connection)
        for sent in range(3):  # 6 s
            started = time.monotonic()
            for connection in slow:
                connection.sendall(body[sent : sent + 1])
            answers.append((timed_get(port, "/admin/login/", 5), timed_get(port, "/healthz", 1)))
            time.sleep(max(0, 2 - (time.monotonic() - started)))

    assert answers == [(200, 200)] * 3
    assert "Traceback" not in log.read_text()


def memory_of(pid):
    """The resident memory of a process, in bytes."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.mark.slow
def test_a_pipelining_flood_and_a_huge_header_cost_little_memory(server):
    port, _, _, pid = server
    before = memory_of(pid)
    request = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"
    with contextlib.ExitStack() as stack:
        flood, header = (
            stack.enter_context(socket.create_connection(("127.0.0.1", port))) for _ in range(2)
        )
        for connection, data in ((flood, request * 10_000), (header, b"a" * 2**20)):
            connection.settimeout(2)
            with contextlib.suppress(OSError):  # no longer read (a timeout), or closed
                if connection is header:
                    connection.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Large: ")
                for _ in range(30 if connection is flood else 16):  # 300,000 requests; 16 MiB
                    connection.sendall(data)
        grown = memory_of(pid) - before
        assert get_healthz(port) == 200

    assert grown <= 64 * 2**20


async def answer_after_a_while(scope, receive, send):
    """An ASGI app whose requests stay in progress for a while (/slow) or not (anything else)."""
    if scope["type"] != "http":
        return
    if scope["path"] == "/slow":
        await asyncio.sleep(1)
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture
def small_server(monkeypatch):
    """Uvicorn in this process with the project's protocol, 3 connections and 0.5 s for the
    headers at most; yields its port."""
    monkeypatch.setattr(protocol, "MAX_CONNECTIONS", 3)
    monkeypatch.setattr(protocol, "HEADER_TIMEOUT", 0.5)
    port = free_port()
    config = uvicorn.Config(
        answer_after_a_while,
        host="127.0.0.1",
        port=port,
        http=protocol.HttpToolsProtocol,
        ws="none",  # as the Dockerfile's CMD has it
        lifespan="off",
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield port
    server.should_exit = True
    thread.join(timeout=10)


def is_closed(connection, timeout):
    connection.settimeout(timeout)
    try:
        return connection.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_the_connection_that_waited_longest_for_headers_makes_room(small_server):
    with contextlib.ExitStack() as stack:
        first, second, third = (
            stack.enter_context(socket.create_connection(("127.0.0.1", small_server)))
            for _ in range(3)
        )
        first.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")  # in progress: kept
        time.sleep(0.1)

        status = get_status(small_server, "/")

        assert status == 200
        assert is_closed(second, 0.2)
        assert not is_closed(third, 0.1)
        assert read_response(first).startswith(b"HTTP/1.1 200 OK")


def test_when_every_connection_is_busy_a_new_one_is_closed(small_server):
    with contextlib.ExitStack() as stack:
        busy = [
            stack.enter_context(socket.create_connection(("127.0.0.1", small_server)))
            for _ in range(3)
        ]
        for connection in busy:
            connection.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.2)
        extra = stack.enter_context(socket.create_connection(("127.0.0.1", small_server)))

        assert is_closed(extra, 0.5)
        for connection in busy:
            assert read_response(connection).startswith(b"HTTP/1.1 200 OK")


def test_headers_must_come_within_the_timeout_also_after_a_response(small_server):
    with contextlib.ExitStack() as stack:
        silent, partial, kept_alive = (
            stack.enter_context(socket.create_connection(("127.0.0.1", small_server)))
            for _ in range(3)
        )
        partial.sendall(b"GET / HTTP/1.1\r\nHo")
        kept_alive.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(kept_alive).startswith(b"HTTP/1.1 200 OK")
        kept_alive.sendall(b"GET / HTTP/1.1\r\n")  # the next request, never finished

        assert [is_closed(connection, 2) for connection in (silent, partial, kept_alive)] == [
            True
        ] * 3


def test_a_pipelined_request_has_all_the_time_it_needs(small_server):
    with socket.create_connection(("127.0.0.1", small_server)) as connection:
        # The second request arrives with the first: its headers are in, whatever it takes.
        request = b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n"
        connection.sendall(request % b"/" + request % b"/slow")

        assert read_response(connection).startswith(b"HTTP/1.1 200 OK")
        assert read_response(connection).startswith(b"HTTP/1.1 200 OK")


def test_headers_over_the_limit_are_refused(small_server):
    """Pins Uvicorn's parser callbacks and `headers` list, which the protocol counts."""
    large = b"GET / HTTP/1.1\r\nHost: x\r\nX-Large: " + b"a" * protocol.MAX_HEADER_BYTES
    many = b"GET / HTTP/1.1\r\n" + b"X-A: 1\r\n" * (protocol.MAX_HEADERS + 1)
    for request in (large + b"\r\n\r\n", many + b"\r\n"):
        with socket.create_connection(("127.0.0.1", small_server)) as connection:
            connection.sendall(request)
            answer = read_until_closed(connection)

        assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
        assert answer.endswith(
            b"\r\n\r\nRequest Header Fields Too Large: a request's headers may take "
            b"65,536 bytes and be 100 at most.\n"
        )


def test_headers_just_within_the_limit_are_taken(small_server):
    request = b"GET / HTTP/1.1\r\n" + b"X-A: 1\r\n" * (protocol.MAX_HEADERS - 1)
    with socket.create_connection(("127.0.0.1", small_server)) as connection:
        connection.sendall(request + b"X-Large: " + b"a" * 60_000 + b"\r\n\r\n")

        assert read_response(connection).startswith(b"HTTP/1.1 200 OK")


def test_a_header_that_never_ends_is_cut_off_at_the_limit(small_server):
    with socket.create_connection(("127.0.0.1", small_server)) as connection:
        connection.sendall(b"GET / HTTP/1.1\r\nX-Large: ")
        sent = 0
        with contextlib.suppress(OSError):  # the server closes while this one still sends
            while sent < 16 * 2**20:
                connection.sendall(b"a" * 8192)
                sent += 8192

        assert read_until_closed(connection).startswith(b"HTTP/1.1 431 ")
    assert sent < 16 * 2**20  # cut off before: what the sockets' buffers held, at most


def test_pipelined_requests_are_answered_in_order(small_server):
    with socket.create_connection(("127.0.0.1", small_server)) as connection:
        connection.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * protocol.MAX_PIPELINED)

        # All answered; then the connection, idle, is closed after HEADER_TIMEOUT.
        answers = read_until_closed(connection)

    assert answers.count(b"HTTP/1.1 200 OK\r\n") == answers.count(b"\r\n\r\nok")
    assert answers.count(b"\r\n\r\nok") == protocol.MAX_PIPELINED


def test_a_client_that_floods_pipelined_requests_is_cut_off(small_server):
    """Pins Uvicorn's `pipeline` queue and its reading after each answer (`flow`)."""
    with socket.create_connection(("127.0.0.1", small_server)) as connection:
        connection.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n" * 1000)

        answers = read_until_closed(connection).count(b"HTTP/1.1 200 OK")

    assert answers <= protocol.MAX_PIPELINED + 1


def test_websocket_is_not_offered_and_nothing_logged(small_server, caplog):
    """Pins the method Uvicorn calls to warn of each upgrade it does not offer."""
    uvicorn_logger = logging.getLogger("uvicorn")  # which does not pass records on
    uvicorn_logger.addHandler(caplog.handler)
    with contextlib.closing(socket.create_connection(("127.0.0.1", small_server))) as connection:
        connection.sendall(
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
            b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )

        answer = read_response(connection)
    uvicorn_logger.removeHandler(caplog.handler)

    assert answer.startswith(b"HTTP/1.1 200 OK")
    assert caplog.records == []


def read_until_closed(connection):
    connection.settimeout(10)
    received = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := connection.recv(65536):
            received += chunk
    return received


def read_response(connection):
    """The whole of an answer from answer_after_a_while."""
    connection.settimeout(5)
    response = b""
    while not response.endswith(b"\r\n\r\nok"):
        received = connection.recv(100)
        assert received, f"closed after {response!r}"
        response += received
    return response


def get_status(port, path):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


@pytest.fixture
def upload_limit():
    """What the upload form's views take (uploader/admin.py): a file and its form."""
    return resolve(UPLOAD_URL).func.request_body_limit


def test_the_upload_views_take_a_file_and_its_form(settings, upload_limit):
    assert upload_limit == settings.UPLOAD_MAX_SIZE + FORM_LIMIT
    assert resolve(CHANGE_URL).func.request_body_limit == upload_limit


@pytest.mark.parametrize("path", ["/healthz", "/admin/login/", "/static/admin/css/base.css"])
def test_a_large_body_is_refused_from_its_length_alone(front_request, django_requests, path):
    headers = [(b"content-length", str(GIB).encode())]

    response = front_request("POST", path, headers, body=[b"x" * 65536])

    assert response.status == 413
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    # Uvicorn would otherwise read (and drop) the rest of the body to keep the connection.
    assert response.headers["connection"] == "close"
    assert (
        response.body
        == (
            f"Content Too Large: this URL takes a body of {FORM_LIMIT:,} bytes at most; "
            f"this request's is {GIB:,} bytes.\n"
        ).encode()
    )
    assert (response.read, django_requests) == (0, [])


@pytest.mark.parametrize("path", [UPLOAD_URL, CHANGE_URL])
def test_an_upload_far_over_the_limit_of_its_view_is_refused_unread(
    front_request, django_requests, upload_limit, path
):
    length = front.DRAINED_AT_MOST + 1
    headers = [(b"content-length", str(length).encode())]

    response = front_request("POST", path, headers, body=[b"x" * 65536])

    assert response.status == 413
    assert response.body.decode() == (
        f"Content Too Large: this URL takes a body of {upload_limit:,} bytes at most; "
        f"this request's is {length:,} bytes.\n"
    )
    assert (response.read, django_requests) == (0, [])


@pytest.mark.parametrize("path", [UPLOAD_URL, CHANGE_URL])
def test_a_form_over_the_limit_of_its_view_is_drained_and_sent_back_to_it(
    front_request, django_requests, upload_limit, path
):
    """A browser shows no answer given before its body is sent (a reset connection): the body
    is read and dropped, and the browser sent back to the form, which says why."""
    length = upload_limit + 1
    piece = b"x" * 65536
    body = [piece] * (length // len(piece)) + [b"x" * (length % len(piece))]
    headers = [(b"content-length", str(length).encode())]

    response = front_request("POST", path, headers, body=body)

    assert response.status == 303
    assert response.headers["location"] == f"{path}?too_large={length}"
    assert (response.read, django_requests) == (length, [])


@pytest.mark.django_db
def test_an_upload_without_a_session_is_refused_unread(front_request, django_requests):
    """Even with a CSRF cookie and token of its own making, which would have Django's CSRF
    check read (and spool) the whole body before the admin redirects to its login page."""
    token = "t" * 32
    length = front.READ_AHEAD + 1
    headers = [
        (b"cookie", f"__Secure-csrftoken={token}; csrftoken={token}".encode()),
        (b"x-forwarded-proto", b"https"),
        (b"referer", b"https://testserver/admin/"),
        (b"content-type", b"multipart/form-data; boundary=x"),
        (b"content-length", str(length).encode()),
    ]

    response = front_request("POST", UPLOAD_URL, headers, body=[b"x" * 65536] * 3)

    assert response.status == 403
    assert (
        response.body
        == (
            f"Forbidden: sign in before sending a body of more than {front.READ_AHEAD:,} bytes.\n"
        ).encode()
    )
    assert response.headers["connection"] == "close"
    assert response.read == 0
    assert django_requests == [UPLOAD_URL]


def test_a_form_reaches_django(front_request, django_requests):
    length = front.READ_AHEAD  # the largest body taken without a session
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(length).encode())]

    response = front_request("POST", "/admin/login/", headers, body=[b"x" * length])

    # Django's answer: the CSRF check refuses a form without its token.
    assert (response.status, b"CSRF" in response.body) == (403, True)
    assert django_requests == ["/admin/login/"]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_get_and_head_take_no_body(front_request, method):
    response = front_request(method, "/healthz", [(b"content-length", b"1")], body=[b"x"])

    assert response.status == 413
    # Uvicorn sends no body in answer to HEAD.
    expected = "" if method == "HEAD" else f"Content Too Large: {method} requests take no body.\n"
    assert response.body.decode() == expected


def test_get_with_numeric_headers_and_no_body_is_answered(front_request):
    # What browsers send: numbers in headers other than Content-Length.
    headers = [(b"upgrade-insecure-requests", b"1"), (b"dnt", b"1")]

    response = front_request("GET", "/healthz", headers)

    assert (response.status, response.body) == (200, b"ok\n")


def test_a_body_without_a_length_is_refused_unread(front_request, django_requests):
    headers = [
        (b"transfer-encoding", b"chunked"),
        (b"content-type", b"multipart/form-data; boundary=x"),
    ]

    response = front_request("POST", UPLOAD_URL, headers, body=[b"--x\r\n"])

    assert response.status == 411
    assert response.body.decode() == (
        "Length Required: send the request body with a Content-Length header "
        "(bodies without one, chunked, are not accepted).\n"
    )
    assert (response.read, django_requests) == (0, [])


def test_header_names_with_underscores_are_dropped(front_request, django_requests, settings):
    """WSGI would join X_Forwarded_Proto with the proxy's X-Forwarded-Proto, so that a client
    could put its own "https" first."""
    settings.SECURE_SSL_REDIRECT = True
    headers = [(b"x_forwarded_proto", b"https"), (b"x-forwarded-proto", b"http")]

    response = front_request("GET", "/admin/login/", headers)

    assert (response.status, response.headers["location"]) == (
        301,
        "https://testserver/admin/login/",
    )
