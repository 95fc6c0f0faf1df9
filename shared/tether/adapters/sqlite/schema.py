"""Schema of the embedded store: migrations applied in order (see ``migrations.py``).

Each record is kept whole as JSON (``doc``) next to the few columns queries filter or sort
on, so adding a field to a model needs no migration; adding a query does. Times in columns
are :func:`format_time` text, so string order is time order.

A step is SQL only. When a step derives a column from the stored JSON it calls
``tether_utc_text(value)``, a function :func:`migrate` registers on the connection: it turns
the ISO form pydantic writes (``2026-03-01T12:00:00Z``, ``…12:00:00.123456+05:00``) into the
fixed-width column form exactly, which SQLite's own date functions cannot (they keep
milliseconds only).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from tether.adapters.sqlite.fresh_schema import FRESH_SCHEMA, FRESH_VERSION
from tether.adapters.sqlite.migrations import apply_migrations
from tether.domain.clock import sortable_utc

__all__ = ["MIGRATIONS", "format_time", "migrate"]


format_time = sortable_utc


def _utc_text(value: object) -> str | None:
    """``tether_utc_text``: a stored ISO time as :func:`format_time` text. Total, so that a
    migration never fails on an odd record: a time without a zone is taken as UTC (Tether's
    clock), anything unreadable becomes NULL."""
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    return format_time(at if at.tzinfo is not None else at.replace(tzinfo=UTC))


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
    # 2: token expiry of connections, for the OAuth refresh sweep (list_expiring); existing
    # records are backfilled from their JSON
    """
    ALTER TABLE connections ADD COLUMN token_expires_at TEXT;
    UPDATE connections
        SET token_expires_at = tether_utc_text(json_extract(doc, '$.token_expires_at'))
        WHERE json_extract(doc, '$.token_expires_at') IS NOT NULL;
    CREATE INDEX connections_by_token_expiry ON connections (token_expires_at, id)
        WHERE deleted = 0 AND token_expires_at IS NOT NULL;
    """,
    # 3: token buckets of the shared outbound rate limit (acquire_rate), one per rate key
    """
    CREATE TABLE rate_buckets (
        key TEXT PRIMARY KEY,
        tokens REAL NOT NULL,
        updated_at TEXT NOT NULL
    );
    """,
    # 4: tenant settings (notify URL, sealed signing secrets) and event deliveries to tenants
    """
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
    CREATE INDEX deliveries_by_tenant ON deliveries (tenant_id, created_at DESC, id DESC);
    CREATE INDEX deliveries_by_connection
        ON deliveries (tenant_id, connection_id, created_at DESC, id DESC);
    """,
    # 5: the connection and receipt time of webhook events, for a connection's recent inbound
    # events (list_webhook_events); existing records are backfilled from their JSON
    """
    ALTER TABLE webhook_events ADD COLUMN tenant_id TEXT;
    ALTER TABLE webhook_events ADD COLUMN connection_id TEXT;
    ALTER TABLE webhook_events ADD COLUMN received_at TEXT;
    UPDATE webhook_events
        SET tenant_id = json_extract(doc, '$.tenant_id'),
            connection_id = json_extract(doc, '$.connection_id'),
            received_at = tether_utc_text(json_extract(doc, '$.received_at'));
    CREATE INDEX webhook_events_by_connection
        ON webhook_events (tenant_id, connection_id, received_at DESC)
        WHERE connection_id IS NOT NULL;
    """,
    # 6: the account id app-level webhooks are routed by (find_connection_by_route), unique per
    # provider among live connections; a new field, so there is nothing to backfill
    """
    ALTER TABLE connections ADD COLUMN webhook_route TEXT;
    CREATE UNIQUE INDEX connections_by_webhook_route ON connections (provider, webhook_route)
        WHERE webhook_route IS NOT NULL AND deleted = 0;
    """,
    # 7: a tenant's live connections by status, by provider and by both, newest first, so a
    # filtered page (list_connections) reads a range of one index from the cursor on instead
    # of scanning the tenant; partial, so soft-deleted connections take no room in them
    """
    CREATE INDEX connections_by_status ON connections
        (tenant_id, status, created_at DESC, id DESC) WHERE deleted = 0;
    CREATE INDEX connections_by_provider ON connections
        (tenant_id, provider, created_at DESC, id DESC) WHERE deleted = 0;
    CREATE INDEX connections_by_provider_status ON connections
        (tenant_id, provider, status, created_at DESC, id DESC) WHERE deleted = 0;
    """,
    # 8: when a rate bucket is full again, after which housekeeping deletes it (a missing
    # bucket starts full). Existing buckets do not know their rate: a day after their last
    # grant, which at any rate of one token a day or more means full.
    """
    ALTER TABLE rate_buckets ADD COLUMN expires_at TEXT;
    UPDATE rate_buckets
        SET expires_at = tether_utc_text(strftime('%Y-%m-%dT%H:%M:%fZ', updated_at, '+1 day'));
    """,
    # 9: tombstones of retired credential versions of the "db" secret store (a SHA-256 of the
    # envelope, or '*' for every version of a deleted connection); nothing to backfill
    """
    CREATE TABLE retired_credentials (
        tenant_id TEXT NOT NULL,
        connection_id TEXT NOT NULL,
        version TEXT NOT NULL,
        retired_at TEXT NOT NULL,
        PRIMARY KEY (tenant_id, connection_id, version)
    ) WITHOUT ROWID;
    """,
    # 10: the key that sealed a retired version, so its tombstone goes with the key
    # (`tether keys retire`); tombstones written before stay
    """
    ALTER TABLE retired_credentials ADD COLUMN key_id TEXT;
    CREATE INDEX retired_credentials_by_key ON retired_credentials (key_id)
        WHERE key_id IS NOT NULL;
    """,
    # 11: synced records and each stream's change sequence (the records store), the syncs'
    # schedules and their runs; new tables, nothing to backfill
    """
    CREATE TABLE record_streams (
        tenant_id TEXT NOT NULL,
        connection_id TEXT NOT NULL,
        model TEXT NOT NULL,
        last_seq INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, connection_id, model)
    ) WITHOUT ROWID;
    CREATE TABLE synced_records (
        tenant_id TEXT NOT NULL,
        connection_id TEXT NOT NULL,
        model TEXT NOT NULL,
        record_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        action TEXT NOT NULL,
        payload_hash TEXT NOT NULL,
        first_seen_at TEXT NOT NULL,
        last_modified_at TEXT NOT NULL,
        seen_run TEXT NOT NULL DEFAULT '',
        payload TEXT NOT NULL
    );
    CREATE UNIQUE INDEX synced_records_by_key
        ON synced_records (tenant_id, connection_id, model, record_id);
    CREATE UNIQUE INDEX synced_records_by_seq
        ON synced_records (tenant_id, connection_id, model, seq);
    CREATE INDEX synced_records_unseen
        ON synced_records (tenant_id, connection_id, model, seen_run)
        WHERE action <> 'DELETED';
    CREATE INDEX synced_records_deleted
        ON synced_records (last_modified_at) WHERE action = 'DELETED';
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
    CREATE UNIQUE INDEX sync_runs_active ON sync_runs (tenant_id, connection_id, sync)
        WHERE active = 1;
    CREATE INDEX sync_runs_recent
        ON sync_runs (tenant_id, connection_id, sync, created_at DESC, id DESC);
    """,
    # 12: idempotency keys of action runs, per tenant (claimed, then done with the answer)
    """
    CREATE TABLE idempotency_keys (
        tenant_id TEXT NOT NULL,
        key TEXT NOT NULL,
        owner TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        doc TEXT NOT NULL,
        PRIMARY KEY (tenant_id, key)
    ) WITHOUT ROWID;
    """,
    # 13: connect sessions (one end user's short-lived browser access; the record holds the
    # hash of the token's secret), and the end user a connection belongs to, filled from the
    # stored records, with the index of a tenant's live connections of one end user
    """
    CREATE TABLE connect_sessions (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        doc TEXT NOT NULL
    );
    CREATE INDEX connect_sessions_by_expiry ON connect_sessions (expires_at);
    ALTER TABLE connections ADD COLUMN end_user_id TEXT;
    UPDATE connections SET end_user_id = json_extract(doc, '$.end_user_id');
    CREATE INDEX connections_by_end_user ON connections
        (tenant_id, end_user_id, created_at DESC, id DESC) WHERE deleted = 0;
    """,
    # 14: idempotency keys by expiry, for housekeeping's purge of keys past their 24 hours
    """
    CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at);
    """,
    # 15: a full run notes the ids it saw a batch to a row, no longer a mark on every
    # record (a run over unchanged data then writes nothing per record); the index of the
    # per-record marks goes (a run going on across this step still has its marks read)
    """
    DROP INDEX synced_records_unseen;
    CREATE TABLE record_seen_ids (
        tenant_id TEXT NOT NULL,
        connection_id TEXT NOT NULL,
        model TEXT NOT NULL,
        run_id TEXT NOT NULL,
        ids TEXT NOT NULL
    );
    CREATE INDEX record_seen_ids_by_run
        ON record_seen_ids (tenant_id, connection_id, model, run_id);
    """,
    # 16: a number per records stream, which the records' indexes hold instead of the
    # three names (narrower entries, cheaper writes); existing records are numbered
    """
    CREATE TABLE record_stream_keys (
        id INTEGER PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        connection_id TEXT NOT NULL,
        model TEXT NOT NULL
    );
    CREATE UNIQUE INDEX record_stream_keys_by_name
        ON record_stream_keys (tenant_id, connection_id, model);
    INSERT INTO record_stream_keys (tenant_id, connection_id, model)
        SELECT DISTINCT tenant_id, connection_id, model FROM synced_records;
    ALTER TABLE synced_records ADD COLUMN stream INTEGER NOT NULL DEFAULT 0;
    UPDATE synced_records SET stream = (SELECT k.id FROM record_stream_keys AS k
        WHERE k.tenant_id = synced_records.tenant_id
        AND k.connection_id = synced_records.connection_id
        AND k.model = synced_records.model);
    DROP INDEX synced_records_by_key;
    DROP INDEX synced_records_by_seq;
    CREATE UNIQUE INDEX synced_records_by_key ON synced_records (stream, record_id);
    CREATE UNIQUE INDEX synced_records_by_seq ON synced_records (stream, seq);
    """,
    # 17: a synced record's stream is its number alone: the tenant, connection and model
    # names, which every record repeated, go (a first run writes a seventh fewer bytes)
    """
    ALTER TABLE synced_records DROP COLUMN tenant_id;
    ALTER TABLE synced_records DROP COLUMN connection_id;
    ALTER TABLE synced_records DROP COLUMN model;
    """,
    # 18: the status of webhook events, and the events still waiting to be processed by
    # receipt time, for the sweep that finds those whose task was lost
    # (waiting_webhook_events); partial, so it holds the few waiting events only. Existing
    # records are backfilled from their JSON (a damaged one gets NULL: never waiting)
    """
    ALTER TABLE webhook_events ADD COLUMN status TEXT;
    UPDATE webhook_events
        SET status = CASE WHEN json_valid(doc) THEN json_extract(doc, '$.status') END;
    CREATE INDEX webhook_events_waiting ON webhook_events (received_at, provider, dedupe_key)
        WHERE status IN ('received', 'enqueued');
    """,
)


# The steps an older SQLite library cannot run, and the oldest one that can: ALTER TABLE ...
# DROP COLUMN came with 3.35.0. (A new file is created from the fresh schema and skips them.)
NEEDS_SQLITE: dict[int, tuple[int, int, int]] = {17: (3, 35, 0)}


def migrate(db: sqlite3.Connection) -> int:
    """Bring the store file to the newest schema; returns the resulting version. A new file
    is created from :mod:`.fresh_schema` (the steps' result, at once), then takes any later
    step."""
    db.create_function("tether_utc_text", 1, _utc_text, deterministic=True)
    return apply_migrations(
        db,
        [_statements(script) for script in MIGRATIONS],
        what="store",
        fresh=(FRESH_VERSION, _statements(FRESH_SCHEMA)),
        needs=NEEDS_SQLITE,
    )


def _statements(script: str) -> list[str]:
    return [st for st in script.split(";") if st.strip()]
