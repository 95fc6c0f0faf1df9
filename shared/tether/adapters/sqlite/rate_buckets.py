"""SQLite :class:`~tether.ports.RateBuckets`: the ``rate_buckets`` table; the arithmetic is
:mod:`tether.adapters.token_bucket`."""

from __future__ import annotations

from datetime import datetime

from tether.adapters.sqlite.database import SqliteDatabase
from tether.adapters.sqlite.schema import format_time
from tether.adapters.token_bucket import full_at, take_token

__all__ = ["SqliteRateBuckets"]


class SqliteRateBuckets:
    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database

    def acquire_rate(self, key: str, *, per_minute: int, burst: int, now: datetime) -> float:
        """See :meth:`~tether.ports.RateBuckets.acquire_rate`. The read and the write share
        one ``BEGIN IMMEDIATE`` transaction, so racing threads and processes take turns."""
        stamp = format_time(now)
        with self._database.write() as db:
            row = db.execute(
                "SELECT tokens, updated_at FROM rate_buckets WHERE key = ?", (key,)
            ).fetchone()
            if row is None:
                tokens, updated = float(max(1, burst)), stamp
            else:
                tokens, updated = float(row[0]), str(row[1])
            elapsed = (now - datetime.fromisoformat(updated)).total_seconds()
            left, wait = take_token(tokens, elapsed, per_minute=per_minute, burst=burst)
            if wait == 0.0:
                latest = max(stamp, updated)
                full = full_at(
                    datetime.fromisoformat(latest), left, per_minute=per_minute, burst=burst
                )
                db.execute(
                    "INSERT INTO rate_buckets (key, tokens, updated_at, expires_at) "
                    "VALUES (?,?,?,?) ON CONFLICT (key) DO UPDATE SET tokens = excluded.tokens, "
                    "updated_at = excluded.updated_at, expires_at = excluded.expires_at",
                    (key, left, latest, None if full is None else format_time(full)),
                )
        return wait
