"""The ASGI front door: refuses request bodies too large for their view from their headers
alone, receives request bodies on the event loop (so that a slow sender costs a connection,
never one of Django's threads), and answers /healthz and the collected static files there.

/healthz and static files are the requests a server gets most and need nothing of Django's:
passing them through Django's stack costs most of their time (make benchmark measures it).
Static files are answered by the tutorial's own SecurityMiddleware and WhiteNoiseMiddleware,
called as Django calls middleware; their small, complete answers are kept in memory as an
HTTP cache keeps them.
"""

import asyncio
import io
from collections import deque
from itertools import islice
from urllib.parse import urlsplit

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpResponse
from django.middleware.security import SecurityMiddleware
from django.urls import Resolver404, resolve
from whitenoise.middleware import WhiteNoiseMiddleware

from myapp.serving.health import liveness, readiness

# Static answers up to this size are kept in memory, up to MEMORY_BUDGET in all (the admin's
# files, with their compressed variants, come to 4.3 MB); the others are read from disk.
MEMORY_FILE_SIZE = 1024 * 1024
MEMORY_BUDGET = 64 * 1024 * 1024
# A file read from disk goes out in pieces of this size: 64 pieces of Django's FileResponse.
CHUNKS_PER_READ = 64
# A client may pause this long while sending a request's body; then it is cut off.
BODY_TIMEOUT = 10
# A body up to this size (any form but an upload's) is received whole on the event loop before
# one of Django's threads takes it: a slow sender costs a connection, never a thread. A larger
# one (an upload, taken from signed-in users only: myapp/serving/large_bodies.py) is received
# ahead of Django's reading, up to this much: Django's thread then takes it in pieces this
# large, not one network read (64 KiB or less) at a time, each piece a round trip between its
# thread and the event loop.
READ_AHEAD = 1024 * 1024
LENGTH_REQUIRED = (
    "Length Required: send the request body with a Content-Length header (bodies without one, "
    "chunked, are not accepted)."
)
# Answers that depend on request headers other than those named by Vary: never kept.
# A body over its view's limit is drained (read and dropped) up to this size when the view
# can say why in its form (back_to_form); a larger one gets the plain 413, and the connection
# is closed.
DRAINED_AT_MOST = 1024**3
CONDITIONAL = {b"if-none-match", b"if-modified-since", b"if-match", b"if-range", b"range"}


