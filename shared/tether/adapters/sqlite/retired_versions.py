"""The "db" secret store's tombstones in the embedded store file (``retired_credentials``).

A class of its own over the same file as :class:`~tether.adapters.sqlite.SqliteConnectionStore`
(a :class:`SqliteDatabase` of its own on that file: same schema, same migrations, same
transactions), so the secret store depends on nothing but these calls.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from tether.adapters.db_secrets.retired_versions import ALL_VERSIONS
from tether.adapters.sqlite.database import SqliteDatabase
from tether.adapters.sqlite.schema import format_time
from tether.domain.clock import Clock, SystemClock

__all__ = ["SqliteRetiredVersions"]

# Tombstones per DELETE when purging.
_PURGE_BATCH = 1000


class SqliteRetiredVersions:
    def __init__(
        self, path: Path | str, *, busy_timeout_ms: int = 10_000, clock: Clock | None = None
    ) -> None:
        self._database = SqliteDatabase(path, busy_timeout_ms=busy_timeout_ms)
        self._clock: Clock = clock or SystemClock()

    def close(self) -> None:
        self._database.close()

    def retire(
        self, tenant_id: str, connection_id: str, version: str, *, key_id: str | None = None
    ) -> None:
        at = format_time(self._clock.now())
        with self._database.write() as db:
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

    def forget_key(self, key_id: str) -> int:
        with self._database.write() as db:
            gone = db.execute("DELETE FROM retired_credentials WHERE key_id = ?", (key_id,))
        return gone.rowcount

    def purge_retired(self, before: datetime) -> int:
        """In batches, each its own short write transaction; a scan of the table, which
        holds one retention's tombstones, once per housekeeping run."""
        cutoff, removed = format_time(before), 0
        while True:
            with self._database.write() as db:
                deleted = db.execute(
                    "DELETE FROM retired_credentials"
                    " WHERE (tenant_id, connection_id, version) IN"
                    " (SELECT tenant_id, connection_id, version FROM retired_credentials"
                    " WHERE retired_at <= ? LIMIT ?)",
                    (cutoff, _PURGE_BATCH),
                ).rowcount
            removed += deleted
            if deleted < _PURGE_BATCH:
                return removed

    def is_retired(self, tenant_id: str, connection_id: str, version: str) -> bool:
        row = (
            self._database.db()
            .execute(
                "SELECT 1 FROM retired_credentials WHERE tenant_id = ? AND connection_id = ?"
                " AND version IN (?, ?) LIMIT 1",
                (tenant_id, connection_id, version, ALL_VERSIONS),
            )
            .fetchone()
        )
        return row is not None
