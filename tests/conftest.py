import contextlib
import os
import runpy
import secrets
import shutil
import socket
import subprocess
import threading
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import pytest
from a2wsgi import WSGIMiddleware
from django.core.management import call_command
from django.core.signals import request_started
from django.core.wsgi import get_wsgi_application
from django.test import override_settings
from moto.server import ThreadedMotoServer

from myapp.configuration.storages import media_location
from myapp.serving import health
from myapp.serving.front import Front
from tests.helpers import (
    BASE_DIR,
    VENV_BIN,
    asgi_request,
    bucket_on,
    dockerfile_instructions,
    free_port,
    reload_urls,
)

# Every variable the settings read, so that none of the developer's reaches load_settings.
SETTINGS_VARIABLES = [
    "DEFAULT_DATABASE_DSN",
    "DATABASE_URL",
    "DEFAULT_STORAGE_DSN",
    "DJANGO_DEBUG",
    "DJANGO_LOG_LEVEL",
    "SECRET_KEY",
    "DOMAIN",
    "DOMAIN_ALIASES",
    "DOMAIN_REDIRECTS",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "UPLOAD_MAX_SIZE",
]


@pytest.fixture
def load_settings(monkeypatch):
    """Build the settings module afresh from the given environment, as a process would, with
    a production SECRET_KEY unless one is given (None leaves a variable unset)."""

    def load(**environ):
        for name in SETTINGS_VARIABLES:
            monkeypatch.delenv(name, raising=False)
        environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
        for name, value in environ.items():
            if value is not None:
                monkeypatch.setenv(name, value)
        return runpy.run_path(str(BASE_DIR / "myapp" / "settings.py"))

    return load


@pytest.fixture
def use_storage(settings):
    """Point media storage at a DSN for one test, as DEFAULT_STORAGE_DSN would."""

    def use(dsn):
        settings.DEFAULT_STORAGE_DSN = dsn
        settings.MEDIA_ROOT, settings.MEDIA_URL = media_location(dsn)
        # A changed STORAGES setting makes Django build its storages anew, from the new DSN.
        settings.STORAGES = {**settings.STORAGES}

    return use


@pytest.fixture(autouse=True)
def media_root(use_storage, tmp_path):
    """Keep every test's uploads in a folder of its own, never in the project's data/."""
    media_root = tmp_path / "media"
    use_storage(media_root.as_uri() + "/?url=%2Fmedia%2F")
    return media_root


@pytest.fixture(autouse=True)
def fresh_readiness_checks(monkeypatch):
    """Each test's /readyz starts checks of its own, and logs what changed since its own last
    probe. A check is shared by the probes of a process until it ends (myapp/serving/health.py):
    one an earlier test left hanging on a server that never answers would answer, seconds
    later, for this test's database and storage."""
    executor = ThreadPoolExecutor(max_workers=len(health.CHECKS), thread_name_prefix="readyz")
    monkeypatch.setattr(health, "_executor", executor)
    monkeypatch.setattr(health, "_running", {})
    monkeypatch.setattr(health, "_failing", [])
    yield
    executor.shutdown(wait=False, cancel_futures=True)


@pytest.fixture(scope="session")
def static_root(tmp_path_factory):
    """Static files collected once, as the Docker build does, for every test to serve."""
    static_root = tmp_path_factory.mktemp("static")
    with override_settings(STATIC_ROOT=static_root):
        call_command("collectstatic", interactive=False, verbosity=0)
    return static_root


# A test that hangs fails after pyproject.toml's `timeout` (pytest-timeout) instead of holding
# the run; tests that start servers (marked slow or browser) get this long. A test's own
# @pytest.mark.timeout wins.
SLOW_TEST_TIMEOUT = 600


def pytest_collection_modifyitems(items):
    for item in items:
        slow = item.get_closest_marker("slow") or item.get_closest_marker("browser")
        if slow and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(SLOW_TEST_TIMEOUT))


