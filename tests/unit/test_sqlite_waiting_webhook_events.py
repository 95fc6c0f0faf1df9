"""The embedded store's query behind the sweep of webhook events still waiting to be processed
(``waiting_webhook_events``): a range of its partial index, and the events a file held before
the schema step that made it are found after it."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tether.adapters.sqlite import SqliteConnectionStore
from tether.adapters.sqlite.schema import MIGRATIONS, _utc_text, format_time
from tether.adapters.sqlite.webhook_events import _WAITING_AFTER_SQL, _WAITING_SQL
from tether.domain.models import WebhookEvent

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
# the schema step that adds the status column and the index of the waiting events
STEP = next(i for i, s in enumerate(MIGRATIONS, start=1) if "webhook_events_waiting" in s)


def test_the_waiting_events_query_reads_a_range_of_their_partial_index(tmp_path: Path) -> None:
    """The sweep's cost grows with the waiting events before the bound, not with every event
    kept for dedupe: the index holds the waiting ones only, in the order of the result."""
    path = tmp_path / "plan.sqlite3"
    SqliteConnectionStore(path).close()
    with closing(sqlite3.connect(path)) as db:
        plan = db.execute("EXPLAIN QUERY PLAN " + _WAITING_SQL, [format_time(T0), 500])
        details = [row[3] for row in plan.fetchall()]
        # a page after an event reads on from it in the same index
        after = [format_time(T0), format_time(T0), "webhook", "k", 500]
        paged = db.execute("EXPLAIN QUERY PLAN " + _WAITING_AFTER_SQL, after)
        paged_details = [row[3] for row in paged.fetchall()]
        (index_sql,) = db.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'webhook_events_waiting'"
        ).fetchone()
    assert len(details) == 1, details
    assert details[0] == "SEARCH webhook_events USING INDEX webhook_events_waiting (received_at<?)"
    assert len(paged_details) == 1, paged_details
    assert paged_details[0].startswith("SEARCH webhook_events USING INDEX webhook_events_waiting")
    assert "WHERE status IN ('received', 'enqueued')" in index_sql


def _event(key: str, *, minutes: int, status: str) -> WebhookEvent:
    return WebhookEvent(
        id=f"whe_{key}",
        provider="webhook",
        dedupe_key=f"conn_1/{key}",
        tenant_id="t1",
        connection_id="conn_1",
        received_at=T0 + timedelta(minutes=minutes),
        expires_at=T0 + timedelta(days=7),
        status=status,
        body='{"n": 1}',
    )


def test_events_stored_before_the_step_are_found_after_it(tmp_path: Path) -> None:
    """The step fills the new column from each stored record; a damaged record (not JSON)
    gets none, rather than failing the migration, and is never taken for a waiting one."""
    path = tmp_path / "old.sqlite3"
    old = [
        _event("waiting", minutes=2, status="enqueued"),
        _event("legacy", minutes=1, status="received"),
        _event("done", minutes=0, status="processed"),
        _event("unroutable", minutes=0, status="unroutable"),
    ]
    db = sqlite3.connect(path)
    try:
        db.create_function("tether_utc_text", 1, _utc_text, deterministic=True)
        for script in MIGRATIONS[: STEP - 1]:
            db.executescript(script)
        rows = [
            (e.provider, e.dedupe_key, format_time(e.expires_at), format_time(e.received_at))
            for e in old
        ]
        db.executemany(
            "INSERT INTO webhook_events (provider, dedupe_key, expires_at, received_at, doc) "
            "VALUES (?,?,?,?,?)",
            [(*row, e.model_dump_json()) for row, e in zip(rows, old, strict=True)],
        )
        db.execute(
            "INSERT INTO webhook_events (provider, dedupe_key, expires_at, received_at, doc) "
            "VALUES ('webhook', 'conn_1/damaged', ?, ?, '{\"status\": \"enqueued\", ')",
            (format_time(T0 + timedelta(days=7)), format_time(T0)),
        )
        db.execute(f"PRAGMA user_version = {STEP - 1:d}")
        db.commit()
    finally:
        db.close()

    store = SqliteConnectionStore(path)
    try:
        waiting = store.waiting_webhook_events(T0 + timedelta(hours=1))
        assert [(e.id, e.status, e.body) for e in waiting] == [
            ("whe_legacy", "received", ""),
            ("whe_waiting", "enqueued", ""),
        ]
    finally:
        store.close()
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        status = dict(db.execute("SELECT dedupe_key, status FROM webhook_events").fetchall())
    assert status == {
        "conn_1/waiting": "enqueued",
        "conn_1/legacy": "received",
        "conn_1/done": "processed",
        "conn_1/unroutable": "unroutable",
        "conn_1/damaged": None,
    }
