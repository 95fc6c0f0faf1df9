"""SQLite :class:`~tether.ports.SyncStateStore`: the ``sync_schedules`` table (``due_at`` is
``next_run_at`` while the sync is schedulable, for the due scan's partial index) and
``sync_runs`` (``active`` under a unique partial index: one active run per sync, which the
check in :meth:`SqliteSyncState.start_run`'s transaction and the index both hold).

The sync models are imported by the methods that build them: the embedded store is one object
over every record port, and a function that never touches a sync does not load them."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import TYPE_CHECKING

from tether.adapters.record_decoding import decode_many, decode_one
from tether.adapters.sqlite.database import SqliteDatabase
from tether.adapters.sqlite.schema import format_time
from tether.domain.errors import Conflict, InvalidRequest, NotFound, VersionConflict

if TYPE_CHECKING:
    from tether.domain.sync_runs import StartedRun, SyncRun, SyncSchedule

__all__ = ["SqliteSyncState"]


def _due_at(sync: SyncSchedule) -> str | None:
    return format_time(sync.next_run_at) if sync.schedulable and sync.next_run_at else None


def _check_limit(limit: int) -> None:
    if limit < 1:
        raise InvalidRequest("limit must be at least 1")


class SqliteSyncState:
    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database

    # -- schedules ----------------------------------------------------------------------------
    def get_sync(self, tenant_id: str, connection_id: str, name: str) -> SyncSchedule | None:
        from tether.domain.sync_runs import SyncSchedule

        row = (
            self._database.db()
            .execute(
                "SELECT doc FROM sync_schedules "
                "WHERE tenant_id = ? AND connection_id = ? AND name = ?",
                (tenant_id, connection_id, name),
            )
            .fetchone()
        )
        return None if row is None else decode_one(SyncSchedule, row[0], record_id=name)

    def list_syncs(self, tenant_id: str, connection_id: str) -> list[SyncSchedule]:
        from tether.domain.sync_runs import MAX_SYNCS, SyncSchedule

        rows = (
            self._database.db()
            .execute(
                "SELECT name, doc FROM sync_schedules WHERE tenant_id = ? AND connection_id = ? "
                "ORDER BY name LIMIT ?",
                (tenant_id, connection_id, MAX_SYNCS),
            )
            .fetchall()
        )
        return decode_many(SyncSchedule, ((r[0], r[1]) for r in rows))[0]

    def put_sync(self, sync: SyncSchedule, *, expected_version: int | None) -> SyncSchedule:
        version = 1 if expected_version is None else expected_version + 1
        stored = sync.model_copy(update={"version": version})
        key = (sync.tenant_id, sync.connection_id, sync.name)
        args = (version, _due_at(stored), stored.model_dump_json(), *key)
        with self._database.write() as db:
            if expected_version is None:
                try:
                    db.execute(
                        "INSERT INTO sync_schedules (version, due_at, doc, tenant_id, "
                        "connection_id, name) VALUES (?,?,?,?,?,?)",
                        args,
                    )
                except sqlite3.IntegrityError:
                    raise VersionConflict("the sync was stored meanwhile") from None
            else:
                changed = db.execute(
                    "UPDATE sync_schedules SET version = ?, due_at = ?, doc = ? "
                    "WHERE tenant_id = ? AND connection_id = ? AND name = ? AND version = ?",
                    (*args, expected_version),
                ).rowcount
                if changed != 1:
                    raise VersionConflict("the sync changed meanwhile; read it again")
        return stored

    def list_due_syncs(self, *, now: datetime, limit: int = 100) -> list[SyncSchedule]:
        from tether.domain.sync_runs import SyncSchedule

        _check_limit(limit)
        rows = (
            self._database.db()
            .execute(
                "SELECT name, doc FROM sync_schedules WHERE due_at IS NOT NULL AND due_at <= ? "
                "ORDER BY due_at LIMIT ?",
                (format_time(now), limit),
            )
            .fetchall()
        )
        return decode_many(SyncSchedule, ((r[0], r[1]) for r in rows))[0]

    # -- runs ---------------------------------------------------------------------------------
    def start_run(self, run: SyncRun) -> StartedRun:
        from tether.domain.sync_runs import StartedRun

        if not run.active or run.version != 1:
            raise InvalidRequest("a new run is queued or running, at version 1")
        with self._database.write() as db:
            active = self._active(db, run.tenant_id, run.connection_id, run.sync)
            if active is not None:
                return StartedRun(started=False, run=active)
            try:
                db.execute(
                    "INSERT INTO sync_runs (tenant_id, connection_id, id, sync, active, "
                    "created_at, version, doc) VALUES (?,?,?,?,1,?,1,?)",
                    (
                        run.tenant_id,
                        run.connection_id,
                        run.id,
                        run.sync,
                        format_time(run.created_at),
                        run.model_dump_json(),
                    ),
                )
            except sqlite3.IntegrityError:
                raise Conflict("a run with this id exists already") from None
        return StartedRun(started=True, run=run)

    @staticmethod
    def _active(
        db: sqlite3.Connection, tenant_id: str, connection_id: str, sync: str
    ) -> SyncRun | None:
        from tether.domain.sync_runs import SyncRun

        row = db.execute(
            "SELECT id, doc FROM sync_runs "
            "WHERE tenant_id = ? AND connection_id = ? AND sync = ? AND active = 1",
            (tenant_id, connection_id, sync),
        ).fetchone()
        return None if row is None else decode_one(SyncRun, row[1], record_id=row[0])

    def get_run(self, tenant_id: str, connection_id: str, run_id: str) -> SyncRun | None:
        from tether.domain.sync_runs import SyncRun

        row = (
            self._database.db()
            .execute(
                "SELECT doc FROM sync_runs WHERE tenant_id = ? AND connection_id = ? AND id = ?",
                (tenant_id, connection_id, run_id),
            )
            .fetchone()
        )
        return None if row is None else decode_one(SyncRun, row[0], record_id=run_id)

    def active_run(self, tenant_id: str, connection_id: str, sync: str) -> SyncRun | None:
        return self._active(self._database.db(), tenant_id, connection_id, sync)

    def save_run(self, run: SyncRun, *, expected_version: int) -> SyncRun:
        stored = run.model_copy(update={"version": expected_version + 1})
        with self._database.write() as db:
            row = db.execute(
                "SELECT active, version FROM sync_runs "
                "WHERE tenant_id = ? AND connection_id = ? AND id = ?",
                (run.tenant_id, run.connection_id, run.id),
            ).fetchone()
            if row is None:
                raise NotFound("no such run")
            if row[1] != expected_version:
                raise VersionConflict("the run changed meanwhile; read it again")
            if not row[0] and run.active:
                raise InvalidRequest("a finished run cannot become active again")
            db.execute(
                "UPDATE sync_runs SET active = ?, version = ?, doc = ? "
                "WHERE tenant_id = ? AND connection_id = ? AND id = ?",
                (
                    int(run.active),
                    stored.version,
                    stored.model_dump_json(),
                    run.tenant_id,
                    run.connection_id,
                    run.id,
                ),
            )
        return stored

    def list_runs(
        self, tenant_id: str, connection_id: str, sync: str, *, limit: int = 20
    ) -> list[SyncRun]:
        from tether.domain.sync_runs import SyncRun

        _check_limit(limit)
        rows = (
            self._database.db()
            .execute(
                "SELECT id, doc FROM sync_runs WHERE tenant_id = ? AND connection_id = ? "
                "AND sync = ? ORDER BY created_at DESC, id DESC LIMIT ?",
                (tenant_id, connection_id, sync, limit),
            )
            .fetchall()
        )
        return decode_many(SyncRun, ((r[0], r[1]) for r in rows))[0]

    def delete_connection_syncs(
        self, tenant_id: str, connection_id: str, *, limit: int = 500
    ) -> int:
        _check_limit(limit)
        removed = 0
        with self._database.write() as db:
            for table in ("sync_runs", "sync_schedules"):
                removed += db.execute(
                    f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} "  # noqa: S608
                    "WHERE tenant_id = ? AND connection_id = ? LIMIT ?)",
                    (tenant_id, connection_id, limit - removed),
                ).rowcount
                if removed >= limit:
                    break
        return removed
