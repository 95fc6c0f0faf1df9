"""Storage of the embedded task queue: schema migrations and row ⇄ :class:`TaskRecord`.

Times are stored as integer microseconds since the Unix epoch, UTC.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from tether.adapters.sqlite.migrations import apply_migrations
from tether.domain.errors import InvalidRequest

__all__ = ["TaskRecord", "TaskStatus", "from_db", "migrate", "record", "require_aware", "to_db"]

_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """
        CREATE TABLE tasks (
            id TEXT PRIMARY KEY,
            name TEXT UNIQUE,
            kind TEXT NOT NULL,
            payload TEXT NOT NULL,
            status TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            max_attempts INTEGER NOT NULL,
            run_at INTEGER NOT NULL,
            locked_until INTEGER,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            last_error TEXT
        )
        """,
        "CREATE INDEX tasks_due ON tasks (status, run_at)",
        "CREATE INDEX tasks_by_kind ON tasks (kind, status)",
    ),
    # 2: no query reads tasks_by_kind (a listing filtered by kind scans in creation order,
    # the others go by id, name or tasks_due), and every enqueue paid for writing it: one
    # b-tree page fewer per task
    ("DROP INDEX IF EXISTS tasks_by_kind",),
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class TaskStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """A task as stored, for the dev CLI and visibility features."""

    id: str
    name: str | None
    kind: str
    payload: dict[str, Any] = field(repr=False)
    status: TaskStatus
    attempts: int
    max_attempts: int
    run_at: datetime
    created_at: datetime
    updated_at: datetime
    last_error: str | None


def to_db(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND


def from_db(value: int) -> datetime:
    return _EPOCH + value * _MICROSECOND


def require_aware(moment: datetime, what: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidRequest(f"{what} must be timezone-aware")


def record(row: sqlite3.Row) -> TaskRecord:
    return TaskRecord(
        id=row["id"],
        name=row["name"],
        kind=row["kind"],
        payload=json.loads(row["payload"]),
        status=TaskStatus(row["status"]),
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        run_at=from_db(row["run_at"]),
        created_at=from_db(row["created_at"]),
        updated_at=from_db(row["updated_at"]),
        last_error=row["last_error"],
    )


def migrate(db: sqlite3.Connection) -> None:
    """Bring the task queue file to the newest schema."""
    apply_migrations(db, _MIGRATIONS, what="task queue")