class Front:
    """Wraps the Django application (ASGI); everything it does not answer goes there."""

    def __init__(self, application):
        self.application = application
        self.form_limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        # What comes after WhiteNoise answers: "not a static file".
        self.not_static = HttpResponse()
        self.static = SecurityMiddleware(WhiteNoiseMiddleware(lambda request: self.not_static))
        self.static_prefix = urlsplit(settings.STATIC_URL or "").path
        # With WhiteNoise's autorefresh (DEBUG), files may change: nothing is kept.
        self.keep = not getattr(settings, "WHITENOISE_AUTOREFRESH", settings.DEBUG)
        proxy_header = settings.SECURE_PROXY_SSL_HEADER
        self.proxy_header = proxy_header and header_name(proxy_header[0])
        self.kept = {}  # (method, path, scheme, proxy header) -> (Vary names, {values: answer})
        self.held = 0
        alive = liveness()
        self.healthz = answer_of(alive, alive.content)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.application(scope, receive, send)
            return
        headers = joined(scope["headers"])
        if b"transfer-encoding" in headers:
            # Django reads a body by its Content-Length (WSGI): one without a length would reach
            # the views as empty, so it is refused instead of read.
            await refuse(send, 411, LENGTH_REQUIRED)
            return
        length = headers.get(b"content-length", b"0")
        length = int(length) if length.isdigit() else 0
        streamed = None
        if length:
            refusal = self.refuse_body(scope, length)
            if refusal is not None:
                back = back_to_form(scope, length)
                if back is not None and await drained(receive):
                    await see_other(send, back)
                else:
                    await refuse(send, 413, refusal)
                return
            if length <= READ_AHEAD:
                receive = await read_whole(receive)
                if receive is None:
                    text = f"the request's body stopped arriving for {BODY_TIMEOUT} s."
                    await refuse(send, 408, f"Request Timeout: {text}")
                    return
            else:
                receive = streamed = ReadAhead(receive)
                send = streamed.closing(send)
        path = scope["path"]
        if path == "/healthz":
            await answer(send, self.healthz, scope["method"])
            return
        if path == "/readyz":
            # Beside Django's threads, and outside its request log: readiness logs each change.
            response = await sync_to_async(readiness, thread_sensitive=False)()
            await answer(send, answer_of(response, response.content), scope["method"])
            return
        if path.startswith(self.static_prefix) and await self.serve_static(scope, headers, send):
            return
        scope["headers"] = without_underscores(scope["headers"])
        try:
            await self.application(scope, receive, send)
        finally:
            if streamed is not None:
                streamed.stop()

    def refuse_body(self, scope, length):
        """Why the request's headers show a body its view does not take, or None."""
        if scope["method"] in ("GET", "HEAD"):
            return f"Content Too Large: {scope['method']} requests take no body."
        if self.form_limit is None or length <= self.form_limit:
            return None
        limit = body_limit(scope["path"], self.form_limit)
        if length <= limit:
            return None
        return (
            f"Content Too Large: this URL takes a body of {limit:,} bytes at most; "
            f"this request's is {length:,} bytes."
        )

    async def serve_static(self, scope, headers, send):
        """Answer as SecurityMiddleware and WhiteNoise would; False if not a static file."""
        method = scope["method"]
        key = (method, scope["path"], scope["scheme"], headers.get(self.proxy_header))
        keep = self.keep and CONDITIONAL.isdisjoint(headers)
        if keep and (kept := self.kept.get(key)):
            vary, answers = kept
            found = answers.get(tuple(map(headers.get, vary)))
            if found is not None:  # kept by method: a HEAD's body is empty already
                await send(found[0])
                await send(found[1])
                return True
        found = await sync_to_async(self.respond, thread_sensitive=False)(scope)
        if found is None:
            return False
        response, whole = found
        if whole is None:  # a large file, read from disk in pieces beside the event loop
            await send(start_of(response))
            content = iter(response.streaming_content)
            read = sync_to_async(
                lambda: b"".join(islice(content, CHUNKS_PER_READ)), thread_sensitive=False
            )
            try:
                while chunk := await read():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            finally:
                await sync_to_async(response.close, thread_sensitive=False)()
            await send({"type": "http.response.body", "body": b""})
            return True
        await answer(send, whole, method)
        size = len(whole[1]["body"])
        if keep and response.status_code == 200 and self.held + size <= MEMORY_BUDGET:
            vary = [header_name(name) for name in response.get("Vary", "").split(",") if name]
            self.kept.setdefault(key, (vary, {}))[1][tuple(map(headers.get, vary))] = whole
            self.held += size
        return True

    def respond(self, scope):
        """(the middleware's response, its answer read whole when small), or None."""
        try:
            # The request Django's own ASGI handler makes of the scope (header names with
            # underscores dropped), without a body.
            response = self.static(ASGIRequest(scope, io.BytesIO()))
        except DisallowedHost:
            return None  # Django answers it, as it answers every host it does not serve
        if response is self.not_static:
            return None
        if response.streaming and int(response.get("Content-Length", 0)) > MEMORY_FILE_SIZE:
            return response, None
        content = b"".join(response) if scope["method"] != "HEAD" else b""
        response.close()
        return response, answer_of(response, content)


def header_name(meta_name):
    """b"x-forwarded-proto" for HTTP_X_FORWARDED_PROTO or X-Forwarded-Proto."""
    return meta_name.strip().removeprefix("HTTP_").replace("_", "-").lower().encode("latin-1")


def joined(headers):
    """Request headers by name, repeated ones joined as WSGI (and Django) join them."""
    by_name = dict(headers)
    if len(by_name) < len(headers):
        by_name = {}
        for name, value in headers:
            by_name[name] = by_name[name] + b"," + value if name in by_name else value
    return by_name


def without_underscores(headers):
    """Dropped as gunicorn and nginx drop them: WSGI would join X_Forwarded_Proto and
    X-Forwarded-Proto into one value, so a client could prepend its own."""
    return [(name, value) for name, value in headers if b"_" not in name]


def view_at(path):
    try:
        return resolve(path).func
    except Resolver404:
        return None


def body_limit(path, default):
    """The request body limit of the view at path: its `request_body_limit`, or default."""
    return getattr(view_at(path), "request_body_limit", default)


