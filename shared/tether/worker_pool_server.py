"""The HTTP server of ``tether dev``: waitress, a fixed pool of ``workers`` threads.

werkzeug's development server answers every request with ``Connection: close`` (its
handler cannot drain a request body before reading the next request line), so each request
paid a TCP connect and accept, and ``tether dev`` served GETs at about half the rate of the
same function under functions-framework (gunicorn, keep-alive). waitress keeps connections
alive (HTTP/1.1), reads each request fully before handing it to a thread, and runs the
application on a fixed pool of ``workers`` threads started once: threads, and what they hold
(one SQLite connection each), stay bounded whatever the load. Connections wait on one event
loop, not on a worker, so an idle kept-alive connection holds no thread; one idle for
``idle_timeout`` seconds (whole seconds, at least one) is closed. Past waitress's connection
limit (100), new connections wait in the kernel's listen backlog.

This module keeps the small server surface ``tether dev`` and its tests use
(``serve_forever``, ``shutdown``, ``server_close``, ``server_port``).
"""

from __future__ import annotations

import logging
import math
import threading
from typing import Any
from wsgiref.types import WSGIApplication

from waitress import wasyncore
from waitress.server import create_server

__all__ = ["WorkerPoolWSGIServer"]

# waitress warns at every request that finds all workers busy ("Task queue depth is N"):
# under load that is the expected state of a bounded pool, not news.
logging.getLogger("waitress.queue").setLevel(logging.ERROR)


class WorkerPoolWSGIServer:
    """Serves ``app`` on ``host:port`` (0: any free port) from ``workers`` threads."""

    def __init__(
        self,
        host: str,
        port: int,
        app: WSGIApplication,
        *,
        workers: int = 16,
        idle_timeout: float = 5.0,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        idle_seconds = max(1, math.ceil(idle_timeout))
        self._map: dict[int, Any] = {}
        self._server: Any = create_server(
            app,
            map=self._map,
            host=host,
            port=port,
            threads=workers,
            # whole seconds (waitress's unit): idle connections are looked at that often
            channel_timeout=idle_seconds,
            cleanup_interval=idle_seconds,
            # Pass X-Forwarded-* through untouched, as werkzeug's server did: the functions
            # see the request as a deployed function behind a proxy would.
            clear_untrusted_proxy_headers=False,
            ident="tether-dev",
        )
        self._workers = workers
        self._stop = threading.Event()
        self._stopped = threading.Event()
        self._stopped.set()

    @property
    def workers(self) -> int:
        return self._workers

    @property
    def server_port(self) -> int:
        return int(self._server.effective_port)

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Serve until :meth:`shutdown` (or an exception such as ``KeyboardInterrupt``)."""
        self._stop.clear()
        self._stopped.clear()
        try:
            while not self._stop.is_set():
                wasyncore.loop(timeout=poll_interval, map=self._map, count=1)
        finally:
            self._stopped.set()

    def shutdown(self) -> None:
        """Stop :meth:`serve_forever` (called from another thread) and wait until it has."""
        self._stop.set()
        self._server.pull_trigger()
        self._stopped.wait()

    def server_close(self) -> None:
        """Close the listening socket and every connection; let each worker finish its
        request and stop."""
        self._stop.set()
        wasyncore.close_all(self._map)
        self._server.task_dispatcher.shutdown(timeout=1.0)
