"""SQLite :class:`~tether.ports.IdempotencyKeys`: the ``idempotency_keys`` table of the
embedded store file, each claim read and written in one ``BEGIN IMMEDIATE`` transaction.

A class of its own over the store file (a :class:`SqliteDatabase` of its own: same schema,
migrations and transactions), so only the functions that run actions open it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from tether.adapters.sqlite.database import SqliteDatabase
from tether.adapters.sqlite.schema import format_time
from tether.domain.models import IdempotencyRecord

__all__ = ["SqliteIdempotencyKeys"]


class SqliteIdempotencyKeys:
    def __init__(self, path: Path | str, *, busy_timeout_ms: int = 10_000) -> None:
        self._database = SqliteDatabase(path, busy_timeout_ms=busy_timeout_ms)

    def close(self) -> None:
        self._database.close()

    def claim_idempotency_key(
        self, record: IdempotencyRecord, *, now: datetime
    ) -> IdempotencyRecord | None:
        with self._database.write() as db:
            row = db.execute(
                "SELECT doc, expires_at FROM idempotency_keys WHERE tenant_id = ? AND key = ?",
                (record.tenant_id, record.key),
            ).fetchone()
            if row is not None and row[1] > format_time(now):
                return IdempotencyRecord.model_validate_json(row[0])
            db.execute(
                "INSERT INTO idempotency_keys (tenant_id, key, owner, expires_at, doc)"
                " VALUES (?,?,?,?,?) ON CONFLICT (tenant_id, key) DO UPDATE SET"
                " owner = excluded.owner, expires_at = excluded.expires_at, doc = excluded.doc",
                (
                    record.tenant_id,
                    record.key,
                    record.owner,
                    format_time(record.expires_at),
                    record.model_dump_json(),
                ),
            )
        return None

    def complete_idempotency_key(
        self, tenant_id: str, key: str, *, owner: str, answer: dict[str, Any], expires_at: datetime
    ) -> None:
        with self._database.write() as db:
            row = db.execute(
                "SELECT doc FROM idempotency_keys WHERE tenant_id = ? AND key = ? AND owner = ?",
                (tenant_id, key, owner),
            ).fetchone()
            if row is None:
                return
            done = IdempotencyRecord.model_validate_json(row[0]).model_copy(
                update={"state": "done", "answer": answer, "expires_at": expires_at}
            )
            db.execute(
                "UPDATE idempotency_keys SET expires_at = ?, doc = ?"
                " WHERE tenant_id = ? AND key = ?",
                (format_time(expires_at), done.model_dump_json(), tenant_id, key),
            )

    def release_idempotency_key(self, tenant_id: str, key: str, *, owner: str) -> None:
        with self._database.write() as db:
            db.execute(
                "DELETE FROM idempotency_keys WHERE tenant_id = ? AND key = ? AND owner = ?",
                (tenant_id, key, owner),
            )