def back_to_form(scope, length):
    """Where to send a browser whose form's body is over its view's limit, if the view says
    (its `too_large_url(path, query string, length)`) and the body is small enough to drain.

    A browser shows an answer only once it has sent the whole body: one given earlier, with the
    connection closed, shows as "connection reset", the file and the form lost. Drained, the
    body costs the server time on the event loop, never memory or a thread."""
    if scope["method"] != "POST" or length > DRAINED_AT_MOST:
        return None
    too_large_url = getattr(view_at(scope["path"]), "too_large_url", None)
    if too_large_url is None:
        return None
    return too_large_url(scope["path"], scope.get("query_string", b"").decode("latin-1"), length)


def start_of(response):
    return {
        "type": "http.response.start",
        "status": response.status_code,
        "headers": [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in response.items()
        ],
    }


def answer_of(response, content):
    """A complete answer as the two ASGI messages that send it."""
    if not response.streaming and "Content-Length" not in response:
        response["Content-Length"] = len(content)
    return (start_of(response), {"type": "http.response.body", "body": content})


async def answer(send, messages, method):
    start, body = messages
    await send(start)
    await send(body if method != "HEAD" else {"type": "http.response.body", "body": b""})


async def refuse(send, status, text):
    """Answer before the body is read, and close the connection: Uvicorn would otherwise read
    (and drop) the rest of the body to keep it alive."""
    response = HttpResponse(
        f"{text}\n", "text/plain; charset=utf-8", status, headers={"Connection": "close"}
    )
    await answer(send, answer_of(response, response.content), "GET")


async def drained(receive):
    """Read a request's body and drop it; False if the client stopped sending or went away."""
    while True:
        try:
            async with asyncio.timeout(BODY_TIMEOUT):
                message = await receive()
        except TimeoutError:
            return False
        if message["type"] != "http.request":
            return False
        if not message.get("more_body", False):
            return True


async def see_other(send, url):
    """Send the browser to url with a GET, once the body it sent was drained."""
    response = HttpResponse(status=303, headers={"Location": url})
    await answer(send, answer_of(response, b""), "GET")


async def read_whole(receive):
    """A receive that gives the whole body at once, read before Django's thread waits on it;
    None when the client stopped sending for BODY_TIMEOUT or went away."""
    pieces = []
    while True:
        try:
            async with asyncio.timeout(BODY_TIMEOUT):  # no task of its own, as wait_for makes
                message = await receive()
        except TimeoutError:
            return None
        if message["type"] != "http.request":
            return None
        pieces.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    messages = deque([{"type": "http.request", "body": b"".join(pieces)}])

    async def receive_whole():
        return messages.popleft() if messages else await receive()

    return receive_whole


class ReadAhead:
    """An ASGI receive that reads the request body ahead, up to READ_AHEAD bytes, and hands
    over all that was read at each call; a client that stops sending for BODY_TIMEOUT is taken
    as gone. Reading starts at Django's first read: a request answered before (an upload
    without a session) or queued for a thread holds no buffer."""

    def __init__(self, receive):
        self.receive = receive
        self.chunks = deque()
        self.size = 0
        self.last = None  # the message that ends the body: its last piece, or a disconnect
        self.arrived = asyncio.Event()
        self.taken = asyncio.Event()
        self.task = None

    def stop(self):
        if self.task is not None:
            self.task.cancel()

    def closing(self, send):
        """A send that closes the connection after an answer given before the whole body was
        read: Uvicorn would otherwise read the rest to keep the connection alive."""

        async def send_and_close(message):
            if message["type"] == "http.response.start" and not self.received():
                message["headers"] = [*message["headers"], (b"connection", b"close")]
            await send(message)

        return send_and_close

    def received(self):
        return self.last is not None and self.last["type"] == "http.request"

    async def pump(self):
        while True:
            while self.size >= READ_AHEAD:
                self.taken.clear()
                await self.taken.wait()
            try:
                async with asyncio.timeout(BODY_TIMEOUT):
                    message = await self.receive()
            except TimeoutError:
                message = {"type": "http.disconnect"}
            if message["type"] == "http.request":
                self.chunks.append(message.get("body", b""))
                self.size += len(self.chunks[-1])
            self.arrived.set()
            if message["type"] != "http.request" or not message.get("more_body", False):
                self.last = message
                return

    async def __call__(self):
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
        more = not self.received()
        return {"type": "http.request", "body": body, "more_body": more}
