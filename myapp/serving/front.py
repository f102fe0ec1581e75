"""The ASGI front door: refuses request bodies too large for their URL from their headers alone,
answers /healthz and the collected static files before Django, and reads large request bodies
(uploads) ahead of Django.

/healthz and static files are the requests a server gets most and need nothing of Django's:
passing them through Django's stack costs most of their time (make benchmark measures it).
"""

import asyncio
from collections import deque

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.middleware.security import SecurityMiddleware
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from whitenoise.middleware import WhiteNoiseMiddleware

from myapp.serving.responses import read_chunks

# Static files up to this size are held in memory, up to MEMORY_BUDGET in all (the admin's
# files, with their compressed variants, come to 4.3 MB); the others are read from disk.
MEMORY_FILE_SIZE = 1024 * 1024
MEMORY_BUDGET = 64 * 1024 * 1024
# A request body is received ahead of Django's reading, up to this much: Django's thread then
# takes it in pieces this large, not one network read (64 KiB or less) at a time, each piece a
# round trip between its thread and the event loop.
READ_AHEAD = 1024 * 1024
# Only these request headers change WhiteNoise's answer; named as WSGI (and Django) name them.
STATIC_REQUEST_HEADERS = {
    b"accept-encoding": "HTTP_ACCEPT_ENCODING",
    b"if-none-match": "HTTP_IF_NONE_MATCH",
    b"if-modified-since": "HTTP_IF_MODIFIED_SINCE",
    b"range": "HTTP_RANGE",
}
HEALTHZ = (
    {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"text/plain"), (b"content-length", b"3")],
    },
    {"type": "http.response.body", "body": b"ok\n"},
)


