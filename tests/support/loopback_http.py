"""A threaded HTTP/1.1 server on 127.0.0.1 (TLS when given a context) for a test's own
request handler: quiet (no request log, no tracebacks of connections the client drops) and
stopped with :meth:`LoopbackHTTP.close`."""

from __future__ import annotations

import http.server
import ssl
import threading


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """HTTP/1.1 (keep-alive) without a log line per request."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass


class LoopbackHTTP:
    """Serves ``handler`` on a free port of 127.0.0.1 from a thread of its own."""

    def __init__(
        self, handler: type[http.server.BaseHTTPRequestHandler], tls: ssl.SSLContext | None
    ) -> None:
        self.httpd = _QuietServer(("127.0.0.1", 0), handler)
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
