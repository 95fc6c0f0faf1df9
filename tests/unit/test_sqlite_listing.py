"""The embedded store's connection listing: one index range per page at any depth, for every
filter combination, and the migration that adds the filters' indexes to an existing file."""

from __future__ import annotations

import itertools
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tether.adapters.sqlite import SqliteConnectionStore
from tether.adapters.sqlite.connections import listing_sql
from tether.adapters.sqlite.schema import MIGRATIONS, _utc_text, format_time
from tether.domain.models import Connection
from tether.domain.status import ConnectionStatus

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
# The step that adds the filtered listing indexes, and the schema just before it.
LISTING_STEP = next(i for i, step in enumerate(MIGRATIONS) if "connections_by_status" in step)

_INDEX = {
    (False, False): "connections_by_tenant",
    (True, False): "connections_by_status",
    (False, True): "connections_by_provider",
    (True, True): "connections_by_provider_status",
}


def _plan(path: Path, sql: str, args: list[object]) -> list[str]:
    with sqlite3.connect(path) as db:
        details = [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql, args).fetchall()]
    db.close()
    return details


@pytest.mark.parametrize(
    ("status", "provider", "after"), list(itertools.product([False, True], repeat=3))
)
def test_every_listing_page_is_one_range_of_its_index(
    tmp_path: Path, status: bool, provider: bool, after: bool
) -> None:
    """Equality on the tenant and each filter, the cursor as the start of the range, the
    index order as the result order: a page costs ``limit`` entries however deep it is."""
    path = tmp_path / "plan.sqlite3"
    SqliteConnectionStore(path).close()
    args: list[object] = ["t1"] + ["error"] * status + ["xero"] * provider
    args += [format_time(T0), "conn_1"] * after + [51]
    details = _plan(path, listing_sql(status=status, provider=provider, after=after), args)
    assert len(details) == 1, details
    assert details[0].startswith(f"SEARCH connections USING INDEX {_INDEX[status, provider]} (")
    assert ("(created_at,id)<(?,?)" in details[0]) == after, details
    assert "TEMP B-TREE" not in details[0]  # no sort


def _connection(i: int, *, status: ConnectionStatus, provider: str) -> Connection:
    at = T0 + timedelta(minutes=i // 2)
    return Connection(
        id=f"conn_{i:02d}",
        tenant_id="t1",
        provider=provider,
        auth_mode="api_key",
        display_name=f"c{i}",
        status=status,
        created_at=at,
        updated_at=at,
        created_by="u1",
    )


def test_a_file_before_the_listing_step_gains_its_indexes_and_keeps_its_records(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.sqlite3"
    kept = [
        _connection(
            i,
            status=ConnectionStatus.ERROR if i % 2 else ConnectionStatus.ACTIVE,
            provider="xero" if i % 3 else "stripe",
        )
        for i in range(12)
    ]
    db = sqlite3.connect(path)
    db.create_function("tether_utc_text", 1, _utc_text, deterministic=True)
    for script in MIGRATIONS[:LISTING_STEP]:
        db.executescript(script)
    for c in kept:
        db.execute(
            "INSERT INTO connections (id, tenant_id, provider, status, created_at, version, "
            "deleted, doc) VALUES (?,?,?,?,?,?,?,?)",
            (
                c.id,
                "t1",
                c.provider,
                c.status.value,
                format_time(c.created_at),
                1,
                0,
                c.model_dump_json(),
            ),
        )
    db.execute(f"PRAGMA user_version = {LISTING_STEP:d}")
    db.commit()
    db.close()

    store = SqliteConnectionStore(path)
    try:
        newest_first = sorted(kept, key=lambda c: (c.created_at, c.id), reverse=True)
        for status, provider in itertools.product([None, "error"], [None, "xero"]):
            expected = [
                c.id
                for c in newest_first
                if status in (None, c.status.value) and provider in (None, c.provider)
            ]
            seen: list[str] = []
            cursor = None
            while True:
                page = store.list_connections(
                    "t1", status=status, provider=provider, limit=2, cursor=cursor
                )
                seen += [c.id for c in page.items]
                if (cursor := page.next_cursor) is None:
                    break
            assert seen == expected, (status, provider)
    finally:
        store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        names = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    db.close()
    assert set(_INDEX.values()) <= names
