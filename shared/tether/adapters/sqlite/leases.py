"""SQLite :class:`~tether.ports.LeaseStore`: the ``leases`` table, read and taken in one
``BEGIN IMMEDIATE`` transaction."""

from __future__ import annotations

from datetime import datetime, timedelta

from tether.adapters.sqlite.database import SqliteDatabase
from tether.adapters.sqlite.schema import format_time
from tether.domain.models import Lease

__all__ = ["SqliteLeases"]


class SqliteLeases:
    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database

    def acquire_lease(
        self, name: str, owner: str, *, ttl_seconds: float, now: datetime
    ) -> Lease | None:
        expires = now + timedelta(seconds=ttl_seconds)
        with self._database.write() as db:
            row = db.execute(
                "SELECT owner, expires_at FROM leases WHERE name = ?", (name,)
            ).fetchone()
            if row is not None and row[0] != owner and row[1] > format_time(now):
                return None
            db.execute(
                "INSERT INTO leases (name, owner, expires_at) VALUES (?,?,?) "
                "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, "
                "expires_at = excluded.expires_at",
                (name, owner, format_time(expires)),
            )
        return Lease(name=name, owner=owner, expires_at=expires)

    def release_lease(self, name: str, owner: str) -> None:
        with self._database.write() as db:
            db.execute("DELETE FROM leases WHERE name = ? AND owner = ?", (name, owner))
