"""The loopback HTTP server the local emulators (sample API, dataset API, OAuth provider) run
on.

A werkzeug ``ThreadedWSGIServer`` that remembers its open connections, so that :meth:`stop`
also ends keep-alive connections and returns at once, optionally wrapping each connection in
TLS in its own handler thread; a request handler that never logs query strings (they can
hold keys or codes) nor a token in a path (HubSpot's token metadata); and
:class:`ServedEmulator`, the lifecycle the emulators share.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import ssl
import threading
import urllib.parse
from types import TracebackType
from typing import Any, ClassVar, Self
from wsgiref.types import WSGIApplication

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from tether_emulators.cloud_tasks_oidc import connectable_host

__all__ = ["QuietRequestHandler", "ServedEmulator", "StoppableWSGIServer", "serve_in_thread"]

log = logging.getLogger("tether_emulators.http")

_HANDSHAKE_TIMEOUT = 10.0
# A path segment that is a token: HubSpot's GET /oauth/v1/access-tokens/{token}.
_TOKEN_SEGMENT = re.compile(r"(/(?:access|refresh)-tokens/)[^/]+")


class QuietRequestHandler(WSGIRequestHandler):
    """Logs method, path and status at DEBUG, never the query string (it can hold keys) nor
    a token in the path."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = urllib.parse.urlsplit(getattr(self, "path", "")).path
        path = _TOKEN_SEGMENT.sub(r"\1[REDACTED]", path)
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


class ServedEmulator:
    """An emulator served by one :class:`StoppableWSGIServer`: :meth:`start` listens from a
    daemon thread, :meth:`stop` stops and keeps the emulator's state (``start()`` again serves
    the same), ``with`` starts it for the block; :attr:`port` and :attr:`url` say where.
    Subclasses give :meth:`_wsgi_app`, and may serve TLS (:meth:`_server_tls`) or clean up
    after a stop (:meth:`_after_stop`)."""

    _what: ClassVar[str]  # "the sample API", in errors
    _thread_name: ClassVar[str]

    def __init__(self) -> None:
        self._host = "127.0.0.1"
        self._port: int | None = None
        self._server: StoppableWSGIServer | None = None
        self._thread: threading.Thread | None = None
        # Set while stopping: handlers that sleep wait on it instead, so a stop is prompt.
        self._stopping = threading.Event()

    def _wsgi_app(self) -> WSGIApplication:
        raise NotImplementedError

    def _server_tls(self) -> ssl.SSLContext | None:
        """The TLS context to serve with; ``None``: plain HTTP."""
        return None

    def _after_stop(self) -> None:
        """What a stop also undoes (called by every :meth:`stop`)."""

    def _scheme(self) -> str:
        return "http"

    def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on ``host:port`` (0: a free port) from a daemon thread; the port."""
        if self._server is not None:
            raise RuntimeError(f"{self._what} is already started")
        server = StoppableWSGIServer(host, port, self._wsgi_app(), self._server_tls())
        self._host = host
        self._port = int(server.server_port)
        self._stopping.clear()
        self._server = server
        self._thread = serve_in_thread(server, self._thread_name)
        return self._port

    def stop(self) -> None:
        """Stop listening and close every connection (the emulator's state is kept)."""
        server, self._server = self._server, None
        if server is not None:
            self._stopping.set()
            server.stop()
            if self._thread is not None:
                self._thread.join(timeout=5)
                self._thread = None
        self._after_stop()

    def __enter__(self) -> Self:
        if self._server is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port listened on (after ``stop()``, the one it had)."""
        if self._port is None:
            raise RuntimeError(f"{self._what} was never started")
        return self._port

    @property
    def url(self) -> str:
        """``http(s)://host:port``, without a trailing slash."""
        return f"{self._scheme()}://{connectable_host(self._host)}:{self.port}"
