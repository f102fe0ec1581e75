"""Browser tests: the app started as its container starts it, driven by headless Chromium."""

import asyncio
import os
import queue
import re
import shutil
import ssl
import subprocess
import threading
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

from tests.chromium import NO_CHROMIUM, launch_chromium
from tests.e2e.app import fresh_database, running_app
from tests.helpers import BASE_DIR, bucket_on, image_environ

ARTIFACTS = BASE_DIR / "test-artifacts"


@dataclass
class Site:
    url: str
    log: Path
    # Sent by the browser as the platform's load balancer sends them.
    headers: dict
    # The app's environment, for manage.py commands beside it (reconcile_media).
    environ: dict


@pytest.fixture(scope="module")
def chromium():
    """Headless Chromium; skipped where none is installed, but never on CI."""
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        if browser is None:
            message = f"{NO_CHROMIUM}, for the browser tests"
            if os.environ.get("CI"):
                pytest.fail(f"{message} (CI must not skip them)")
            pytest.skip(message)
        yield browser
        browser.close()


@pytest.fixture(params=["production", "debug"], scope="module")
def site(request, image_dir, moto_server, tmp_path_factory):
    """The app as the Dockerfile's CMD runs it, on a fresh PostgreSQL database, with an admin.

    production: DEBUG off, media in a bucket of a real S3 server over HTTP, behind TLS.
    debug: DEBUG on, media in a local folder that Django serves.
    """
    folder = tmp_path_factory.mktemp(request.param)
    with fresh_database() as database_dsn:
        environ = image_environ(DOMAIN="localhost", DEFAULT_DATABASE_DSN=database_dsn)
        if request.param == "production":
            environ["DJANGO_DEBUG"] = "False"
            environ["DEFAULT_STORAGE_DSN"] = bucket_on(moto_server)[1]
        else:
            environ["DJANGO_DEBUG"] = "True"
            environ["DEFAULT_STORAGE_DSN"] = (folder / "media").as_uri() + "/?url=%2Fmedia%2F"
        with running_app(image_dir, environ, folder / "server.log") as port:
            if request.param == "production":
                with tls_terminator(port, folder) as tls_port:
                    yield Site(
                        f"https://localhost:{tls_port}",
                        folder / "server.log",
                        {"X-Forwarded-Proto": "https"},
                        environ,
                    )
            else:
                yield Site(f"http://localhost:{port}", folder / "server.log", {}, environ)


@pytest.fixture
def page(chromium, site):
    """A browser tab of its own, with no cookies, that reaches the site by relative URLs."""
    context = chromium.new_context(
        base_url=site.url, extra_http_headers=site.headers, ignore_https_errors=True
    )
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


@contextmanager
def tls_terminator(backend_port, folder):
    """HTTPS in front of the app, as the platform's load balancer; yields its port.

    The browser must see https://: Django checks a POST's Origin against the scheme that
    X-Forwarded-Proto claims, so plain http://localhost with that header fails CSRF.
    """
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"],
            *["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
            *["-keyout", key, "-out", cert],
        ],
        capture_output=True,
        check=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    # Each open connection's streams, to close them all when the tests are done.
    connections = {}

    async def relay(client_reader, client_writer):
        task = asyncio.current_task()
        connections[task] = [client_writer]
        try:
            backend_reader, backend_writer = await asyncio.open_connection(
                "127.0.0.1", backend_port
            )
            connections[task].append(backend_writer)
            await asyncio.gather(
                _pipe(client_reader, backend_writer),
                _pipe(backend_reader, client_writer),
                return_exceptions=True,
            )
        except OSError:
            pass
        finally:
            for writer in connections.pop(task):
                writer.close()
                with suppress(OSError):
                    await writer.wait_closed()

    async def serve():
        async with await asyncio.start_server(relay, "127.0.0.1", 0, ssl=context) as server:
            ready.put(server.sockets[0].getsockname()[1])
            await stopping.wait()
            for writers in connections.values():
                for writer in writers:
                    writer.transport.abort()
            await asyncio.gather(*connections, return_exceptions=True)

    # Its own event loop in its own thread: the tests' thread is busy driving the browser
    # (and Playwright's loop counts as running there).
    ready = queue.Queue()
    loop = asyncio.new_event_loop()
    stopping = asyncio.Event()
    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),))
    thread.start()
    try:
        yield ready.get(timeout=10)
    finally:
        loop.call_soon_threadsafe(stopping.set)
        thread.join(timeout=10)
        loop.close()


async def _pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        # One side is done: end the other too, as a load balancer does.
        writer.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failure, keep a screenshot and the server's log under test-artifacts/."""
    report = yield
    if report.failed and "site" in item.funcargs:
        folder = ARTIFACTS / re.sub(r"[^\w.-]+", "_", item.nodeid)
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(item.funcargs["site"].log, folder / "server.log")
        saved = ["server.log"]
        page = item.funcargs.get("page")
        # A browser that crashed takes no screenshot; the log is still worth having.
        with suppress(PlaywrightError):
            if page is not None:
                page.screenshot(path=folder / "screenshot.png", full_page=True)
                saved.append("screenshot.png")
        report.sections.append(("artefacts", f"{' and '.join(saved)} in {folder}/"))
    return report
