"""Embedded store migrations: idempotent, concurrent-safe, and refusing a newer file."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.support.concurrency import together
from tether.adapters.sqlite import SqliteConnectionStore
from tether.adapters.sqlite.connections import _EXPIRING_AFTER, _EXPIRING_SQL
from tether.adapters.sqlite.migrations import apply_migrations
from tether.adapters.sqlite.schema import MIGRATIONS, _utc_text, format_time
from tether.domain.errors import ConfigurationError, Conflict
from tether.domain.models import Connection, Delivery, TenantSettings

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_reopening_keeps_the_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    SqliteConnectionStore(path).close()
    SqliteConnectionStore(path).close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_concurrent_first_opens_migrate_once(tmp_path: Path) -> None:
    path = tmp_path / "race.sqlite3"

    outcomes = together([lambda: SqliteConnectionStore(path)] * 6)
    stores = [f.result() for f in outcomes if f.exception() is None]
    for store in stores:
        store.close()
    assert [f.exception() for f in outcomes] == [None] * 6
    assert len(stores) == 6


def test_a_newer_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite3"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    db.close()
    with pytest.raises(ConfigurationError, match="newer than this code"):
        SqliteConnectionStore(path)


def _schema(db: sqlite3.Connection) -> tuple[set[tuple[str, str, str, str | None]], int]:
    """Every table and index (their SQL without whitespace) and the version."""
    rows = db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
    objects = {
        (t, n, tbl, None if sql is None else "".join(sql.split())) for t, n, tbl, sql in rows
    }
    return objects, db.execute("PRAGMA user_version").fetchone()[0]


def test_a_new_file_gets_the_schema_every_step_builds(tmp_path: Path) -> None:
    SqliteConnectionStore(tmp_path / "new.sqlite3").close()
    steps = [[s for s in script.split(";") if s.strip()] for script in MIGRATIONS]
    with (
        closing(sqlite3.connect(tmp_path / "new.sqlite3")) as new,
        closing(sqlite3.connect(tmp_path / "replayed.sqlite3", isolation_level=None)) as replayed,
    ):
        replayed.create_function("tether_utc_text", 1, _utc_text, deterministic=True)
        apply_migrations(replayed, steps, what="test")  # every step, one by one
        assert _schema(new) == _schema(replayed)
        assert _schema(new)[1] == len(MIGRATIONS)


def test_only_a_new_file_takes_the_fresh_schema_and_both_take_the_later_steps(
    tmp_path: Path,
) -> None:
    steps = [["CREATE TABLE a (x)"], ["ALTER TABLE a ADD COLUMN y"], ["CREATE TABLE b (x)"]]
    # Marked so that the test sees which way a file went (a real one equals the steps').
    fresh = (2, ["CREATE TABLE a (x, y, made_fresh)"])

    def columns(db: sqlite3.Connection) -> list[str]:
        return [row[1] for row in db.execute("PRAGMA table_info(a)")]

    with closing(sqlite3.connect(tmp_path / "new.sqlite3", isolation_level=None)) as new:
        assert apply_migrations(new, steps, what="test", fresh=fresh) == 3
        assert columns(new) == ["x", "y", "made_fresh"]
        assert new.execute("SELECT name FROM sqlite_master WHERE name = 'b'").fetchone()
    with closing(sqlite3.connect(tmp_path / "old.sqlite3", isolation_level=None)) as old:
        apply_migrations(old, steps[:1], what="test")
        assert apply_migrations(old, steps, what="test", fresh=fresh) == 3
        assert columns(old) == ["x", "y"]
        assert old.execute("SELECT name FROM sqlite_master WHERE name = 'b'").fetchone()


def test_pending_steps_land_together_or_not_at_all(tmp_path: Path) -> None:
    steps = [["CREATE TABLE a (x)"], ["CREATE TABLE b (x)", "INSERT INTO a VALUES (1)"]]
    with closing(sqlite3.connect(tmp_path / "m.sqlite3", isolation_level=None)) as db:
        broken = [*steps, ["CREATE TABLE a (y)"]]  # the third step fails: a exists
        with pytest.raises(sqlite3.OperationalError, match="already exists"):
            apply_migrations(db, broken, what="test")
        assert db.execute("PRAGMA user_version").fetchone()[0] == 0
        assert db.execute("SELECT name FROM sqlite_master").fetchall() == []
        assert apply_migrations(db, steps, what="test") == 2
        assert db.execute("SELECT x FROM a").fetchall() == [(1,)]
        # A later step applies alone, on top of what is there.
        assert apply_migrations(db, [*steps, ["INSERT INTO b VALUES (2)"]], what="test") == 3
        assert db.execute("SELECT x FROM a UNION ALL SELECT x FROM b").fetchall() == [(1,), (2,)]


def _connection(connection_id: str, tenant_id: str, expires_at: datetime | None) -> Connection:
    return Connection(
        id=connection_id,
        tenant_id=tenant_id,
        provider="google_drive",
        auth_mode="oauth2",
        display_name=connection_id,
        created_at=T0,
        updated_at=T0,
        created_by="u1",
        token_expires_at=expires_at,
    )


@contextmanager
def _file_at_version(path: Path, version: int) -> Iterator[sqlite3.Connection]:
    """A store file as the first ``version`` migrations left it, with the rows the block
    writes into it."""
    db = sqlite3.connect(path)
    try:
        db.create_function("tether_utc_text", 1, _utc_text, deterministic=True)
        for script in MIGRATIONS[:version]:
            db.executescript(script)
        yield db
        db.execute(f"PRAGMA user_version = {version}")
        db.commit()
    finally:
        db.close()


def _insert_connection(db: sqlite3.Connection, connection: Connection, status: str) -> None:
    """``connection``'s row in the columns of versions 2 to 5."""
    expires_at = connection.token_expires_at
    db.execute(
        "INSERT INTO connections (id, tenant_id, provider, status, created_at, version, "
        "deleted, webhook_token_hash, token_expires_at, doc) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (
            connection.id,
            connection.tenant_id,
            connection.provider,
            status,
            format_time(T0),
            1,
            0,
            None,
            None if expires_at is None else format_time(expires_at),
            connection.model_dump_json(),
        ),
    )