@pytest.fixture(autouse=True)
def quick_password_hashing(settings):
    """Hash the passwords of the tests' accounts (pytest-django's admin_user, for one) in
    microseconds rather than production's third of a second, as Django advises for tests."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def collected_static_files(settings, static_root):
    """Render pages with the production static storage, on the collected files."""
    settings.STATIC_ROOT = static_root


@pytest.fixture
def django_requests():
    """The paths of the requests that reached Django, in order."""
    paths = []

    def record(environ, **kwargs):
        paths.append(environ["PATH_INFO"])

    request_started.connect(record)
    yield paths
    request_started.disconnect(record)


@pytest.fixture
def front_request(settings):
    """Make a request of the ASGI application as myapp/asgi.py builds it (the front over
    Django), without its start checks; takes asgi_request's arguments, returns its answer.
    The application is built at the first request: change settings before it."""
    built = []

    def request(*arguments, **keywords):
        if not built:
            built.append(Front(WSGIMiddleware(get_wsgi_application())))
        return asgi_request(built[0], *arguments, **keywords)

    return request


@pytest.fixture
def debug(settings):
    """Run a test in DEBUG, with the URLs that only DEBUG has."""
    settings.DEBUG = True
    reload_urls()
    yield
    settings.DEBUG = False
    reload_urls()


@pytest.fixture(autouse=True)
def no_aws_credentials_from_outside(monkeypatch):
    """Only DSNs give credentials: a developer's own AWS variables must not leak into tests."""
    for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"]:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def moto_server():
    """A real S3 server over HTTP (moto's server mode) on 127.0.0.1; yields its endpoint URL."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3(moto_server, use_storage):
    """A bucket on the S3 server that the storage points at; yields (bucket, its DSN)."""
    bucket, dsn = bucket_on(moto_server)
    use_storage(dsn)
    return bucket, dsn


@pytest.fixture
def unanswering_server():
    """A TCP server on 127.0.0.1 that accepts connections and never answers (a hung service)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        accepted = []
        stop = threading.Event()

        def accept():
            server.settimeout(0.1)
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    accepted.append(server.accept()[0])

        thread = threading.Thread(target=accept)
        thread.start()
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()


@pytest.fixture(scope="session")
def image_dir(tmp_path_factory):
    """The project as the Dockerfile builds it: copied, then its RUN collectstatic run with no
    variable set and no service reachable."""
    image_dir = tmp_path_factory.mktemp("image") / "app"
    shutil.copytree(
        BASE_DIR,
        image_dir,
        ignore=shutil.ignore_patterns(
            ".git", ".venv*", ".coverage", "data", "staticfiles", "test-artifacts", "tests"
        ),
    )
    (build_command,) = [run for run in dockerfile_instructions("RUN") if "collectstatic" in run]
    result = subprocess.run(
        build_command.replace("python ", f"{VENV_BIN / 'python'} "),
        shell=True,
        cwd=image_dir,
        env={"PATH": os.defpath},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return image_dir


class AnswerLosingProxy:
    """A TCP relay on 127.0.0.1 to a server; while `losing` is set, each request reaches the
    server but its answer is dropped and the connection cut, as a network that fails on the
    way back does: the server did the work, the client never hears of it."""

    def __init__(self, target):
        self.target = target
        self.losing = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.clients, self.sockets = set(), []
        self.lock, self.closed = threading.Lock(), False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        with contextlib.suppress(OSError):  # the listener is shut: stop
            while True:
                client, _ = self.listener.accept()
                server = socket.create_connection(self.target)
                with self.lock:
                    self.sockets += [client, server]
                    if self.closed:  # accepted as close() ran: down means down
                        self._cut()
                        return
                self.clients.add(client)
                threading.Thread(target=self._relay, args=(client, server), daemon=True).start()
                threading.Thread(target=self._relay, args=(server, client), daemon=True).start()

    def _relay(self, source, destination):
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if destination in self.clients and self.losing.is_set():
                    # The interim "100 Continue" that lets an upload's body go gets through;
                    # the answer does not, even when one read holds both.
                    if not data.startswith(b"HTTP/1.1 100 "):
                        break
                    interim, end, answer = data.partition(b"\r\n\r\n")
                    destination.sendall(interim + end)
                    if answer:
                        break
                    continue
                destination.sendall(data)
        for end in (source, destination):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def close(self):
        """Refuse new connections and cut the open ones, as a service that goes down does."""
        with self.lock:
            self.closed = True
            # Shut before closing: on Linux, closing a socket another thread is blocked on
            # (accept, recv) neither wakes that thread nor tells the peer; the relay would go
            # on, and a client mid-request would wait for its read timeout.
            self.sockets.append(self.listener)
            self._cut()

    def _cut(self):
        for end in self.sockets:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()


@pytest.fixture
def answer_losing_proxy(moto_server):
    """An AnswerLosingProxy in front of the S3 server; bucket_on(proxy.endpoint) goes through it."""
    host, port = urllib.parse.urlsplit(moto_server).netloc.split(":")
    proxy = AnswerLosingProxy((host, int(port)))
    yield proxy
    proxy.close()
