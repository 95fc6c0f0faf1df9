"""Schema of the embedded store: migrations applied in order (see ``migrations.py``).

Each record is kept whole as JSON (``doc``) next to the few columns queries filter or sort
on, so adding a field to a model needs no migration; adding a query does.
"""

from __future__ import annotations

import sqlite3

from tether.adapters.sqlite.migrations import apply_migrations

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
    """Bring the store file to the newest schema; returns the resulting version."""
    return apply_migrations(
        db, [[st for st in script.split(";") if st.strip()] for script in MIGRATIONS], what="store"
    )
