"""Uvicorn's HTTP protocol (httptools), with the bounds Uvicorn lacks: the Dockerfile's CMD
names it with --http. It relies on Uvicorn's internals (its parser callbacks, `connections`,
`pipeline`, `flow`), pinned by tests/test_limits.py; each bound is a candidate for Uvicorn
itself, where it would belong.

Uvicorn times out a connection only while it is kept alive after a response: one that never
sends a request, or stops halfway through its headers, stays open for ever, whether h11 or
httptools parses it, and --limit-concurrency only answers 503 to requests that did arrive. A
few thousand such connections use up the process's file descriptors: past that, uvloop accepts
and resets every new connection, /healthz included, and whatever opens a file or a socket
fails. No option of Uvicorn's bounds that, hence this subclass.

Nor does Uvicorn bound a request's headers (h11's --h11-max-incomplete-event-size does, but
h11 parses in Python, slower), or the pipelined requests it queues on one connection: it reads
on after each answer, so a client that sends without reading grows the queue without end.
"""

import resource

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as UvicornProtocol

# The time a client has to send a request's headers, from its connection or from the end of
# the previous response (keep-alive; Uvicorn closes an idle one after --timeout-keep-alive).
HEADER_TIMEOUT = 10
# Open connections at most, leaving descriptors for what requests open (database, storage,
# temporary files): past it, the connection that has waited longest for headers is closed.
FILES_KEPT = 128
MAX_CONNECTIONS = min(1000, resource.getrlimit(resource.RLIMIT_NOFILE)[0] - FILES_KEPT)

# A request's line and headers, in bytes and in number: past either, 431 and the connection
# closed (gunicorn and nginx have limits of the same order).
MAX_HEADER_BYTES = 64 * 1024
MAX_HEADERS = 100
# Requests received on one connection while an earlier one is answered: past that, the client
# is sending without reading the answers, and its connection is closed.
MAX_PIPELINED = 32
TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\nconnection: close\r\ncontent-length: %d\r\n\r\n"
)

# The connections that have no request in progress, oldest first, each with the loop time it
# started waiting: a dict's order. Each connection has at most one timer, armed when it starts
# waiting and re-armed when it fires while the connection still waits: a timer armed and
# cancelled for each request would cost more than the rest of this module.
waiting = {}


class HttpToolsProtocol(UvicornProtocol):
    def connection_made(self, transport):
        super().connection_made(transport)
        self.refused = False
        self.in_headers, self.header_bytes = True, 0
        self.timer = None
        if len(self.connections) > MAX_CONNECTIONS:
            # All busy: this one goes; else the one that has waited longest.
            next(iter(waiting), self).drop()
        if not transport.is_closing():
            self.wait_for_headers()

    def data_received(self, data):
        if self.refused:
            return
        if self.in_headers:
            self.header_bytes += len(data)
        super().data_received(data)
        if self.in_headers and self.header_bytes > MAX_HEADER_BYTES and not self.refused:
            self.refuse_headers()

    def on_headers_complete(self):
        waiting.pop(self, None)
        self.in_headers = False
        # Exactly, now that they are in (the network's bytes may have held some of the body).
        size = len(self.url)
        for name, value in self.headers:  # a loop: half the time of sum() over a generator
            size += len(name) + len(value)
        if size > MAX_HEADER_BYTES or len(self.headers) > MAX_HEADERS:
            self.refuse_headers()
            return
        if len(self.pipeline) >= MAX_PIPELINED:
            self.refused = True
            self.transport.close()  # the answers so far are sent first
            return
        super().on_headers_complete()

    def on_body(self, body):
        if not self.refused:
            super().on_body(body)

    def on_message_complete(self):
        self.in_headers, self.header_bytes = True, 0
        if not self.refused:
            super().on_message_complete()

    def on_response_complete(self):
        pipelined = bool(self.pipeline)  # a request that arrived meanwhile starts now
        super().on_response_complete()
        if self.transport.is_closing():
            return
        if self.pipeline:
            # Uvicorn reads on after each answer: not while requests are still queued.
            self.flow.pause_reading()
        if not pipelined:
            self.wait_for_headers()

    def _unsupported_upgrade_warning(self):
        """WebSocket is not offered (--ws none): the request is answered as plain HTTP,
        without Uvicorn's two warnings for each."""

    def refuse_headers(self):
        body = (
            f"Request Header Fields Too Large: a request's headers may take {MAX_HEADER_BYTES:,} "
            f"bytes and be {MAX_HEADERS} at most.\n"
        ).encode()
        self.refused = True
        self.transport.write(TOO_LARGE % len(body) + body)
        self.transport.close()

    def connection_lost(self, exc):
        waiting.pop(self, None)
        if self.timer is not None:
            self.timer.cancel()
        super().connection_lost(exc)

    def wait_for_headers(self):
        waiting[self] = self.loop.time()
        if self.timer is None:
            self.timer = self.loop.call_later(HEADER_TIMEOUT, self.check_headers)

    def check_headers(self):
        self.timer = None
        since = waiting.get(self)
        if since is None:
            return  # a request in progress: armed again when it is answered
        left = since + HEADER_TIMEOUT - self.loop.time()
        if left > 0:
            self.timer = self.loop.call_later(left, self.check_headers)
        else:
            self.drop()

    def drop(self):
        """Close a connection with no request in progress: no answer, nothing to log."""
        waiting.pop(self, None)
        self.transport.close()
