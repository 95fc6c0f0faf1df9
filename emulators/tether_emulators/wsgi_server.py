"""The loopback HTTP server the local emulators (sample API, OAuth provider) run on.

A werkzeug ``ThreadedWSGIServer`` that remembers its open connections, so that :meth:`stop`
also ends keep-alive connections and returns at once, optionally wrapping each connection in
TLS in its own handler thread; and a request handler that never logs query strings (they can
hold keys or codes).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
import urllib.parse
from typing import Any
from wsgiref.types import WSGIApplication

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from tether_emulators.cloud_tasks_oidc import connectable_host

__all__ = ["QuietRequestHandler", "StoppableWSGIServer", "serve_in_thread"]

log = logging.getLogger("tether_emulators.http")

_HANDSHAKE_TIMEOUT = 10.0


class QuietRequestHandler(WSGIRequestHandler):
    """Logs method, path and status at DEBUG, never the query string (it can hold keys)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = urllib.parse.urlsplit(getattr(self, "path", "")).path
        log.debug("%s %s %s", getattr(self, "command", "-"), path, code)

    def log_message(self, format: str, *args: Any) -> None:
        """Werkzeug's own access lines would carry the query string: dropped."""

    def log(self, type: str, message: str, *args: Any) -> None:
        log.debug("%s", type)


class StoppableWSGIServer(ThreadedWSGIServer):
    """A threaded WSGI server that records its open connections, so that :meth:`stop` ends
    keep-alive connections too and returns at once. With ``tls`` every connection is wrapped
    in its own handler thread (a client that never finishes its handshake holds up nobody)."""

    def __init__(
        self, host: str, port: int, app: WSGIApplication, tls: ssl.SSLContext | None = None
    ) -> None:
        super().__init__(host, port, app, QuietRequestHandler)
        self._tls = tls
        # What werkzeug reads to answer wsgi.url_scheme "https".
        self.ssl_context = tls
        self._connections_lock = threading.Lock()
        self._connections: set[socket.socket] = set()

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        self._track(connection)
        return connection, address

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self._tls is None:
            super().finish_request(request, client_address)
            return
        try:
            request.settimeout(_HANDSHAKE_TIMEOUT)
            wrapped = self._tls.wrap_socket(request, server_side=True)
        except (OSError, ValueError):
            # The client refused the certificate, or was the stop() wake-up call.
            return
        self._track(wrapped)
        try:
            wrapped.settimeout(None)
            super().finish_request(wrapped, client_address)
        finally:
            self._untrack(wrapped)
            with contextlib.suppress(OSError):
                wrapped.close()

    def shutdown_request(self, request: Any) -> None:
        self._untrack(request)
        super().shutdown_request(request)

    def _track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def _untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def stop(self) -> None:
        """Stop serving, close the listening socket and every open connection."""
        stopper = threading.Thread(target=self.shutdown, name="wsgi-server-stop", daemon=True)
        stopper.start()
        # serve_forever notices the request between two select() calls: a connection attempt
        # wakes it up instead of waiting for the poll interval to pass.
        host = connectable_host(str(self.server_address[0])).strip("[]")
        while stopper.is_alive():
            with (
                contextlib.suppress(OSError),
                socket.create_connection((host, self.server_port), timeout=0.2),
            ):
                pass
            stopper.join(0.005)
        self.server_close()
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


def serve_in_thread(server: StoppableWSGIServer, name: str) -> threading.Thread:
    """Run ``server`` from a daemon thread; returns the started thread."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.5}, name=name, daemon=True
    )
    thread.start()
    return thread
