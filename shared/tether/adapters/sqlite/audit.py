"""SQLite :class:`~tether.ports.AuditLog`, and the audit entries other repositories write in
their own transactions (:class:`AuditedWrites`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from tether.adapters.record_decoding import decode_many
from tether.adapters.sqlite.database import SqliteDatabase
from tether.adapters.sqlite.schema import format_time
from tether.domain.errors import Conflict
from tether.domain.models import AuditEvent

__all__ = ["AuditedWrites", "SqliteAuditLog"]


_INSERT = "INSERT INTO audit (id, tenant_id, connection_id, at, doc) VALUES (?,?,?,?,?)"


def _duplicate_id(error: sqlite3.IntegrityError) -> bool:
    """Whether the insert broke the id's uniqueness (a NOT NULL, CHECK or trigger refusal is
    no conflict of ids, and is raised as it is)."""
    return error.sqlite_errorname in ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY")


def _row(event: AuditEvent) -> tuple[str, str, str | None, str, str]:
    return (
        event.id,
        event.tenant_id,
        event.connection_id,
        format_time(event.at),
        event.model_dump_json(),
    )


class AuditedWrites:
    """Base of the repositories whose writes carry audit entries (``audit=``): they insert
    them with :meth:`_insert_audit` inside their own transaction, so the change and its
    entries commit or roll back together."""

    _database: SqliteDatabase

    def _insert_audit(self, db: sqlite3.Connection, events: Sequence[AuditEvent]) -> None:
        """Insert ``events`` inside the caller's transaction. An id already used is
        :class:`Conflict` (and the caller's transaction rolls back)."""
        try:
            db.executemany(_INSERT, [_row(event) for event in events])
        except sqlite3.IntegrityError as error:
            if not _duplicate_id(error):
                raise
            raise Conflict("an audit event with this id already exists") from None


class SqliteAuditLog(AuditedWrites):
    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database

    def append_audit(self, event: AuditEvent) -> None:
        """One INSERT in autocommit (atomic by itself): no ``BEGIN``/``COMMIT`` round trips
        on the paths that write one entry per request (actions, fetch, credential reads)."""
        try:
            self._database.insert(_INSERT, _row(event))
        except sqlite3.IntegrityError as error:
            if not _duplicate_id(error):
                raise
            raise Conflict("an audit event with this id already exists") from None

    def list_audit(
        self, tenant_id: str, *, connection_id: str | None = None, limit: int = 100
    ) -> list[AuditEvent]:
        if limit < 1:
            return []
        sql = "SELECT id, doc FROM audit WHERE tenant_id = ?"
        args: list[object] = [tenant_id]
        if connection_id is not None:
            sql += " AND connection_id = ?"
            args.append(connection_id)
        rows = self._database.db().execute(sql + " ORDER BY seq DESC LIMIT ?", (*args, limit))
        return decode_many(AuditEvent, ((r[0], r[1]) for r in rows.fetchall()))[0]
