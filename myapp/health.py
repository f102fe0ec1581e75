"""Health checks for the platform's probes and Docker: /healthz (alive) and /readyz (ready)."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as CheckTimeout

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.core.files.storage import default_storage
from django.db import connection
from django.http import HttpResponse

# Both dependencies together must answer well within the platform's 20-second probe budget.
CHECK_TIMEOUT = 5.0


def check_database():
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        connection.close()  # this worker thread's own connection


def check_storage():
    default_storage.exists("readyz-probe")


CHECKS = {"database": check_database, "storage": check_storage}

# One thread per dependency, so a check that hangs is waited for, never started again.
_executor = ThreadPoolExecutor(max_workers=len(CHECKS), thread_name_prefix="readyz")
_running = {}
_starting = threading.Lock()  # probes may arrive at once, each in a thread of its own


def liveness():
    return HttpResponse("ok\n", content_type="text/plain")


def readiness():
    """Check every dependency at once, each within the deadline; 503 names those failing."""
    futures = {name: _start(name, check) for name, check in CHECKS.items()}
    deadline = time.monotonic() + CHECK_TIMEOUT
    failures = []
    for name, future in futures.items():
        try:
            future.result(timeout=max(0, deadline - time.monotonic()))
        except CheckTimeout:
            failures.append(f"{name}: no answer within {CHECK_TIMEOUT:g} s")
        except Exception as error:
            # The error's type only: its text may hold hosts, keys or URLs.
            failures.append(f"{name}: {type(error).__name__}")
    if failures:
        return HttpResponse("\n".join(failures) + "\n", content_type="text/plain", status=503)
    return HttpResponse("ready\n", content_type="text/plain")


def _start(name, check):
    with _starting:
        future = _running.get(name)
        if future is None or future.done():
            future = _running[name] = _executor.submit(check)
        return future


class HealthCheckMiddleware:
    """Answer /healthz and /readyz before anything else, whatever the Host header says.

    The platform and Docker probe the container directly, with host names that are not in
    ALLOWED_HOSTS and over plain HTTP, so host checks and HTTPS redirects must not apply.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self.__acall__(request)
        if request.path == "/healthz":
            return liveness()
        if request.path == "/readyz":
            return readiness()
        return self.get_response(request)

    async def __acall__(self, request):
        if request.path == "/healthz":
            return liveness()
        if request.path == "/readyz":
            return await sync_to_async(readiness, thread_sensitive=False)()
        return await self.get_response(request)
