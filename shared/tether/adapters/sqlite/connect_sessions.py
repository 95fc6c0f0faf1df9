"""SQLite :class:`~tether.ports.ConnectSessionRepository`: the ``connect_sessions`` table,
keyed by session id, with its expiry beside the record for the purge."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from tether.adapters.record_decoding import decode_one
from tether.adapters.sqlite.database import SqliteDatabase
from tether.adapters.sqlite.schema import format_time
from tether.domain.errors import Conflict
from tether.domain.models import ConnectSession

__all__ = ["SqliteConnectSessions"]


class SqliteConnectSessions:
    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database

    def create_connect_session(self, session: ConnectSession) -> None:
        try:
            with self._database.write() as db:
                db.execute(
                    "INSERT INTO connect_sessions (id, tenant_id, expires_at, doc) "
                    "VALUES (?,?,?,?)",
                    (
                        session.id,
                        session.tenant_id,
                        format_time(session.expires_at),
                        session.model_dump_json(),
                    ),
                )
        except sqlite3.IntegrityError:
            raise Conflict("this connect session already exists") from None

    def get_connect_session(self, session_id: str) -> ConnectSession | None:
        row = (
            self._database.db()
            .execute("SELECT doc FROM connect_sessions WHERE id = ?", (session_id,))
            .fetchone()
        )
        return None if row is None else decode_one(ConnectSession, row[0], record_id=session_id)

    def revoke_connect_session(self, tenant_id: str, session_id: str, *, at: datetime) -> bool:
        with self._database.write() as db:
            row = db.execute(
                "SELECT doc FROM connect_sessions WHERE id = ? AND tenant_id = ?",
                (session_id, tenant_id),
            ).fetchone()
            if row is None:
                return False
            session = decode_one(ConnectSession, row[0], record_id=session_id)
            if session.revoked_at is None:
                revoked = session.model_copy(update={"revoked_at": at})
                db.execute(
                    "UPDATE connect_sessions SET doc = ? WHERE id = ?",
                    (revoked.model_dump_json(), session_id),
                )
        return True
