"""A tenant's own sync over the local dataset API, through the ``syncs`` and ``records``
functions on the embedded stack (real SQLite, the durable queue run by the test): the first
run adds every record; after the source changes, an incremental run reports exactly the
changes and a full run the deletions; a reader following cursors sees each change once; a
run continues in new tasks when its budget is spent and resumes from its checkpoint after a
failed attempt, with exact counts; one run at a time; ``sync.completed`` carries the counts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from functions_framework import create_app

from tests.conftest import bearer
from tests.functions.conftest import SOURCE
from tests.support.sync_scenario import DEFINITION, TOTAL, Ticking
from tether.bootstrap import Container, reset_container
from tether.config import Settings
from tether.domain.clock import FixedClock
from tether.domain.synced_records import IncomingRecord, encode_change_cursor
from tether_emulators.dataset_api import DatasetApi

ACME = bearer("acme")
OTHER = bearer("globex")


@pytest.fixture
def api() -> Iterator[DatasetApi]:
    with DatasetApi(clock=Ticking()) as started:
        started.dataset("invoices").add(TOTAL)
        yield started


class Stack:
    def __init__(self, container: Container) -> None:
        self.container = container
        self.connections = create_app("connections", SOURCE).test_client()
        self.syncs: FlaskClient = create_app("syncs", SOURCE).test_client()
        self.records: FlaskClient = create_app("records", SOURCE).test_client()

    def run_tasks(self) -> int:
        """Run queued tasks until none is due; how many sync tasks ran."""
        queue: Any = self.container.tasks
        ran = 0
        for _ in range(10_000):
            pending = [
                t for t in queue.list_tasks(kind="sync", limit=1000) if t.status == "pending"
            ]
            ran += len(pending)
            if not queue.run_due():
                return ran
        raise AssertionError("the queue never drained")

    def connect(self, api: DatasetApi) -> str:
        created = self.connections.post(
            "/",
            json={
                "provider": "rest_api",
                "config": {
                    "base_url": api.url,
                    "auth_method": "none",
                    "test_path": "/",
                    "rate_limit_per_minute": 100_000,
                    "rate_limit_burst": 10_000,
                },
            },
            headers=ACME,
        )
        assert created.status_code == 201, created.get_json()
        return str(created.get_json()["id"])

    def run(self, connection_id: str, *, full: bool = False) -> dict[str, Any]:
        started = self.syncs.post(
            f"/{connection_id}/invoices/run", json={"full": full}, headers=ACME
        )
        assert started.status_code == 202, started.get_json()
        self.run_tasks()
        runs = self.syncs.get(f"/{connection_id}/invoices/runs", headers=ACME).get_json()["runs"]
        [run] = [r for r in runs if r["id"] == started.get_json()["run_id"]]
        return dict(run)

    def read(
        self, connection_id: str, cursor: str | None, *, limit: int = 300
    ) -> tuple[list[dict[str, Any]], str | None]:
        changes: list[dict[str, Any]] = []
        while True:
            query = {"limit": limit, **({"cursor": cursor} if cursor else {})}
            page = self.records.get(f"/{connection_id}/Invoice", query_string=query, headers=ACME)
            assert page.status_code == 200, page.get_json()
            body = page.get_json()
            changes.extend(body["records"])
            cursor = body["next_cursor"]
            if not body["has_more"]:
                return changes, cursor

    def events(self, connection_id: str) -> list[dict[str, Any]]:
        queue: Any = self.container.tasks
        tasks = queue.list_tasks(kind="deliver", limit=1000)
        found = [task.payload["event"] for task in reversed(tasks)]
        return [
            e
            for e in found
            if e["connection_id"] == connection_id and e["type"].startswith("sync.")
        ]


@contextmanager
def stack_reaching(settings: Settings, port: int, **overrides: Any) -> Iterator[Stack]:
    """A stack whose outbound calls may reach a local API on ``port``, with settings
    ``overrides`` (its container is the functions' one meanwhile)."""
    update = {"egress_allowlist": f"127.0.0.1:{port}", **overrides}
    container = Container(settings.model_copy(update=update))
    reset_container(container)
    try:
        yield Stack(container)
    finally:
        reset_container(None)
        container.close()


@pytest.fixture
def stack(settings: Settings, api: DatasetApi) -> Iterator[Stack]:
    with stack_reaching(settings, api.port, sync_checkpoint_pages=2) as made:
        yield made


def _actions(changes: list[dict[str, Any]]) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for change in changes:
        found.setdefault(change["_tether"]["action"], []).append(int(change["_tether"]["id"]))
    return {action: sorted(ids) for action, ids in found.items()}


def test_a_custom_sync_adds_then_reports_exactly_the_changes(stack: Stack, api: DatasetApi) -> None:
    connection_id = stack.connect(api)
    put = stack.syncs.put(f"/{connection_id}/invoices", json=DEFINITION, headers=ACME)
    assert put.status_code == 200, put.get_json()
    assert put.get_json()["enabled"] is True and put.get_json()["custom"] is True

    first = stack.run(connection_id)
    assert (first["status"], first["added"], first["updated"], first["deleted"]) == (
        "succeeded",
        TOTAL,
        0,
        0,
    )
    changes, cursor = stack.read(connection_id, None)
    assert _actions(changes) == {"ADDED": list(range(1, TOTAL + 1))}
    assert changes[0]["name"] == "invoices 1" and changes[0]["_tether"]["cursor"]

    dataset = api.dataset("invoices")
    dataset.update([3, 600, 1234])
    dataset.delete([7, 8])
    added = dataset.add(5)

    incremental = stack.run(connection_id)
    assert incremental["full"] is False
    assert (incremental["added"], incremental["updated"], incremental["deleted"]) == (5, 3, 0)
    changes, cursor = stack.read(connection_id, cursor)
    assert _actions(changes) == {"UPDATED": [3, 600, 1234], "ADDED": added}

    full = stack.run(connection_id, full=True)
    assert (full["full"], full["added"], full["updated"], full["deleted"]) == (True, 0, 0, 2)
    changes, end = stack.read(connection_id, cursor)
    assert _actions(changes) == {"DELETED": [7, 8]}
    assert stack.read(connection_id, end)[0] == []

    every, _ = stack.read(connection_id, None, limit=1000)
    assert len(every) == TOTAL + 5 and len({c["_tether"]["id"] for c in every}) == TOTAL + 5

    events = stack.events(connection_id)
    assert [e["type"] for e in events] == ["sync.completed"] * 3
    counts = [(e["data"]["added"], e["data"]["updated"], e["data"]["deleted"]) for e in events]
    assert counts == [(TOTAL, 0, 0), (5, 3, 0), (0, 0, 2)]
    last = events[-1]["data"]
    assert last["model"] == "Invoice" and last["sync"] == "invoices" and last["cursor"] == end

    listed = stack.syncs.get(f"/{connection_id}", headers=ACME).get_json()["syncs"]
    [mine] = [s for s in listed if s["name"] == "invoices"]
    assert mine["status"] == "scheduled" and mine["last_run"]["deleted"] == 2
    assert mine["next_run_at"] is not None


def test_one_run_at_a_time_and_another_tenant_sees_nothing(stack: Stack, api: DatasetApi) -> None:
    connection_id = stack.connect(api)
    assert (
        stack.syncs.put(f"/{connection_id}/invoices", json=DEFINITION, headers=ACME).status_code
        == 200
    )
    first = stack.syncs.post(f"/{connection_id}/invoices/run", headers=ACME)
    assert first.status_code == 202
    second = stack.syncs.post(f"/{connection_id}/invoices/run", json={"full": True}, headers=ACME)
    assert second.status_code == 409
    error = second.get_json()["error"]
    assert error["code"] == "SYNC_RUN_ACTIVE"
    assert error["details"]["run_id"] == first.get_json()["run_id"]

    assert stack.syncs.get(f"/{connection_id}", headers=OTHER).status_code == 404
    assert stack.syncs.post(f"/{connection_id}/invoices/run", headers=OTHER).status_code == 404
    assert stack.records.get(f"/{connection_id}/Invoice", headers=OTHER).status_code == 404
    stack.run_tasks()
    assert stack.syncs.post(f"/{connection_id}/invoices/run", headers=ACME).status_code == 202


def test_a_run_continues_in_new_tasks_when_its_budget_is_spent(
    settings: Settings, api: DatasetApi
) -> None:
    with stack_reaching(
        settings, api.port, sync_slice_seconds=0.001, sync_checkpoint_pages=1
    ) as stack:
        connection_id = stack.connect(api)
        stack.syncs.put(f"/{connection_id}/invoices", json=DEFINITION, headers=ACME)
        started = stack.syncs.post(f"/{connection_id}/invoices/run", headers=ACME)
        assert started.status_code == 202
        stack.run_tasks()
        [run] = stack.container.sync_state.list_runs("acme", connection_id, "invoices")
        assert run.checkpoint is not None
        assert run.checkpoint["slice"] >= 24  # a task per page: each spent its budget
        runs = stack.syncs.get(f"/{connection_id}/invoices/runs", headers=ACME).get_json()["runs"]
        assert (runs[0]["status"], runs[0]["added"]) == ("succeeded", TOTAL)
        changes, _ = stack.read(connection_id, None, limit=1000)
        assert _actions(changes) == {"ADDED": list(range(1, TOTAL + 1))}


class DiesAfterWrite:
    """The records store of a process that dies right after its ``die_at``-th page write
    committed (before the run could checkpoint it)."""

    def __init__(self, inner: Any, die_at: int) -> None:
        self.inner = inner
        self.die_at = die_at
        self.writes = 0

    def write_records(self, *args: Any, **kwargs: Any) -> Any:
        result = self.inner.write_records(*args, **kwargs)
        self.writes += 1
        if self.writes == self.die_at:
            raise RuntimeError("the process died")
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_run_that_died_resumes_from_its_checkpoint_with_exact_counts(
    settings: Settings, api: DatasetApi
) -> None:
    clock = FixedClock(datetime.now(UTC))
    update = {"egress_allowlist": f"127.0.0.1:{api.port}", "sync_checkpoint_pages": 2}
    container = Container(settings.model_copy(update=update), clock=clock)
    dying = DiesAfterWrite(container.store, die_at=11)
    container.__dict__["sync_records"] = dying
    reset_container(container)
    try:
        stack = Stack(container)
        connection_id = stack.connect(api)
        stack.syncs.put(f"/{connection_id}/invoices", json=DEFINITION, headers=ACME)
        before = api.requests
        assert stack.syncs.post(f"/{connection_id}/invoices/run", headers=ACME).status_code == 202
        stack.run_tasks()
        [run] = container.sync_state.list_runs("acme", connection_id, "invoices")
        assert run.status == "running" and run.checkpoint is not None
        assert run.checkpoint["pages"] == 10  # the last checkpoint: 11 pages were written

        clock.advance(600)  # past the dead task's claim on the run and the queue's backoff
        stack.run_tasks()
        [run] = container.sync_state.list_runs("acme", connection_id, "invoices")
        assert (run.status, run.added, run.updated, run.deleted) == ("succeeded", TOTAL, 0, 0)
        assert api.requests - before == 25 + 1  # page 11 again, never from zero
        changes, _ = stack.read(connection_id, None, limit=1000)
        assert _actions(changes) == {"ADDED": list(range(1, TOTAL + 1))}
        [event] = stack.events(connection_id)
        assert event["data"]["added"] == TOTAL
    finally:
        reset_container(None)
        container.close()


def test_a_cursor_past_any_change_number_is_a_400_not_a_server_error(
    stack: Stack, api: DatasetApi
) -> None:
    connection_id = stack.connect(api)
    stack.container.sync_records.write_records(
        "acme", connection_id, "Invoice", [IncomingRecord("1", {"id": 1})], now=datetime.now(UTC)
    )
    # Shaped like a cursor the API hands out, naming a change number no store can hold.
    for number in (2**63, 10**40):
        tampered = encode_change_cursor(number)
        page = stack.records.get(
            f"/{connection_id}/Invoice", query_string={"cursor": tampered}, headers=ACME
        )
        assert page.status_code == 400, page.get_data(as_text=True)
        assert page.get_json()["error"]["code"] == "INVALID_CURSOR"
    largest = stack.records.get(
        f"/{connection_id}/Invoice",
        query_string={"cursor": encode_change_cursor(2**63 - 1)},
        headers=ACME,
    )
    assert largest.status_code == 200 and largest.get_json()["records"] == []


@pytest.mark.parametrize("moment", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
def test_a_modified_after_past_the_ends_of_time_is_a_400_not_a_server_error(
    stack: Stack, api: DatasetApi, moment: str
) -> None:
    connection_id = stack.connect(api)
    stack.container.sync_records.write_records(
        "acme", connection_id, "Invoice", [IncomingRecord("1", {"id": 1})], now=datetime.now(UTC)
    )
    page = stack.records.get(
        f"/{connection_id}/Invoice", query_string={"modified_after": moment}, headers=ACME
    )
    assert page.status_code == 400, page.get_data(as_text=True)
    error = page.get_json()["error"]
    assert error["code"] == "VALIDATION_FAILED"
    assert error["details"]["problems"][0]["field"] == "modified_after"
