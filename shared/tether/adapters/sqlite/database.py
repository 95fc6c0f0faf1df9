"""The one SQLite file every embedded record adapter shares, and its transactions.

One file, WAL journal (readers never block the writer), one connection per live thread (closed
when its thread ends), explicit ``BEGIN IMMEDIATE`` for every read-modify-write so
compare-and-set, single-use states, dedupe, leases and rate buckets are atomic across threads
*and* processes sharing the file. The repositories of this package each take one
:class:`SqliteDatabase`; writes of two of them that must land together (a change and its
audit entry) run in one :meth:`SqliteDatabase.write` transaction.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from tether.adapters.record_decoding import decode_many
from tether.adapters.sqlite.migrations import enable_wal
from tether.adapters.sqlite.schema import migrate
from tether.adapters.sqlite.thread_connections import ThreadConnections
from tether.adapters.write_count import WriteCount
from tether.domain.errors import BackendUnavailable, InvalidRequest
from tether.domain.models import Page

__all__ = ["SqliteDatabase"]

M = TypeVar("M", bound=BaseModel)


class SqliteDatabase:
    """The store file at ``path`` (created, and migrated to the current schema, on open)."""

    def __init__(self, path: Path | str, *, busy_timeout_ms: int = 10_000) -> None:
        self._path = str(path)
        if self._path != ":memory:":
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        self._busy_timeout_ms = busy_timeout_ms
        self._connections = ThreadConnections(self._connect)
        # Writers of this process take turns here first. SQLite's busy handler makes a
        # connection that finds the file locked sleep (1 ms, then 2, 5, 10…) before it looks
        # again; a Python lock hands over as soon as the writer before it is done. Another
        # process on the file still meets the busy handler.
        self._writer = threading.RLock()
        # Connection writes committed through this file object (see WriteCount).
        self.connection_writes = WriteCount()
        try:
            migrate(self.db())
        except BaseException:
            self.close()
            raise

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False, timeout=30)
        try:
            enable_wal(db)
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms:d}")
            db.execute("PRAGMA foreign_keys=ON")
        except BaseException:
            db.close()
            raise
        return db

    def db(self) -> sqlite3.Connection:
        """This thread's connection (see :class:`ThreadConnections`: closed when the thread
        ends, so a thread per request does not leave a connection per request open)."""
        return self._connections.get()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: committed when the block ends, rolled back
        when it raises. :class:`BackendUnavailable` when the writer lock cannot be had."""
        db = self.db()
        with self._writer:
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise BackendUnavailable("the local store is busy; try again") from exc
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            else:
                db.execute("COMMIT")

    def insert(self, sql: str, args: tuple[object, ...]) -> None:
        """One INSERT in autocommit: a single statement is atomic by itself, so it needs no
        explicit transaction (two statements fewer on the hot paths: events, audit)."""
        try:
            with self._writer:
                self.db().execute(sql, args)
        except sqlite3.OperationalError as exc:
            raise BackendUnavailable("the local store is busy; try again") from exc

    def scan(self, model: type[M], sql: str, *, cursor: str | None, limit: int) -> Page[M]:
        """One page of a whole table in key order (the scans of key rotation and the purge):
        ``sql`` selects ``key, doc`` of the rows whose key is greater than its first parameter,
        ordered by key, at most its second parameter of them. The cursor is the page's last
        key; rows whose ``doc`` no longer decodes are named in ``unreadable``."""
        if limit < 1:
            raise InvalidRequest("limit must be at least 1")
        rows = self.db().execute(sql, (cursor or "", limit + 1)).fetchall()
        items, unreadable = decode_many(model, ((r[0], r[1]) for r in rows[:limit]))
        next_cursor = rows[limit - 1][0] if len(rows) > limit else None
        return Page(items=items, next_cursor=next_cursor, unreadable=unreadable)

    def close(self) -> None:
        self._connections.close()