def _version_1_file(path: Path, docs: dict[str, tuple[str, str, bool]]) -> None:
    """A store file as the first schema left it: ``id -> (tenant, doc JSON, deleted)``."""
    with _file_at_version(path, 1) as db:
        for connection_id, (tenant_id, doc, deleted) in docs.items():
            db.execute(
                "INSERT INTO connections (id, tenant_id, provider, status, created_at, version, "
                "deleted, webhook_token_hash, doc) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    connection_id,
                    tenant_id,
                    "google_drive",
                    "active",
                    format_time(T0),
                    1,
                    deleted,
                    None,
                    doc,
                ),
            )


def test_version_1_connections_with_an_expiry_are_found_after_migrating(tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite3"
    zoned = (T0 + timedelta(minutes=5, microseconds=7)).astimezone(timezone(timedelta(hours=5)))
    naive = _connection("conn_naive", "t3", None).model_dump(mode="json")
    naive["token_expires_at"] = "2026-03-01T12:03:00"  # no zone: taken as UTC
    odd = _connection("conn_odd", "t3", None).model_dump(mode="json")
    odd["token_expires_at"] = "not a time"  # unreadable: left out rather than failing
    docs = {
        "conn_soon": ("t1", _connection("conn_soon", "t1", T0).model_dump_json(), False),
        "conn_zoned": ("t2", _connection("conn_zoned", "t2", zoned).model_dump_json(), False),
        "conn_naive": ("t3", json.dumps(naive), False),
        "conn_odd": ("t3", json.dumps(odd), False),
        "conn_late": (
            "t1",
            _connection("conn_late", "t1", T0 + timedelta(days=1)).model_dump_json(),
            False,
        ),
        "conn_none": ("t1", _connection("conn_none", "t1", None).model_dump_json(), False),
        "conn_gone": ("t2", _connection("conn_gone", "t2", T0).model_dump_json(), True),
    }
    assert '"token_expires_at":"2026-03-01T12:00:00Z"' in docs["conn_soon"][1]
    _version_1_file(path, docs)

    store = SqliteConnectionStore(path)
    try:
        due = store.list_expiring(before=T0 + timedelta(hours=1))
        assert [c.id for c in due.items] == ["conn_soon", "conn_naive", "conn_zoned"]
        assert due.items[2] == Connection.model_validate_json(docs["conn_zoned"][1])
        # the migrated row stays in step with later writes
        soon = store.get_connection("t1", "conn_soon")
        assert soon is not None
        store.update_connection(
            soon.model_copy(update={"token_expires_at": T0 + timedelta(hours=2)}),
            expected_version=1,
        )
        assert [c.id for c in store.list_expiring(before=T0 + timedelta(hours=1)).items] == [
            "conn_naive",
            "conn_zoned",
        ]
    finally:
        store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        column = dict(db.execute("SELECT id, token_expires_at FROM connections").fetchall())
    db.close()
    assert column == {
        "conn_soon": format_time(T0 + timedelta(hours=2)),
        "conn_zoned": "2026-03-01T12:05:00.000007Z",
        "conn_naive": "2026-03-01T12:03:00.000000Z",
        "conn_odd": None,
        "conn_late": "2026-03-02T12:00:00.000000Z",
        "conn_none": None,
        "conn_gone": "2026-03-01T12:00:00.000000Z",
    }


def test_version_2_file_gains_rate_buckets_and_keeps_its_records(tmp_path: Path) -> None:
    path = tmp_path / "v2.sqlite3"
    kept = _connection("conn_kept", "t1", T0)
    with _file_at_version(path, 2) as db:
        _insert_connection(db, kept, "active")
    with closing(sqlite3.connect(path)) as db:
        tables = db.execute("SELECT name FROM sqlite_master WHERE name = 'rate_buckets'")
        assert tables.fetchall() == []

    store = SqliteConnectionStore(path)
    try:
        assert store.get_connection("t1", "conn_kept") == kept
        assert [c.id for c in store.list_expiring(before=T0).items] == ["conn_kept"]
        assert store.acquire_rate("rate:conn_kept", per_minute=60, burst=1, now=T0) == 0.0
        assert store.acquire_rate("rate:conn_kept", per_minute=60, burst=1, now=T0) == 1.0
    finally:
        store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        rows = db.execute("SELECT key, tokens, updated_at FROM rate_buckets").fetchall()
    db.close()
    assert rows == [("rate:conn_kept", 0.0, format_time(T0))]


@pytest.mark.parametrize(("after", "args"), [("", ["b", 3]), (_EXPIRING_AFTER, ["a", "c", "b", 3])])
def test_expiring_query_is_served_by_the_expiry_index(
    tmp_path: Path, after: str, args: list[object]
) -> None:
    """The sweep reads a range of the partial index, never the whole table: its cost grows
    with the number of matches, not of connections."""
    path = tmp_path / "plan.sqlite3"
    SqliteConnectionStore(path).close()
    with sqlite3.connect(path) as db:
        plan = db.execute("EXPLAIN QUERY PLAN " + _EXPIRING_SQL.format(after=after), args)
        details = [row[3] for row in plan.fetchall()]
    db.close()
    assert len(details) == 1, details
    assert details[0].startswith("SEARCH connections USING INDEX connections_by_token_expiry ")
    assert "TEMP B-TREE" not in details[0]  # index order is the result order: no sort


def test_version_3_file_gains_settings_and_deliveries_and_keeps_its_records(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v3.sqlite3"
    kept = _connection("conn_kept", "t1", None)
    with _file_at_version(path, 3) as db:
        _insert_connection(db, kept, "pending")

    store = SqliteConnectionStore(path)
    try:
        assert store.get_connection("t1", "conn_kept") == kept
        assert store.get_tenant_settings("t1") is None
        store.put_tenant_settings(
            TenantSettings(tenant_id="t1", notify_url="https://h.example", updated_at=T0),
            expected_version=None,
        )
        store.record_delivery(
            Delivery(
                id="evt_1",
                tenant_id="t1",
                event_type="tether.test",
                created_at=T0,
                updated_at=T0,
            )
        )
        assert [d.id for d in store.list_deliveries("t1")] == ["evt_1"]
    finally:
        store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    db.close()


@pytest.mark.parametrize(
    ("sql", "args", "index"),
    [
        (
            "SELECT doc FROM deliveries WHERE tenant_id = ? "
            "ORDER BY created_at DESC, id DESC LIMIT ?",
            ["t1", 50],
            "deliveries_by_tenant",
        ),
        (
            "SELECT doc FROM deliveries WHERE tenant_id = ? AND connection_id = ? "
            "ORDER BY created_at DESC, id DESC LIMIT ?",
            ["t1", "conn_1", 50],
            "deliveries_by_connection",
        ),
    ],
)
def test_delivery_listing_is_served_by_an_index(
    tmp_path: Path, sql: str, args: list[object], index: str
) -> None:
    path = tmp_path / "plan.sqlite3"
    SqliteConnectionStore(path).close()
    with sqlite3.connect(path) as db:
        details = [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql, args).fetchall()]
    db.close()
    assert len(details) == 1, details
    assert details[0].startswith(f"SEARCH deliveries USING INDEX {index} ")
    assert "TEMP B-TREE" not in details[0]


def test_version_5_file_gains_unique_webhook_routes_and_keeps_its_records(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v5.sqlite3"
    kept = _connection("conn_kept", "t1", None)
    with _file_at_version(path, 5) as db:
        _insert_connection(db, kept, "pending")

    store = SqliteConnectionStore(path)
    try:
        assert store.get_connection("t1", "conn_kept") == kept
        routed = _connection("conn_routed", "t1", None).model_copy(update={"webhook_route": "T123"})
        store.create_connection(routed)
        found = store.find_connection_by_route("google_drive", "T123")
        assert found is not None and found.id == "conn_routed"
        with pytest.raises(Conflict) as refused:
            store.create_connection(routed.model_copy(update={"id": "conn_twin"}))
        assert refused.value.code == "WEBHOOK_ROUTE_TAKEN"
    finally:
        store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        plan = db.execute(
            "EXPLAIN QUERY PLAN SELECT doc FROM connections "
            "WHERE provider = ? AND webhook_route = ? AND deleted = 0",
            ("google_drive", "T123"),
        ).fetchall()
    db.close()
    assert "connections_by_webhook_route" in plan[0][3], plan


def _rate_rows(path: Path) -> dict[str, str | None]:
    with closing(sqlite3.connect(path)) as db:
        return dict(db.execute("SELECT key, expires_at FROM rate_buckets").fetchall())


def test_version_7_rate_buckets_expire_a_day_after_their_last_grant(tmp_path: Path) -> None:
    """Buckets written before they knew when they are full again are given a day."""
    path = tmp_path / "v7.sqlite3"
    with _file_at_version(path, 7) as db:
        db.execute(
            "INSERT INTO rate_buckets (key, tokens, updated_at) VALUES (?,?,?)",
            ("rk_old", 0.5, format_time(T0 + timedelta(microseconds=123456))),
        )

    store = SqliteConnectionStore(path)
    try:
        assert _rate_rows(path) == {
            "rk_old": format_time(T0 + timedelta(days=1, microseconds=123000))
        }
        assert store.purge_expired(now=T0 + timedelta(hours=23)) == 0
        assert store.purge_expired(now=T0 + timedelta(days=1, seconds=1)) == 1
        assert _rate_rows(path) == {}
    finally:
        store.close()


def test_housekeeping_deletes_idle_rate_buckets_once_full_again(tmp_path: Path) -> None:
    """The embedded store's rate buckets table stays as large as the buckets in use: each
    granted request stamps when its bucket is full again, and housekeeping deletes it then."""
    path = tmp_path / "buckets.sqlite3"
    store = SqliteConnectionStore(path)
    try:
        for n in range(50):
            store.acquire_rate(f"rk_{n}", per_minute=60, burst=5, now=T0)
        store.acquire_rate("rk_never", per_minute=0, burst=5, now=T0)  # never refills
        rows = _rate_rows(path)
        assert rows["rk_0"] == format_time(T0 + timedelta(seconds=1))
        assert rows["rk_never"] is None
        assert store.purge_expired(now=T0) == 0
        assert store.purge_expired(now=T0 + timedelta(seconds=1)) == 50
        assert _rate_rows(path) == {"rk_never": None}
    finally:
        store.close()


def test_version_13_records_keep_their_changes_and_marks_under_stream_numbers(
    tmp_path: Path,
) -> None:
    from tether.adapters.sqlite.database import SqliteDatabase
    from tether.adapters.sqlite.records import SqliteRecords
    from tether.domain.synced_records import IncomingRecord

    path = tmp_path / "v13.sqlite3"
    at = format_time(T0)
    with _file_at_version(path, 13) as db:
        for tenant, model, record_id, seq, seen in [
            ("t1", "Invoice", "a", 1, "run_1"),
            ("t1", "Invoice", "b", 2, ""),
            ("t1", "Contact", "a", 1, ""),
            ("t2", "Invoice", "a", 1, ""),
        ]:
            db.execute(
                "INSERT INTO synced_records (tenant_id, connection_id, model, record_id, seq, "
                "action, payload_hash, first_seen_at, last_modified_at, seen_run, payload) "
                "VALUES (?, 'c1', ?, ?, ?, 'ADDED', 'h', ?, ?, ?, ?)",
                (tenant, model, record_id, seq, at, at, seen, json.dumps({"id": record_id})),
            )
        db.executemany(
            "INSERT INTO record_streams VALUES (?, 'c1', ?, ?)",
            [("t1", "Invoice", 2), ("t1", "Contact", 1), ("t2", "Invoice", 1)],
        )
    database = SqliteDatabase(path)
    records = SqliteRecords(database)
    try:
        page = records.read_changes("t1", "c1", "Invoice")
        assert [(r.id, r.action) for r in page.records] == [("a", "ADDED"), ("b", "ADDED")]
        assert [r.id for r in records.read_changes("t1", "c1", "Contact").records] == ["a"]
        assert [r.id for r in records.read_changes("t2", "c1", "Invoice").records] == ["a"]
        # the run that marked "a" before the upgrade goes on: "b" was not seen
        records.write_records("t1", "c1", "Invoice", [], now=T0, seen_by="run_1")
        assert records.delete_unseen("t1", "c1", "Invoice", run_id="run_1", now=T0) == 1
        later = records.read_changes("t1", "c1", "Invoice", cursor=page.next_cursor)
        assert [(r.id, r.action) for r in later.records] == [("b", "DELETED")]
        result = records.write_records("t1", "c1", "Invoice", [IncomingRecord("c")], now=T0)
        assert result.added == 1
        assert [r.id for r in records.read_changes("t1", "c1", "Invoice").records] == [
            "a",
            "b",
            "c",
        ]
    finally:
        database.close()


def test_version_16_records_lose_the_names_their_stream_number_stands_for(
    tmp_path: Path,
) -> None:
    from tether.adapters.sqlite.database import SqliteDatabase
    from tether.adapters.sqlite.records import SqliteRecords
    from tether.domain.synced_records import IncomingRecord, encode_change_cursor

    path = tmp_path / "v16.sqlite3"
    at = format_time(T0)
    with _file_at_version(path, 16) as db:
        db.execute("INSERT INTO record_stream_keys VALUES (7, 't1', 'c1', 'Invoice')")
        db.execute("INSERT INTO record_streams VALUES ('t1', 'c1', 'Invoice', 1)")
        db.execute(
            "INSERT INTO synced_records (stream, tenant_id, connection_id, model, record_id, "
            "seq, action, payload_hash, first_seen_at, last_modified_at, seen_run, payload) "
            "VALUES (7, 't1', 'c1', 'Invoice', 'a', 1, 'ADDED', 'h', ?, ?, '', ?)",
            (at, at, json.dumps({"id": "a"})),
        )
    database = SqliteDatabase(path)
    records = SqliteRecords(database)
    try:
        columns = {row[1] for row in database.db().execute("PRAGMA table_info(synced_records)")}
        assert columns.isdisjoint({"tenant_id", "connection_id", "model"})
        assert "stream" in columns
        records.write_records("t1", "c1", "Invoice", [IncomingRecord("b", {"id": "b"})], now=T0)
        page = records.read_changes("t1", "c1", "Invoice")
        assert [(r.id, r.payload, r.cursor) for r in page.records] == [
            ("a", {"id": "a"}, encode_change_cursor(1)),
            ("b", {"id": "b"}, encode_change_cursor(2)),
        ]
    finally:
        database.close()


@pytest.fixture
def sqlite_3_34(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process's SQLite library as one older than ALTER TABLE ... DROP COLUMN."""
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 34, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.34.1")


@pytest.mark.usefixtures("sqlite_3_34")
def test_an_old_sqlite_library_is_told_which_version_a_pending_step_needs(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v16.sqlite3"
    with _file_at_version(path, 16):
        pass
    with pytest.raises(ConfigurationError, match=r"needs SQLite 3\.35\.0 or newer") as refused:
        SqliteConnectionStore(path)
    assert "3.34.1" in refused.value.message
    with closing(sqlite3.connect(path)) as db:  # left as it was
        assert db.execute("PRAGMA user_version").fetchone()[0] == 16
        columns = {row[1] for row in db.execute("PRAGMA table_info(synced_records)")}
        assert {"tenant_id", "connection_id", "model"} <= columns


@pytest.mark.usefixtures("sqlite_3_34")
def test_an_old_sqlite_library_still_opens_a_new_file_and_a_migrated_one(tmp_path: Path) -> None:
    SqliteConnectionStore(tmp_path / "new.sqlite3").close()  # the fresh schema skips step 17
    with _file_at_version(tmp_path / "v17.sqlite3", 17):
        pass
    SqliteConnectionStore(tmp_path / "v17.sqlite3").close()
    for name in ("new.sqlite3", "v17.sqlite3"):
        with closing(sqlite3.connect(tmp_path / name)) as db:
            assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
