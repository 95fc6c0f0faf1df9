"""Backends the contract suites run against. The GCP adapters add their params here, against
the emulators, and every test in this folder runs on them unchanged."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tether.adapters.db_secrets import DbSecretStore, MemoryRetiredVersions, RetiredVersions
from tether.adapters.sqlite import (
    SqliteAuditLog,
    SqliteConnections,
    SqliteConnectionStore,
    SqliteConnectSessions,
    SqliteDeliveries,
    SqliteLeases,
    SqliteOAuthStates,
    SqlitePurge,
    SqliteRateBuckets,
    SqliteRecords,
    SqliteSyncState,
    SqliteTenantSettings,
    SqliteWebhookEvents,
)
from tether.adapters.sqlite.retired_versions import SqliteRetiredVersions
from tether.crypto import Keyring, Sealer
from tether.domain.clock import FixedClock
from tether.domain.retention import Retention
from tether.ports import (
    AuditLog,
    ConnectionRepository,
    ConnectionStore,
    ConnectSessionRepository,
    DeliveryRepository,
    ExpiredRecordPurge,
    LeaseStore,
    OAuthStateRepository,
    RateBuckets,
    RecordStore,
    SecretStore,
    SyncStateStore,
    TenantSettingsRepository,
    WebhookEventRepository,
)

if TYPE_CHECKING:
    from tether.adapters.firestore import FirestoreConnectionStore


@dataclass(frozen=True)
class Backend:
    """One record backend, and the adapter of each record port over it. The ports of one
    backend share its storage (the SQLite file, the Firestore database), so what one writes
    the others see: a change's audit entries are listed by the audit log, the purge removes
    every kind. ``store`` is the facade of them all, as the composition root builds it."""

    name: str
    store: ConnectionStore
    connections: ConnectionRepository
    audit_log: AuditLog
    oauth_states: OAuthStateRepository
    connect_sessions: ConnectSessionRepository
    webhook_events: WebhookEventRepository
    leases: LeaseStore
    rate_buckets: RateBuckets
    tenant_settings: TenantSettingsRepository
    deliveries: DeliveryRepository
    records: RecordStore
    sync_state: SyncStateStore
    purge: ExpiredRecordPurge


def _sqlite(store: SqliteConnectionStore) -> Backend:
    """Each port by its own repository over the facade's file: the suites test the
    repositories themselves, and the facade is only their sum."""
    database = store.database
    return Backend(
        name="sqlite",
        store=store,
        connections=SqliteConnections(database),
        audit_log=SqliteAuditLog(database),
        oauth_states=SqliteOAuthStates(database),
        connect_sessions=SqliteConnectSessions(database),
        webhook_events=SqliteWebhookEvents(database),
        leases=SqliteLeases(database),
        rate_buckets=SqliteRateBuckets(database),
        tenant_settings=SqliteTenantSettings(database),
        deliveries=SqliteDeliveries(database),
        records=SqliteRecords(database),
        sync_state=SqliteSyncState(database),
        purge=SqlitePurge(database),
    )


def _firestore(store: FirestoreConnectionStore) -> Backend:
    """Each port by its own repository over the facade's client, as for SQLite."""
    from tether.adapters import firestore as fs

    database = store.database
    return Backend(
        name="firestore",
        store=store,
        connections=fs.FirestoreConnections(database),
        audit_log=fs.FirestoreAuditLog(database),
        oauth_states=fs.FirestoreOAuthStates(database),
        connect_sessions=fs.FirestoreConnectSessions(database),
        webhook_events=fs.FirestoreWebhookEvents(database),
        leases=fs.FirestoreLeases(database),
        rate_buckets=fs.FirestoreRateBuckets(database),
        tenant_settings=fs.FirestoreTenantSettings(database),
        deliveries=fs.FirestoreDeliveries(database),
        records=fs.FirestoreRecords(database),
        sync_state=fs.FirestoreSyncState(database),
        purge=fs.FirestorePurge(database),
    )


