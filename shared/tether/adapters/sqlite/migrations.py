"""Ordered schema migrations for the embedded SQLite files, tracked in ``PRAGMA user_version``.

Shared by the store and the local task queue. The pending steps run in one ``BEGIN
IMMEDIATE`` transaction that re-reads the version under that lock, so two processes opening
one file never both migrate; a file newer than the code is refused rather than misread.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping, Sequence

from tether.domain.errors import ConfigurationError

__all__ = ["apply_migrations", "enable_wal"]


def apply_migrations(
    db: sqlite3.Connection,
    migrations: Sequence[Sequence[str]],
    *,
    what: str,
    fresh: tuple[int, Sequence[str]] | None = None,
    needs: Mapping[int, tuple[int, int, int]] | None = None,
) -> int:
    """Apply the pending steps of ``migrations`` (each a list of statements); returns the
    resulting version. ``db`` must be in autocommit mode (``isolation_level=None``).

    Every pending step runs in one ``BEGIN IMMEDIATE`` transaction, which re-reads the
    version under its lock: all of them land or none does, and a new file (every step
    pending) costs one commit instead of one per step (the first request of a fresh
    instance creates its file). ``fresh``: ``(version, statements)``, the schema the steps
    up to ``version`` leave, which a new file (version 0) is created from instead of
    replaying them; the later steps follow as usual. ``needs``: step → the oldest SQLite
    library that can run it (``ALTER TABLE ... DROP COLUMN`` is 3.35.0); a file with such a
    step pending is refused with :class:`ConfigurationError` naming that version, before any
    step runs, when this process's libsqlite3 is older."""
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
            _check_library(needs or {}, reached, what=what)
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


def _check_library(needs: Mapping[int, tuple[int, int, int]], reached: int, *, what: str) -> None:
    """Refuse to run a pending step (after ``reached``) this SQLite library cannot run."""
    have = sqlite3.sqlite_version_info
    for step, oldest in sorted(needs.items()):
        if step > reached and have < oldest:
            wanted = ".".join(str(n) for n in oldest)
            raise ConfigurationError(
                f"the {what} database needs SQLite {wanted} or newer to take schema step "
                f"{step}; this Python's SQLite library is {sqlite3.sqlite_version} (upgrade "
                f"libsqlite3, or use a Python built with a newer one)"
            )


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
