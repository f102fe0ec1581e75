"""Health checks for the platform's probes and Docker: /healthz (alive) and /readyz (ready)."""

import logging
import os
import posixpath
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as CheckTimeout

from botocore.exceptions import ClientError
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import connection
from django.http import HttpResponse

from myapp.configuration.storages import describe_error

logger = logging.getLogger(__name__)

# Both dependencies together must answer well within the platform's 20-second probe budget.
CHECK_TIMEOUT = 5.0


def database_answers():
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        connection.close()  # this worker thread's own connection


def uploads_can_be_stored():
    """Prove, without storing anything, that uploads can be stored.

    A probe comes every few seconds from each instance: a file written and deleted each
    time would cost the bucket two billed writes per probe and leave the file behind
    whenever the app dies in between. So what is proven is what can be without a write.
    Not proven: a full disk, or a bucket policy that refuses writes or the ACL; an upload
    then fails with its error on the form and in the log, and nothing is half saved.
    """
    if isinstance(default_storage, FileSystemStorage):
        folder_is_writable(default_storage.location)
    else:
        bucket_takes_credentials(default_storage)


def folder_is_writable(location):
    """The folder exists or can be made, and this process may write in it."""
    os.makedirs(location, exist_ok=True)
    # The kernel's answer for this user: permission bits, ACLs and read-only mounts.
    if not os.access(location, os.W_OK | os.X_OK):
        raise PermissionError(location)


def bucket_takes_credentials(storage):
    """The bucket exists and takes the credentials: a GET of a name that is never stored
    (uploads are in folders of their own) answers NoSuchKey, or AccessDenied to credentials
    that may not read or list the bucket, which uploads do not need. A missing bucket, an
    unknown key or a wrong secret answer otherwise. (A HEAD would not tell a missing bucket
    from a missing file: its answer has no error code.)"""
    try:
        storage.connection.meta.client.get_object(
            Bucket=storage.bucket_name, Key=posixpath.join(storage.location, "readyz-probe")
        )["Body"].close()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in {"NoSuchKey", "AccessDenied"}:
            raise


CHECKS = {"database": database_answers, "storage": uploads_can_be_stored}

# One thread per dependency, so a check that hangs is waited for, never started again.
_executor = ThreadPoolExecutor(max_workers=len(CHECKS), thread_name_prefix="readyz")
_running = {}
_starting = threading.Lock()  # probes may arrive at once, each in a thread of its own
_failing = []  # what the last probe found failing, to log only what changes


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
            # The error's type (and S3's code) only: its text may hold hosts, keys or URLs.
            failures.append(f"{name}: {describe_error(error)}")
    with _starting:
        if failures != _failing:
            if failures:
                logger.error("Not ready: %s", "; ".join(failures))
            else:
                logger.warning("Ready again: the database and the storage answer.")
            _failing[:] = failures
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

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path == "/healthz":
            return liveness()
        if request.path == "/readyz":
            return readiness()
        return self.get_response(request)