class Front:
    """Wraps the Django application (ASGI); everything it does not answer goes there."""

    def __init__(self, application):
        self.application = application
        # Only the uploader's admin pages take a file: their bodies may hold one of
        # UPLOAD_MAX_SIZE plus the form's other fields, which Django caps at
        # DATA_UPLOAD_MAX_MEMORY_SIZE (the same cap is the whole body's anywhere else).
        self.upload_prefix = reverse("admin:uploader_uploadedfile_changelist")
        self.form_limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        self.upload_limit = settings.UPLOAD_MAX_SIZE + self.form_limit
        # WhiteNoise's own index of the collected files, with its headers: its answers
        # (compressed variants, caching, 304, Range, 405) stay exactly WhiteNoise's.
        self.whitenoise = WhiteNoiseMiddleware()
        self.security_headers = {secure: security_headers(secure) for secure in (True, False)}
        proxy_header = settings.SECURE_PROXY_SSL_HEADER
        self.proxy_header = proxy_header and (
            proxy_header[0].removeprefix("HTTP_").replace("_", "-").lower().encode("latin-1"),
            proxy_header[1],
        )
        self.files = {}  # a file's path -> (response headers by secure, content or None)
        held = 0
        for static_file in self.whitenoise.files.values():
            for _, path, headers in static_file.alternatives:
                size = int(dict(headers)["Content-Length"])
                content = None
                if size <= MEMORY_FILE_SIZE and held + size <= MEMORY_BUDGET:
                    with open(path, "rb") as file:
                        content = file.read()
                    held += size
                self.files[path] = (
                    {secure: self.encode(headers, secure) for secure in (True, False)},
                    content,
                )

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            refusal = self.refuse_body(scope)
            if refusal is not None:
                # Answered before any of the body is read, and the connection closed: Uvicorn
                # would otherwise read (and drop) the rest of the body to keep it alive.
                status, text = refusal
                await send(
                    {
                        "type": "http.response.start",
                        "status": status,
                        "headers": [
                            (b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(text)).encode()),
                            (b"connection", b"close"),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": text})
                return
            path = scope["path"]
            if path == "/healthz":
                # Liveness, as myapp.serving.health answers it: whatever the Host header or scheme.
                for message in HEALTHZ:
                    await send(message)
                return
            static_file = self.whitenoise.files.get(path)
            if static_file is not None:
                secure = self.is_secure(scope)
                # Plain HTTP that Django would redirect to HTTPS goes on to Django.
                if secure or not settings.SECURE_SSL_REDIRECT:
                    await self.serve(static_file, scope, secure, send)
                    return
            if has_large_body(scope):
                async with ReadAhead(receive) as receive_ahead:
                    await self.application(scope, receive_ahead, send)
                return
        await self.application(scope, receive, send)

    async def serve(self, static_file, scope, secure, send):
        request_headers = {}
        for name, value in scope["headers"]:
            if name in STATIC_REQUEST_HEADERS:
                request_headers[STATIC_REQUEST_HEADERS[name]] = value.decode("latin-1")
        method = scope["method"]
        # The common case from memory: a whole file, or its headers alone (HEAD).
        if (
            method in ("GET", "HEAD")
            and "HTTP_RANGE" not in request_headers
            and not static_file.is_not_modified(request_headers)
        ):
            path, _ = static_file.get_path_and_headers(request_headers)
            headers, content = self.files[path]
            if content is not None:
                await send(
                    {"type": "http.response.start", "status": 200, "headers": headers[secure]}
                )
                await send(
                    {"type": "http.response.body", "body": content if method == "GET" else b""}
                )
                return
        # Everything else (304, 405, Range, large files) as WhiteNoise answers it, from disk.
        response = static_file.get_response(method, request_headers)
        await send(
            {
                "type": "http.response.start",
                "status": int(response.status),
                "headers": self.encode(response.headers, secure),
            }
        )
        file = response.file
        try:
            async for chunk in read_chunks(file):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        finally:
            if file is not None:
                file.close()
        await send({"type": "http.response.body", "body": b""})

    def refuse_body(self, scope):
        """(status, text) when the request's headers show a body its URL does not take."""
        length = 0
        for name, value in scope["headers"]:
            if name == b"transfer-encoding":
                # Django reads a body by its Content-Length (WSGI): one without a length would
                # reach the views as empty, so it is refused instead of read.
                return 411, (
                    b"Length Required: send the request body with a Content-Length header "
                    b"(bodies without one, chunked, are not accepted).\n"
                )
            if name == b"content-length" and value.isdigit():
                length = int(value)
        if not length:
            return None
        if scope["method"] in ("GET", "HEAD"):
            return 413, f"Content Too Large: {scope['method']} requests take no body.\n".encode()
        if scope["path"].startswith(self.upload_prefix):
            if length <= self.upload_limit:
                return None
            text = (
                f"Content Too Large: files can be {filesizeformat(settings.UPLOAD_MAX_SIZE)} "
                f"({settings.UPLOAD_MAX_SIZE:,} bytes) at most; this request's body is "
                f"{length:,} bytes, over the "
                f"{self.upload_limit:,} that such a file and its form may take.\n"
            )
        else:
            if length <= self.form_limit:
                return None
            text = (
                f"Content Too Large: this URL takes a body of {self.form_limit:,} bytes at "
                f"most; this request's is {length:,} bytes.\n"
            )
        return 413, text.encode()

    def encode(self, headers, secure):
        """WhiteNoise's headers, plus those SecurityMiddleware adds, as ASGI wants them."""
        return [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in [*headers, *self.security_headers[secure]]
        ]

    def is_secure(self, scope):
        """Whether Django would take the request as HTTPS (HttpRequest.is_secure)."""
        if self.proxy_header:
            wanted, secure_value = self.proxy_header
            for name, value in scope["headers"]:
                if name == wanted:
                    return value.split(b",")[0].strip().decode("latin-1") == secure_value
        return scope.get("scheme") == "https"


def security_headers(secure):
    """The headers SecurityMiddleware adds to a response, over HTTPS or plain HTTP."""
    request = HttpRequest()
    request.is_secure = lambda: secure
    response = SecurityMiddleware(lambda request: None).process_response(request, HttpResponse())
    return [(name, value) for name, value in response.items() if name != "Content-Type"]


def has_large_body(scope):
    """Whether a request's body is worth reading ahead (uploads): larger than one piece."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return value.isdigit() and int(value) > READ_AHEAD
    return False


class ReadAhead:
    """An ASGI receive that reads the request body ahead, up to READ_AHEAD bytes, and hands
    over all that was read at each call."""

    def __init__(self, receive):
        self.receive = receive
        self.chunks = deque()
        self.size = 0
        self.last = None  # the message that ends the body: its last piece, or a disconnect
        self.arrived = asyncio.Event()
        self.taken = asyncio.Event()

    async def __aenter__(self):
        self.task = None
        return self

    async def __aexit__(self, *exc_info):
        if self.task is not None:
            self.task.cancel()

    async def pump(self):
        while True:
            while self.size >= READ_AHEAD:
                self.taken.clear()
                await self.taken.wait()
            message = await self.receive()
            if message["type"] == "http.request":
                self.chunks.append(message.get("body", b""))
                self.size += len(self.chunks[-1])
            self.arrived.set()
            if message["type"] != "http.request" or not message.get("more_body", False):
                self.last = message
                return

    async def __call__(self):
        # From Django's first read on: a request still queued for a thread holds no buffer.
        if self.task is None:
            self.task = asyncio.create_task(self.pump())
        while not self.chunks and self.last is None:
            self.arrived.clear()
            await self.arrived.wait()
        if not self.chunks:
            return self.last
        body = b"".join(self.chunks)
        self.chunks.clear()
        self.size = 0
        self.taken.set()
        more = self.last is None or self.last["type"] != "http.request"
        return {"type": "http.request", "body": body, "more_body": more}
