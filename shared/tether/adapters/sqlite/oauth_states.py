"""SQLite :class:`~tether.ports.OAuthStateRepository`: the ``oauth_states`` table, every
read-modify-write in one ``BEGIN IMMEDIATE`` transaction."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from tether.adapters.record_decoding import decode_one
from tether.adapters.sqlite.database import SqliteDatabase
from tether.adapters.sqlite.schema import format_time
from tether.domain.errors import Conflict
from tether.domain.models import OAuthState, Page

__all__ = ["SqliteOAuthStates"]


class SqliteOAuthStates:
    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database

    def create_oauth_state(self, state: OAuthState) -> None:
        try:
            with self._database.write() as db:
                db.execute(
                    "INSERT INTO oauth_states (state_hash, expires_at, doc) VALUES (?,?,?)",
                    (state.state_hash, format_time(state.expires_at), state.model_dump_json()),
                )
        except sqlite3.IntegrityError:
            raise Conflict("this OAuth state already exists") from None

    def consume_oauth_state(self, state_hash: str, *, now: datetime) -> OAuthState | None:
        with self._database.write() as db:
            row = db.execute(
                "SELECT doc FROM oauth_states WHERE state_hash = ?", (state_hash,)
            ).fetchone()
            if row is None:
                return None
            before = decode_one(OAuthState, row[0], record_id=state_hash)
            if before.used_at is None:
                used = before.model_copy(update={"used_at": now})
                db.execute(
                    "UPDATE oauth_states SET doc = ? WHERE state_hash = ?",
                    (used.model_dump_json(), state_hash),
                )
        return before

    def scan_oauth_states(self, *, cursor: str | None = None, limit: int = 200) -> Page[OAuthState]:
        return self._database.scan(
            OAuthState,
            "SELECT state_hash, doc FROM oauth_states WHERE state_hash > ? "
            "ORDER BY state_hash LIMIT ?",
            cursor=cursor,
            limit=limit,
        )

    def replace_oauth_state(self, state: OAuthState, *, expected: OAuthState) -> bool:
        if state.state_hash != expected.state_hash:
            raise ValueError("a state can only replace the state of the same hash")
        with self._database.write() as db:
            row = db.execute(
                "SELECT doc FROM oauth_states WHERE state_hash = ?", (expected.state_hash,)
            ).fetchone()
            if row is None:
                return False
            stored = decode_one(OAuthState, row[0], record_id=expected.state_hash)
            if stored != expected or stored.used_at is not None:
                return False
            db.execute(
                "UPDATE oauth_states SET expires_at = ?, doc = ? WHERE state_hash = ?",
                (format_time(state.expires_at), state.model_dump_json(), state.state_hash),
            )
        return True
