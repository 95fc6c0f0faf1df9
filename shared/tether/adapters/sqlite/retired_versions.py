"""The "db" secret store's tombstones in the embedded store file (``retired_credentials``).

A class of its own over the same file as :class:`~tether.adapters.sqlite.SqliteConnectionStore`
(same schema, same migrations), so the secret store depends on nothing but these two calls.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from tether.adapters.db_secrets.retired_versions import ALL_VERSIONS
from tether.adapters.sqlite.migrations import enable_wal
from tether.adapters.sqlite.schema import format_time, migrate
from tether.adapters.sqlite.thread_connections import ThreadConnections
from tether.domain.errors import BackendUnavailable

__all__ = ["SqliteRetiredVersions"]


class SqliteRetiredVersions:
    def __init__(self, path: Path | str, *, busy_timeout_ms: int = 10_000) -> None:
        self._path = str(path)
        if self._path != ":memory:":
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        self._busy_timeout_ms = busy_timeout_ms
        self._connections = ThreadConnections(self._connect)
        try:
            migrate(self._connections.get())
        except BaseException:
            self.close()
            raise

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False, timeout=30)
        try:
            enable_wal(db)
            db.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms:d}")
        except BaseException:
            db.close()
            raise
        return db

    def close(self) -> None:
        self._connections.close()

    def retire(
        self, tenant_id: str, connection_id: str, version: str, *, key_id: str | None = None
    ) -> None:
        db = self._connections.get()
        at = format_time(datetime.now(UTC))
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise BackendUnavailable("the local store is busy; try again") from exc
        try:
            if version == ALL_VERSIONS:
                db.execute(
                    "DELETE FROM retired_credentials WHERE tenant_id = ? AND connection_id = ?",
                    (tenant_id, connection_id),
                )
                key_id = None
            db.execute(
                "INSERT OR IGNORE INTO retired_credentials"
                " (tenant_id, connection_id, version, retired_at, key_id) VALUES (?, ?, ?, ?, ?)",
                (tenant_id, connection_id, version, at, key_id),
            )
            db.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            db.execute("ROLLBACK")
            raise BackendUnavailable("the local store is busy; try again") from exc
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def forget_key(self, key_id: str) -> int:
        try:
            with self._connections.get() as db:
                gone = db.execute("DELETE FROM retired_credentials WHERE key_id = ?", (key_id,))
        except sqlite3.OperationalError as exc:
            raise BackendUnavailable("the local store is busy; try again") from exc
        return gone.rowcount

    def is_retired(self, tenant_id: str, connection_id: str, version: str) -> bool:
        row = (
            self._connections.get()
            .execute(
                "SELECT 1 FROM retired_credentials WHERE tenant_id = ? AND connection_id = ?"
                " AND version IN (?, ?) LIMIT 1",
                (tenant_id, connection_id, version, ALL_VERSIONS),
            )
            .fetchone()
        )
        return row is not None
