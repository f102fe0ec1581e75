"""Uvicorn's HTTP protocol (httptools), with its connections bounded: the Dockerfile's CMD
names it with --http.

Uvicorn times out a connection only while it is kept alive after a response: one that never
sends a request, or stops halfway through its headers, stays open for ever, whether h11 or
httptools parses it, and --limit-concurrency only answers 503 to requests that did arrive. A
few thousand such connections use up the process's file descriptors: past that, uvloop accepts
and resets every new connection, /healthz included, and whatever opens a file or a socket
fails. No option of Uvicorn's bounds that, hence this subclass.
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

# The connections that have no request in progress, oldest first, each with its timer.
waiting = {}


class HttpToolsProtocol(UvicornProtocol):
    def connection_made(self, transport):
        super().connection_made(transport)
        if len(self.connections) > MAX_CONNECTIONS:
            # All busy: this one goes; else the one that has waited longest (dicts keep order).
            oldest = next(iter(waiting), self)
            oldest.drop()
        if not transport.is_closing():
            self.wait_for_headers()

    def on_headers_complete(self):
        self.stop_waiting()
        super().on_headers_complete()

    def on_response_complete(self):
        pipelined = bool(self.pipeline)  # a request that arrived meanwhile starts now
        super().on_response_complete()
        if not pipelined and not self.transport.is_closing():
            self.wait_for_headers()

    def connection_lost(self, exc):
        self.stop_waiting()
        super().connection_lost(exc)

    def wait_for_headers(self):
        self.stop_waiting()
        waiting[self] = self.loop.call_later(HEADER_TIMEOUT, self.drop)

    def stop_waiting(self):
        timer = waiting.pop(self, None)
        if timer is not None:
            timer.cancel()

    def drop(self):
        """Close a connection with no request in progress: no answer, nothing to log."""
        self.stop_waiting()
        self.transport.close()
