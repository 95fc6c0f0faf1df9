"""The dev server's HTTP server: a fixed pool of threads serves every connection, however many
clients come at once, and an idle kept-alive connection does not hold a worker for ever."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from tether.worker_pool_server import WorkerPoolWSGIServer

StartResponse = Callable[[str, list[tuple[str, str]]], object]


class _Recorder:
    """A WSGI app that holds each request a little and records concurrency and threads."""

    def __init__(self, hold_seconds: float) -> None:
        self.hold = hold_seconds
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most = 0
        self.threads: set[int] = set()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        with self.lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
            self.threads.add(threading.get_ident())
        time.sleep(self.hold)
        with self.lock:
            self.in_flight -= 1
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]


@contextmanager
def _serve(app: _Recorder, **options: Any) -> Iterator[WorkerPoolWSGIServer]:
    server = WorkerPoolWSGIServer("127.0.0.1", 0, app, **options)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()


@pytest.fixture
def recorder() -> _Recorder:
    return _Recorder(hold_seconds=0.02)


def test_many_clients_at_once_are_all_served_by_the_pool_alone(recorder: _Recorder) -> None:
    with _serve(recorder, workers=4) as server:
        url = f"http://127.0.0.1:{server.server_port}/"

        def call(_: int) -> int:
            with httpx.Client() as client:  # a connection of its own per request
                return client.get(url).status_code

        with ThreadPoolExecutor(max_workers=40) as clients:
            statuses = list(clients.map(call, range(120)))
        assert statuses == [200] * 120
        # 40 clients at once, 4 requests served at once, all on the pool's 4 threads
        assert recorder.most == 4 and len(recorder.threads) == 4
        assert server.workers == 4


def test_a_kept_alive_connection_is_reused_then_closed_when_idle(recorder: _Recorder) -> None:
    with _serve(recorder, workers=1, idle_timeout=0.2) as server:
        url = f"http://127.0.0.1:{server.server_port}/"
        with httpx.Client() as idle:
            assert [idle.get(url).status_code for _ in range(3)] == [200] * 3
            # The only worker serves `idle`'s open connection until it has been idle 0.2 s;
            # then another client is served.
            started = time.monotonic()
            with httpx.Client() as other:
                assert other.get(url, timeout=5).status_code == 200
            assert time.monotonic() - started < 3
        assert len(recorder.threads) == 1


def test_workers_must_be_positive(recorder: _Recorder) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        WorkerPoolWSGIServer("127.0.0.1", 0, recorder, workers=0)


def test_one_client_connection_carries_many_requests() -> None:
    """HTTP/1.1 keep-alive: a client's requests share its connection (werkzeug's server closed
    every connection after one answer, so each request paid a new TCP connection)."""
    ports: list[str] = []

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        ports.append(environ["REMOTE_PORT"])
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]

    with _serve(app, workers=2) as server:  # type: ignore[arg-type]  # a plain WSGI app
        url = f"http://127.0.0.1:{server.server_port}/"
        with httpx.Client() as client:
            answers = [client.get(url) for _ in range(5)]
    assert [a.status_code for a in answers] == [200] * 5
    assert all("close" not in a.headers.get("connection", "") for a in answers)
    assert len(ports) == 5 and len(set(ports)) == 1, ports
