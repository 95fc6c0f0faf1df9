"""Ordered schema migrations for the embedded SQLite files, tracked in ``PRAGMA user_version``.

Shared by the store and the local task queue. The pending steps run in one ``BEGIN
IMMEDIATE`` transaction that re-reads the version under that lock, so two processes opening
one file never both migrate; a file newer than the code is refused rather than misread.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence

from tether.domain.errors import ConfigurationError

__all__ = ["apply_migrations", "enable_wal"]


def apply_migrations(
    db: sqlite3.Connection,
    migrations: Sequence[Sequence[str]],
    *,
    what: str,
    fresh: tuple[int, Sequence[str]] | None = None,
) -> int:
    """Apply the pending steps of ``migrations`` (each a list of statements); returns the
    resulting version. ``db`` must be in autocommit mode (``isolation_level=None``).

    Every pending step runs in one ``BEGIN IMMEDIATE`` transaction, which re-reads the
    version under its lock: all of them land or none does, and a new file (every step
    pending) costs one commit instead of one per step (the first request of a fresh
    instance creates its file). ``fresh``: ``(version, statements)``, the schema the steps
    up to ``version`` leave, which a new file (version 0) is created from instead of
    replaying them; the later steps follow as usual."""
    if fresh is not None and not 0 < fresh[0] <= len(migrations):
        raise ValueError("the fresh schema must stand for one of the steps")
    (current,) = db.execute("PRAGMA user_version").fetchone()
    if current > len(migrations):
        raise ConfigurationError(f"the {what} database is newer than this code")
    if current < len(migrations):
        db.execute("BEGIN IMMEDIATE")
        try:
            (current,) = db.execute("PRAGMA user_version").fetchone()
            reached = current
            if current == 0 and fresh is not None:
                reached, created = fresh
                for statement in created:
                    db.execute(statement)
            for version, statements in enumerate(migrations, start=1):
                if version > reached:
                    for statement in statements:
                        db.execute(statement)
            if current < len(migrations):
                db.execute(f"PRAGMA user_version = {len(migrations):d}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    (final,) = db.execute("PRAGMA user_version").fetchone()
    return int(final)


def enable_wal(db: sqlite3.Connection, *, timeout_seconds: float = 10.0) -> None:
    """Switch ``db`` to the WAL journal. When several connections open a brand-new file at
    once, this pragma can fail with "database is locked" without SQLite consulting its busy
    handler, so it is retried here with a short backoff."""
    deadline = time.monotonic() + timeout_seconds
    delay = 0.005
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
