"""Schema migrations of the embedded store, applied in order and tracked in ``user_version``.

Each record is kept whole as JSON (``doc``) next to the few columns queries filter or sort
on, so adding a field to a model needs no migration; adding a query does.
"""

from __future__ import annotations

import sqlite3

__all__ = ["MIGRATIONS", "migrate"]

MIGRATIONS: tuple[str, ...] = (
    # 1: connections, audit, OAuth states, webhook events, leases
    """
    CREATE TABLE connections (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        provider TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at TEXT NOT NULL,
        version INTEGER NOT NULL,
        deleted INTEGER NOT NULL DEFAULT 0,
        webhook_token_hash TEXT,
        doc TEXT NOT NULL
    );
    CREATE INDEX connections_by_tenant
        ON connections (tenant_id, deleted, created_at DESC, id DESC);
    CREATE UNIQUE INDEX connections_by_webhook_token ON connections (webhook_token_hash)
        WHERE webhook_token_hash IS NOT NULL;
    CREATE TABLE audit (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        tenant_id TEXT NOT NULL,
        connection_id TEXT,
        at TEXT NOT NULL,
        doc TEXT NOT NULL
    );
    CREATE INDEX audit_by_tenant ON audit (tenant_id, seq DESC);
    CREATE INDEX audit_by_connection ON audit (tenant_id, connection_id, seq DESC);
    CREATE TABLE oauth_states (
        state_hash TEXT PRIMARY KEY,
        expires_at TEXT NOT NULL,
        doc TEXT NOT NULL
    );
    CREATE TABLE webhook_events (
        provider TEXT NOT NULL,
        dedupe_key TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        doc TEXT NOT NULL,
        PRIMARY KEY (provider, dedupe_key)
    );
    CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        expires_at TEXT NOT NULL
    );
    """,
)


def migrate(db: sqlite3.Connection) -> int:
    """Bring ``db`` to the newest schema; returns the resulting version."""
    (current,) = db.execute("PRAGMA user_version").fetchone()
    for version, script in enumerate(MIGRATIONS, start=1):
        if version <= current:
            continue
        db.execute("BEGIN IMMEDIATE")
        try:
            # Re-check under the write lock: another process may have migrated meanwhile.
            (now_at,) = db.execute("PRAGMA user_version").fetchone()
            if now_at >= version:
                db.execute("ROLLBACK")
                continue
            for statement in script.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {version:d}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    (final,) = db.execute("PRAGMA user_version").fetchone()
    return int(final)
