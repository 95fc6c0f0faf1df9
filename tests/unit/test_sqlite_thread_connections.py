"""The embedded store keeps one connection per live thread: a thread per request (what a
threaded HTTP server does) must not leave a connection, and its file descriptors, per
request."""

from __future__ import annotations

import gc
import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from tether.adapters.sqlite import SqliteConnectionStore
from tether.adapters.sqlite.thread_connections import ThreadConnections
from tether.domain.errors import BackendUnavailable


def _open_fds() -> int:
    """Open descriptors, once unreachable objects (an earlier test's connection left to the
    collector) have closed theirs: a collection inside a test would change the count."""
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


def _in_threads(count: int, action: Callable[[], object]) -> None:
    """``action`` in ``count`` short-lived threads, one after another."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            action()
        except BaseException as exc:  # noqa: BLE001 - collected and raised below
            errors.append(exc)

    for _ in range(count):
        thread = threading.Thread(target=run)
        thread.start()
        thread.join()
    assert errors == []


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd")
def test_a_thread_per_call_leaves_no_file_descriptors_open(tmp_path: Path) -> None:
    store = SqliteConnectionStore(tmp_path / "store.sqlite3")
    try:
        _in_threads(5, lambda: store.get_connection("t1", "conn_x"))  # warm up
        before = _open_fds()
        _in_threads(300, lambda: store.get_connection("t1", "conn_x"))
        # each leaked connection holds the database and its WAL open: 600 here
        assert _open_fds() - before <= 4
    finally:
        store.close()


def test_a_thread_reuses_its_connection_and_ends_it_with_itself(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    connections = ThreadConnections(lambda: sqlite3.connect(path, check_same_thread=False))
    mine = connections.get()
    assert connections.get() is mine
    seen: list[sqlite3.Connection] = []
    started, finish = threading.Event(), threading.Event()

    def worker() -> None:
        seen.append(connections.get())
        started.set()
        finish.wait(5)

    thread = threading.Thread(target=worker)
    thread.start()
    started.wait(5)
    assert seen[0] is not mine and connections.open_count == 2
    finish.set()
    thread.join()
    assert connections.open_count == 1
    with pytest.raises(sqlite3.ProgrammingError):  # closed with its thread
        seen[0].execute("SELECT 1")
    mine.execute("SELECT 1")
    connections.close()


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd")
def test_close_closes_every_thread_connection_and_refuses_new_ones(tmp_path: Path) -> None:
    before = _open_fds()
    store = SqliteConnectionStore(tmp_path / "store.sqlite3")
    hold, release = threading.Event(), threading.Event()
    results: list[object] = []

    def worker() -> None:
        store.get_connection("t1", "conn_x")
        hold.set()
        release.wait(5)
        try:
            store.get_connection("t1", "conn_x")
        except BackendUnavailable as exc:
            results.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    hold.wait(5)
    store.close()
    assert _open_fds() == before  # the live thread's connection too
    release.set()
    thread.join()
    assert len(results) == 1 and results[0].message == "the store is closed"
    with pytest.raises(BackendUnavailable):
        store.get_connection("t1", "conn_x")
