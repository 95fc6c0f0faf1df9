"""The embedded task queue's file keeps only the indexes its queries read: every enqueue writes
a page of each, so an index nothing reads is a cost on every task for nothing."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from tether.adapters.local_tasks import LocalTaskQueue, TaskStatus

# The name's and the id's (UNIQUE, PRIMARY KEY) and the due order's (claims, idle waits,
# stats, purges): nothing looks tasks up by kind through an index.
EXPECTED = {"sqlite_autoindex_tasks_1", "sqlite_autoindex_tasks_2", "tasks_due"}


def _indexes(path: Path) -> set[str]:
    with closing(sqlite3.connect(path)) as db:
        rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'index'").fetchall()
    return {name for (name,) in rows}


def _ignore(kind: str, payload: object) -> None:
    del kind, payload


def test_a_new_file_has_only_the_indexes_its_queries_read(tmp_path: Path) -> None:
    path = tmp_path / "tasks.sqlite3"
    LocalTaskQueue(path, _ignore).close()
    assert _indexes(path) == EXPECTED


def test_a_file_of_the_first_schema_drops_the_kind_index_and_keeps_its_tasks(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tasks.sqlite3"
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.executescript(
            """
            CREATE TABLE tasks (
                id TEXT PRIMARY KEY, name TEXT UNIQUE, kind TEXT NOT NULL,
                payload TEXT NOT NULL, status TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0, max_attempts INTEGER NOT NULL,
                run_at INTEGER NOT NULL, locked_until INTEGER, created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL, last_error TEXT
            );
            CREATE INDEX tasks_due ON tasks (status, run_at);
            CREATE INDEX tasks_by_kind ON tasks (kind, status);
            INSERT INTO tasks (id, name, kind, payload, status, max_attempts, run_at,
                               created_at, updated_at)
                VALUES ('task_old', 'old', 'sync', '{}', 'pending', 8, 0, 0, 0);
            PRAGMA user_version = 1;
            """
        )
    queue = LocalTaskQueue(path, _ignore)
    try:
        old = queue.get("old")
        assert old is not None and old.status == TaskStatus.PENDING
        assert queue.run_due() == 1
    finally:
        queue.close()
    assert _indexes(path) == EXPECTED
