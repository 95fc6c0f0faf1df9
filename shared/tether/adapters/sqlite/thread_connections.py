"""One SQLite connection per live thread, closed when its thread ends.

A ``sqlite3.Connection`` must not be used by two threads at once, and opening one per call
costs a file open, WAL set-up and pragmas; so each thread keeps its own. A server that runs
each request on a new thread would then open one per request, and a registry holding them for
:meth:`ThreadConnections.close` would keep every one open (two file descriptors and its page
cache each) long after its thread is gone. Here a thread's connection hangs off a slot that
only the thread's ``threading.local`` storage references: when the thread ends, Python drops
that storage, the slot dies, and its finalizer closes the connection and forgets it. The
number of open connections is the number of live threads that used the store.
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from collections.abc import Callable

from tether.domain.errors import BackendUnavailable

__all__ = ["ThreadConnections"]


class _Slot:
    """Holds a thread's connection; lives exactly as long as the thread's local storage."""

    __slots__ = ("__weakref__", "db")

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db


def _release(
    db: sqlite3.Connection, registry: set[sqlite3.Connection], lock: threading.RLock
) -> None:
    with lock:
        registry.discard(db)
    db.close()  # closing twice (after ThreadConnections.close) is a no-op


class ThreadConnections:
    """The calling thread's connection, opened by ``connect`` on the thread's first use."""

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._local = threading.local()
        # RLock: a finalizer may run in a thread that already holds it (a slot freed while
        # get() or close() runs).
        self._lock = threading.RLock()
        self._open: set[sqlite3.Connection] = set()
        self._closed = False

    def get(self) -> sqlite3.Connection:
        slot: _Slot | None = getattr(self._local, "slot", None)
        if slot is not None:
            return slot.db
        if self._closed:
            raise BackendUnavailable("the store is closed")
        db = self._connect()
        with self._lock:
            if self._closed:
                db.close()
                raise BackendUnavailable("the store is closed")
            self._open.add(db)
        slot = _Slot(db)
        weakref.finalize(slot, _release, db, self._open, self._lock)
        self._local.slot = slot
        return db

    @property
    def open_count(self) -> int:
        """How many connections are open: at most one per live thread that used them."""
        with self._lock:
            return len(self._open)

    def close(self) -> None:
        """Close every thread's connection; :meth:`get` refuses from now on."""
        with self._lock:
            self._closed = True
            connections = list(self._open)
            self._open.clear()
        for db in connections:
            db.close()
        self._local = threading.local()
