"""The embedded store's schema as a new file gets it: the tables and indexes that every step of
:data:`~tether.adapters.sqlite.schema.MIGRATIONS` up to :data:`FRESH_VERSION` leaves, created
at once.

A new file (version 0) is what the first request of a fresh instance opens (`tether dev` on a
new data folder, every test). Replaying the history there costs every step, and some steps
rebuild a table (each ``ALTER TABLE ... DROP COLUMN`` copies and re-checks it, about a
millisecond). A file of an older version still takes the steps one by one, and the steps after
:data:`FRESH_VERSION` run on a new file as on an old one, so a new step needs no change here.
``tests/unit/test_sqlite_migrations.py`` checks that this schema and the steps' are the same.
"""

from __future__ import annotations

__all__ = ["FRESH_SCHEMA", "FRESH_VERSION"]

FRESH_VERSION = 17

FRESH_SCHEMA = """
    CREATE TABLE connections (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        provider TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at TEXT NOT NULL,
        version INTEGER NOT NULL,
        deleted INTEGER NOT NULL DEFAULT 0,
        webhook_token_hash TEXT,
        doc TEXT NOT NULL,
        token_expires_at TEXT,
        webhook_route TEXT,
        end_user_id TEXT
    );
    CREATE INDEX connections_by_tenant ON connections
        (tenant_id, deleted, created_at DESC, id DESC);
    CREATE UNIQUE INDEX connections_by_webhook_token ON connections
        (webhook_token_hash)
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
        tenant_id TEXT,
        connection_id TEXT,
        received_at TEXT,
        PRIMARY KEY (provider, dedupe_key)
    );
    CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        expires_at TEXT NOT NULL
    );
    CREATE INDEX connections_by_token_expiry ON connections
        (token_expires_at, id)
        WHERE deleted = 0 AND token_expires_at IS NOT NULL;
    CREATE TABLE rate_buckets (
        key TEXT PRIMARY KEY,
        tokens REAL NOT NULL,
        updated_at TEXT NOT NULL,
        expires_at TEXT
    );
    CREATE TABLE tenant_settings (
        tenant_id TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        doc TEXT NOT NULL
    );
    CREATE TABLE deliveries (
        tenant_id TEXT NOT NULL,
        id TEXT NOT NULL,
        connection_id TEXT,
        created_at TEXT NOT NULL,
        doc TEXT NOT NULL,
        PRIMARY KEY (tenant_id, id)
    );
    CREATE INDEX deliveries_by_tenant ON deliveries
        (tenant_id, created_at DESC, id DESC);
    CREATE INDEX deliveries_by_connection ON deliveries
        (tenant_id, connection_id, created_at DESC, id DESC);
    CREATE INDEX webhook_events_by_connection ON webhook_events
        (tenant_id, connection_id, received_at DESC)
        WHERE connection_id IS NOT NULL;
    CREATE UNIQUE INDEX connections_by_webhook_route ON connections
        (provider, webhook_route)
        WHERE webhook_route IS NOT NULL AND deleted = 0;
    CREATE INDEX connections_by_status ON connections
        (tenant_id, status, created_at DESC, id DESC)
        WHERE deleted = 0;
    CREATE INDEX connections_by_provider ON connections
        (tenant_id, provider, created_at DESC, id DESC)
        WHERE deleted = 0;
    CREATE INDEX connections_by_provider_status ON connections
        (tenant_id, provider, status, created_at DESC, id DESC)
        WHERE deleted = 0;
    CREATE TABLE retired_credentials (
        tenant_id TEXT NOT NULL,
        connection_id TEXT NOT NULL,
        version TEXT NOT NULL,
        retired_at TEXT NOT NULL,
        key_id TEXT,
        PRIMARY KEY (tenant_id, connection_id, version)
    ) WITHOUT ROWID;
    CREATE INDEX retired_credentials_by_key ON retired_credentials
        (key_id)
        WHERE key_id IS NOT NULL;
    CREATE TABLE record_streams (
        tenant_id TEXT NOT NULL,
        connection_id TEXT NOT NULL,
        model TEXT NOT NULL,
        last_seq INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, connection_id, model)
    ) WITHOUT ROWID;
    CREATE TABLE synced_records (
        record_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        action TEXT NOT NULL,
        payload_hash TEXT NOT NULL,
        first_seen_at TEXT NOT NULL,
        last_modified_at TEXT NOT NULL,
        seen_run TEXT NOT NULL DEFAULT '',
        payload TEXT NOT NULL,
        stream INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX synced_records_deleted ON synced_records
        (last_modified_at)
        WHERE action = 'DELETED';
    CREATE TABLE sync_schedules (
        tenant_id TEXT NOT NULL,
        connection_id TEXT NOT NULL,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        due_at TEXT,
        doc TEXT NOT NULL,
        PRIMARY KEY (tenant_id, connection_id, name)
    );
    CREATE INDEX sync_schedules_due ON sync_schedules (due_at) WHERE due_at IS NOT NULL;
    CREATE TABLE sync_runs (
        tenant_id TEXT NOT NULL,
        connection_id TEXT NOT NULL,
        id TEXT NOT NULL,
        sync TEXT NOT NULL,
        active INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        version INTEGER NOT NULL,
        doc TEXT NOT NULL,
        PRIMARY KEY (tenant_id, connection_id, id)
    );
    CREATE UNIQUE INDEX sync_runs_active ON sync_runs
        (tenant_id, connection_id, sync)
        WHERE active = 1;
    CREATE INDEX sync_runs_recent ON sync_runs
        (tenant_id, connection_id, sync, created_at DESC, id DESC);
    CREATE TABLE idempotency_keys (
        tenant_id TEXT NOT NULL,
        key TEXT NOT NULL,
        owner TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        doc TEXT NOT NULL,
        PRIMARY KEY (tenant_id, key)
    ) WITHOUT ROWID;
    CREATE TABLE connect_sessions (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        doc TEXT NOT NULL
    );
    CREATE INDEX connect_sessions_by_expiry ON connect_sessions (expires_at);
    CREATE INDEX connections_by_end_user ON connections
        (tenant_id, end_user_id, created_at DESC, id DESC)
        WHERE deleted = 0;
    CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at);
    CREATE TABLE record_seen_ids (
        tenant_id TEXT NOT NULL,
        connection_id TEXT NOT NULL,
        model TEXT NOT NULL,
        run_id TEXT NOT NULL,
        ids TEXT NOT NULL
    );
    CREATE INDEX record_seen_ids_by_run ON record_seen_ids
        (tenant_id, connection_id, model, run_id);
    CREATE TABLE record_stream_keys (
        id INTEGER PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        connection_id TEXT NOT NULL,
        model TEXT NOT NULL
    );
    CREATE UNIQUE INDEX record_stream_keys_by_name ON record_stream_keys
        (tenant_id, connection_id, model);
    CREATE UNIQUE INDEX synced_records_by_key ON synced_records (stream, record_id);
    CREATE UNIQUE INDEX synced_records_by_seq ON synced_records (stream, seq);
"""
