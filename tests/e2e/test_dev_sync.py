"""A tenant's own sync through `tether dev` as a developer runs it (a real process, real HTTP,
its embedded queue's worker): 1,234 records from the local dataset API are ADDED, the
process is killed mid-run and restarted and the run completes from its checkpoint with no
record twice and none lost; after the source updates 3, deletes 2 and adds 5, an incremental
run reports exactly 5 ADDED + 3 UPDATED and a full run the 2 DELETED; a reader following
cursors sees every change once; each run's ``sync.completed`` arrives signed with its counts.

The same scenario runs on the GCP stack (Firestore and Cloud Tasks emulators) in
``test_dev_gcp_sync.py``, through :func:`sync_scenario`."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_dev_server import DevServer
from tests.support.notify_receiver import Receiver, serve_receiver
from tests.support.sync_scenario import DEFINITION, TOTAL, Ticking
from tether_emulators.dataset_api import DatasetApi

pytestmark = pytest.mark.e2e

PAGE_DELAY = 0.1


@pytest.fixture
def api() -> Iterator[DatasetApi]:
    with DatasetApi(clock=Ticking()) as started:
        started.dataset("invoices").add(TOTAL)
        page = started._cursor

        def slow(request: Any, dataset: Any) -> Any:  # a page takes a while, as real APIs do
            time.sleep(PAGE_DELAY)
            return page(request, dataset)

        started._cursor = slow  # type: ignore[method-assign]
        yield started


@pytest.fixture
def notify() -> Iterator[Receiver]:
    yield from serve_receiver()


def sync_env(api: DatasetApi, notify: Receiver) -> dict[str, str]:
    """What the dev server needs: loopback reachable for the dataset API and the receiver,
    small slices and checkpoints, a short task lease (a killed worker's task runs again)."""
    receiver_port = notify.url.split(":")[2].split("/")[0]
    return {
        "TETHER_EGRESS_ALLOWLIST": f"127.0.0.1:{api.port},127.0.0.1:{receiver_port}",
        "TETHER_SYNC_CHECKPOINT_PAGES": "2",
        "TETHER_SYNC_SLICE_SECONDS": "2",
        "TETHER_TASK_LEASE_SECONDS": "3",
        "TETHER_SYNC_DUE_INTERVAL_SECONDS": "3600",
    }


def _wait(predicate: Callable[[], Any], timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError("timed out")


class Tenant:
    def __init__(self, server: DevServer) -> None:
        self.server = server
        self.auth = {"Authorization": f"Bearer {server.cli('token', '--tenant', 'acme')}"}

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.server.url, timeout=30, headers=self.auth)

    def start_run(self, connection_id: str, *, full: bool = False) -> str:
        with self.client() as client:
            answer = client.post(f"/syncs/{connection_id}/invoices/run", json={"full": full})
        if answer.status_code == 409:  # the scheduler started it first
            return str(answer.json()["error"]["details"]["run_id"])
        assert answer.status_code == 202, answer.text
        return str(answer.json()["run_id"])

    def finished(self, connection_id: str, run_id: str, timeout: float = 90.0) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            with self.client() as client:
                runs = client.get(f"/syncs/{connection_id}/invoices/runs").json()["runs"]
            [run] = [r for r in runs if r["id"] == run_id]
            return run if run["status"] in ("succeeded", "failed") else None

        run: dict[str, Any] = _wait(done, timeout)
        assert run["status"] == "succeeded", run
        return run

    def read(self, connection_id: str, cursor: str | None) -> tuple[list[dict[str, Any]], str]:
        changes: list[dict[str, Any]] = []
        with self.client() as client:
            while True:
                query = {"limit": 400, **({"cursor": cursor} if cursor else {})}
                body = client.get(f"/records/{connection_id}/Invoice", params=query).json()
                changes.extend(body["records"])
                cursor = body["next_cursor"]
                if not body["has_more"]:
                    assert cursor is not None
                    return changes, cursor


def _actions(changes: list[dict[str, Any]]) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for change in changes:
        found.setdefault(change["_tether"]["action"], []).append(int(change["_tether"]["id"]))
    return {action: sorted(ids) for action, ids in found.items()}


def sync_scenario(start: Callable[[], DevServer], api: DatasetApi, notify: Receiver) -> DevServer:
    """The whole scenario; ``start`` starts a dev server (again, on the same data). Returns
    the server left running."""
    server = start()
    tenant = Tenant(server)
    with tenant.client() as client:
        assert client.put("/settings/", json={"notify_url": notify.url}).status_code == 200
        rotated = client.post("/settings/notify-secret/rotate")
        assert rotated.status_code == 201, rotated.text
        notify.keys = {"tenant": rotated.json()["secret"]}
        created = client.post(
            "/connections/",
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
        )
        assert created.status_code == 201, created.text
        connection_id = created.json()["id"]
        put = client.put(f"/syncs/{connection_id}/invoices", json=DEFINITION)
        assert put.status_code == 200, put.text

    # The first run, killed mid-walk and restarted.
    before = api.requests
    run_id = tenant.start_run(connection_id)
    _wait(lambda: api.requests - before >= 8)
    assert server.process is not None
    server.process.kill()
    server.output += server.process.communicate()[0]
    server.process = None
    walked_before_the_kill = api.requests - before
    assert walked_before_the_kill < 25, "the run ended before the kill"
    server = start()
    first = tenant.finished(connection_id, run_id)
    assert (first["added"], first["updated"], first["deleted"]) == (TOTAL, 0, 0)
    # From its last checkpoint (every 2 pages), never from zero.
    assert api.requests - before <= 25 + 3 < 25 + walked_before_the_kill
    changes, cursor = tenant.read(connection_id, None)
    assert _actions(changes) == {"ADDED": list(range(1, TOTAL + 1))}

    dataset = api.dataset("invoices")
    dataset.update([3, 600, 1234])
    dataset.delete([7, 8])
    added = dataset.add(5)
    incremental = tenant.finished(connection_id, tenant.start_run(connection_id))
    assert (incremental["full"], incremental["added"], incremental["updated"]) == (False, 5, 3)
    assert incremental["deleted"] == 0
    changes, cursor = tenant.read(connection_id, cursor)
    assert _actions(changes) == {"UPDATED": [3, 600, 1234], "ADDED": added}

    full = tenant.finished(connection_id, tenant.start_run(connection_id, full=True))
    assert (full["full"], full["added"], full["updated"], full["deleted"]) == (True, 0, 0, 2)
    changes, end = tenant.read(connection_id, cursor)
    assert _actions(changes) == {"DELETED": [7, 8]}
    assert tenant.read(connection_id, end)[0] == []

    def completed() -> list[Any]:
        events = [r for r in notify.received if b'"sync.completed"' in r.body]
        return events if len(events) == 3 else []

    events = _wait(completed, 60)
    assert all(event.verified_by == ["tenant"] for event in events)
    data = [json.loads(event.body)["data"] for event in events]
    counts = sorted((d["added"], d["updated"], d["deleted"]) for d in data)
    assert counts == sorted([(TOTAL, 0, 0), (5, 3, 0), (0, 0, 2)])
    assert {d["connection_id"] for d in data} == {connection_id}
    assert {d["model"] for d in data} == {"Invoice"}
    return server


def test_dev_sync_end_to_end(tmp_path: Path, api: DatasetApi, notify: Receiver) -> None:
    servers: list[DevServer] = []

    def start() -> DevServer:
        server = DevServer(
            tmp_path / "data",
            port=servers[0].port if servers else DevServer(tmp_path / "data").port,
            extra_env=sync_env(api, notify),
        )
        server.start()
        servers.append(server)
        return server

    try:
        sync_scenario(start, api, notify)
    finally:
        for server in servers:
            server.stop()
