"""The HTTP server of ``tether dev``: werkzeug's development server on a fixed pool of threads.

werkzeug's threaded server starts a thread per connection, without limit: a burst of clients
is a burst of threads, each with its own stack and its own store connection. Here ``workers``
threads, started once, serve every connection, so threads and what they hold (one SQLite
connection each) stay bounded whatever the load. The accept loop takes a connection only when
a worker is free to serve it (a semaphore), so at most ``workers`` connections are accepted
and unfinished at any time; more wait in the kernel's listen backlog.

Keep-alive (HTTP/1.1) is kept, as werkzeug's threaded server has it; a kept-alive connection
holds its worker, so one that stays idle for ``idle_timeout`` seconds is closed, and a
client that opens connections and leaves them open cannot hold every worker for long.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
from typing import Any
from wsgiref.types import WSGIApplication

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler

__all__ = ["WorkerPoolWSGIServer"]

_log = logging.getLogger(__name__)

_Connection = tuple[socket.socket, Any]


class _PooledRequestHandler(WSGIRequestHandler):
    """werkzeug's handler with keep-alive, and an idle timeout that is not an error."""

    protocol_version = "HTTP/1.1"

    def log_error(self, format: str, *args: Any) -> None:
        if format.startswith("Request timed out"):  # an idle keep-alive connection, closed
            _log.debug("closing an idle connection")
            return
        super().log_error(format, *args)


class WorkerPoolWSGIServer(BaseWSGIServer):
    """Serves ``app`` on ``host:port`` from ``workers`` threads."""

    multithread = True

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

        class RequestHandler(_PooledRequestHandler):
            timeout = idle_timeout

        super().__init__(host, port, app, RequestHandler)
        self._free = threading.BoundedSemaphore(workers)
        self._connections: queue.SimpleQueue[_Connection | None] = queue.SimpleQueue()
        self._workers = [
            threading.Thread(target=self._work, name=f"tether-dev-worker-{i}", daemon=True)
            for i in range(workers)
        ]
        for worker in self._workers:
            worker.start()

    @property
    def workers(self) -> int:
        return len(self._workers)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Hand the accepted connection to a free worker; waits for one to be free."""
        self._free.acquire()
        self._connections.put((request, client_address))

    def _work(self) -> None:
        while (item := self._connections.get()) is not None:
            request, client_address = item
            try:
                self.finish_request(request, client_address)
            except Exception:  # noqa: BLE001 - socketserver's contract: report, keep serving
                self.handle_error(request, client_address)
            finally:
                self.shutdown_request(request)
                self._free.release()

    def server_close(self) -> None:
        """Close the listening socket and let each worker finish its connection and stop."""
        super().server_close()
        for _ in self._workers:
            self._connections.put(None)
        for worker in self._workers:
            if worker is not threading.current_thread():
                worker.join(timeout=1.0)