@pytest.fixture(params=["sqlite", "firestore"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        sqlite_store = SqliteConnectionStore(tmp_path / "store.sqlite3")
        yield _sqlite(sqlite_store)
        sqlite_store.close()
    elif request.param == "firestore":
        from tether.adapters.firestore import FirestoreConnectionStore

        # a fresh client on an emptied emulator database (tests/fixtures/firestore.py)
        client = request.getfixturevalue("firestore_client")
        yield _firestore(FirestoreConnectionStore(client))


@pytest.fixture
def store(backend: Backend) -> ConnectionStore:
    return backend.store


@pytest.fixture
def connections(backend: Backend) -> ConnectionRepository:
    return backend.connections


@pytest.fixture
def audit_log(backend: Backend) -> AuditLog:
    return backend.audit_log


@pytest.fixture
def oauth_states(backend: Backend) -> OAuthStateRepository:
    return backend.oauth_states


@pytest.fixture
def connect_sessions(backend: Backend) -> ConnectSessionRepository:
    return backend.connect_sessions


@pytest.fixture
def webhook_events(backend: Backend) -> WebhookEventRepository:
    return backend.webhook_events


@pytest.fixture
def leases(backend: Backend) -> LeaseStore:
    return backend.leases


@pytest.fixture
def rate_buckets(backend: Backend) -> RateBuckets:
    return backend.rate_buckets


@pytest.fixture
def tenant_settings(backend: Backend) -> TenantSettingsRepository:
    return backend.tenant_settings


@pytest.fixture
def deliveries(backend: Backend) -> DeliveryRepository:
    return backend.deliveries


@pytest.fixture
def purge(backend: Backend) -> ExpiredRecordPurge:
    return backend.purge


@pytest.fixture
def records(backend: Backend) -> RecordStore:
    return backend.records


@pytest.fixture
def sync_state(backend: Backend) -> SyncStateStore:
    return backend.sync_state


@pytest.fixture(params=["sqlite-kept", "sqlite-day", "firestore-kept", "firestore-day"])
def records_and_purge(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[RecordStore, ExpiredRecordPurge, Retention]]:
    """A records store and the purge of its backend, with the default retention (deleted
    records kept) or one that keeps them a day."""
    day = request.param.endswith("-day")
    retention = Retention(deleted_records=timedelta(days=1)) if day else Retention()
    if request.param.startswith("sqlite"):
        sqlite_store = SqliteConnectionStore(tmp_path / "store.sqlite3", retention=retention)
        yield SqliteRecords(sqlite_store.database), sqlite_store, retention
        sqlite_store.close()
        return
    from tether.adapters import firestore as fs

    client = request.getfixturevalue("firestore_client")
    database = fs.FirestoreDatabase(client)
    yield (
        fs.FirestoreRecords(database, retention=retention),
        fs.FirestorePurge(database),
        retention,
    )


@pytest.fixture(params=["memory", "sqlite", "firestore"])
def retired_versions(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RetiredVersions]:
    """Every place the db secret store keeps its tombstones; ``memory`` is the one unit tests
    use, so it passes the same contract."""
    if request.param == "memory":
        yield MemoryRetiredVersions()
    elif request.param == "sqlite":
        backend = SqliteRetiredVersions(tmp_path / "store.sqlite3")
        yield backend
        backend.close()
    elif request.param == "firestore":
        from tether.adapters.firestore.retired_versions import FirestoreRetiredVersions

        yield FirestoreRetiredVersions(request.getfixturevalue("firestore_client"))


@pytest.fixture(params=["memory", "sqlite", "firestore"])
def retired_versions_on_a_clock(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[RetiredVersions, FixedClock]]:
    """Each place tombstones are kept, stamping them by a clock the test moves."""
    clock = FixedClock(datetime(2020, 1, 1, tzinfo=UTC))
    if request.param == "memory":
        yield MemoryRetiredVersions(clock=clock), clock
    elif request.param == "sqlite":
        backend = SqliteRetiredVersions(tmp_path / "store.sqlite3", clock=clock)
        yield backend, clock
        backend.close()
    else:
        from tether.adapters.firestore.retired_versions import FirestoreRetiredVersions

        yield (
            FirestoreRetiredVersions(request.getfixturevalue("firestore_client"), clock=clock),
            clock,
        )


@pytest.fixture(params=["db-memory", "db-sqlite", "db-firestore", "secret_manager"])
def secret_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SecretStore]:
    if request.param.startswith("db-"):
        retired: RetiredVersions
        if request.param == "db-memory":
            retired = MemoryRetiredVersions()
        elif request.param == "db-sqlite":
            retired = SqliteRetiredVersions(tmp_path / "store.sqlite3")
        else:
            from tether.adapters.firestore.retired_versions import FirestoreRetiredVersions

            retired = FirestoreRetiredVersions(request.getfixturevalue("firestore_client"))
        db_store = DbSecretStore(Sealer(Keyring.generate("kcontract")), retired=retired)
        yield db_store
        db_store.close()
    elif request.param == "secret_manager":
        from tether.adapters.secret_manager import SecretManagerSecretStore
        from tether.adapters.secret_manager.client import secret_manager_client

        client = secret_manager_client(request.getfixturevalue("secret_manager_emulator"))
        # A project of its own per test: the emulator lives for the whole session.
        project = f"contract-{uuid.uuid4().hex[:8]}"
        yield SecretManagerSecretStore(client, project=project, cache_seconds=0)
        client.transport.close()


class RecordPoisoner:
    """Overwrites the stored JSON of one record behind the store's back, the way a record
    written by an older, laxer version (or a damaged row) looks to a reader. Only the JSON
    changes: the indexed columns and fields stay, so listings still find the record."""

    def __init__(self, backend: Backend, request: pytest.FixtureRequest, tmp_path: Path):
        self._sqlite = tmp_path / "store.sqlite3" if backend.name == "sqlite" else None
        self._request = request

    def connection(self, tenant_id: str, connection_id: str, raw: str) -> None:
        self._write("connections", "id = ? AND tenant_id = ?", (connection_id, tenant_id), raw)

    def audit(self, tenant_id: str, event_id: str, raw: str) -> None:
        self._write("audit", "id = ? AND tenant_id = ?", (event_id, tenant_id), raw)

    def delivery(self, tenant_id: str, delivery_id: str, raw: str) -> None:
        self._write("deliveries", "tenant_id = ? AND id = ?", (tenant_id, delivery_id), raw)

    def webhook_event(self, provider: str, dedupe_key: str, raw: str) -> None:
        self._write(
            "webhook_events", "provider = ? AND dedupe_key = ?", (provider, dedupe_key), raw
        )

    def tenant_settings(self, tenant_id: str, raw: str) -> None:
        self._write("tenant_settings", "tenant_id = ?", (tenant_id,), raw)

    def oauth_state(self, state_hash: str, raw: str) -> None:
        self._write("oauth_states", "state_hash = ?", (state_hash,), raw)

    def synced_record(self, stream: tuple[str, str, str], record_id: str, raw: str) -> None:
        """Overwrite the stored payload of one synced record."""
        if self._sqlite is not None:
            db = sqlite3.connect(self._sqlite)
            try:
                with db:
                    changed = db.execute(
                        "UPDATE synced_records SET payload = ? WHERE stream = (SELECT id "
                        "FROM record_stream_keys WHERE tenant_id = ? AND connection_id = ? "
                        "AND model = ?) AND record_id = ?",
                        (raw, *stream, record_id),
                    )
                assert changed.rowcount == 1, f"no synced record {record_id}"
            finally:
                db.close()
            return
        from tether.adapters.firestore import documents as fs
        from tether.adapters.firestore.paths import doc_id

        tenant_id, connection_id, model = stream
        client = self._request.getfixturevalue("firestore_client")
        connection = (
            client.collection(fs.TENANTS)
            .document(doc_id(tenant_id))
            .collection(fs.CONNECTIONS)
            .document(doc_id(connection_id))
        )
        stream_ref = connection.collection(fs.RECORD_MODELS).document(doc_id(model))
        stream_ref.collection(fs.RECORDS).document(doc_id(record_id)).update({"payload": raw})

    def _write(self, table: str, where: str, key: tuple[str, ...], raw: str) -> None:
        if self._sqlite is not None:
            db = sqlite3.connect(self._sqlite)
            try:
                sql = f"UPDATE {table} SET doc = ? WHERE {where}"  # noqa: S608 - fixed names
                with db:
                    changed = db.execute(sql, (raw, *key))
                assert changed.rowcount == 1, f"no {table} row {key}"
            finally:
                db.close()
            return
        from tether.adapters.firestore import documents as fs
        from tether.adapters.firestore.paths import doc_id, webhook_event_id

        client = self._request.getfixturevalue("firestore_client")
        fields = {"record": raw}
        if table == "webhook_events":
            ref = client.collection(fs.WEBHOOK_EVENTS).document(webhook_event_id(*key))
            fields["summary"] = raw
        elif table == "oauth_states":
            ref = client.collection(fs.OAUTH_STATES).document(doc_id(key[0]))
        elif table == "tenant_settings":
            tenant = client.collection(fs.TENANTS).document(doc_id(key[0]))
            ref = tenant.collection(fs.SETTINGS).document(fs.SETTINGS_DOCUMENT)
        else:
            tenant_id, record_id = (key[1], key[0]) if table != "deliveries" else key
            collection = {"connections": fs.CONNECTIONS, "audit": fs.AUDIT}.get(
                table, fs.DELIVERIES
            )
            tenant = client.collection(fs.TENANTS).document(doc_id(tenant_id))
            ref = tenant.collection(collection).document(doc_id(record_id))
        ref.update(fields)


@pytest.fixture
def poison(backend: Backend, request: pytest.FixtureRequest, tmp_path: Path) -> RecordPoisoner:
    return RecordPoisoner(backend, request, tmp_path)
