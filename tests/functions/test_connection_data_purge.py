"""Deleting a connection through the API deletes its synced records and its syncs: the delete
schedules the purge task, and the `tasks` function runs it."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.conftest import bearer
from tether.bootstrap import Container
from tether.connections.data_purge import PURGE_CONNECTION_DATA_TASK
from tether.domain.sync_runs import SyncSchedule
from tether.domain.synced_records import IncomingRecord

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def _connect(connections_client, tenant: str = "acme") -> str:
    created = connections_client.post(
        "/",
        json={"provider": "stripe", "credentials": {"api_key": "sk_test_" + "a" * 24}},
        headers=bearer(tenant),
    )
    assert created.status_code == 201
    return str(created.get_json()["id"])


def _sync_some(container: Container, connection_id: str) -> None:
    batch = [IncomingRecord(f"in_{i}", {"id": f"in_{i}", "amount": i}) for i in range(12)]
    container.store.write_records("acme", connection_id, "Invoice", batch, now=NOW)
    container.store.put_sync(
        SyncSchedule(
            tenant_id="acme", connection_id=connection_id, name="invoices", updated_at=NOW
        ),
        expected_version=None,
    )


def test_deleting_a_connection_deletes_its_synced_records(
    container, connections_client, tasks_client
):
    gone, kept = _connect(connections_client), _connect(connections_client)
    _sync_some(container, gone)
    _sync_some(container, kept)

    assert connections_client.delete(f"/{gone}", headers=bearer("acme")).status_code == 204
    [task] = container.tasks.list_tasks(kind=PURGE_CONNECTION_DATA_TASK)  # type: ignore[attr-defined]
    assert task.payload == {"tenant_id": "acme", "connection_id": gone, "round": 0}
    response = tasks_client.post(
        f"/{PURGE_CONNECTION_DATA_TASK}",
        json=task.payload,
        headers={"Authorization": f"Bearer {container.task_token}"},
    )
    assert (response.status_code, response.get_json()) == (200, {"ok": True})

    assert container.store.read_changes("acme", gone, "Invoice").records == []
    assert container.store.list_syncs("acme", gone) == []
    assert len(container.store.read_changes("acme", kept, "Invoice").records) == 12
    assert [s.name for s in container.store.list_syncs("acme", kept)] == ["invoices"]
