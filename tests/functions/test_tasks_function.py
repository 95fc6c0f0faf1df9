"""The `tasks` function: who may call it, and what its answers tell the queue (2xx: done or
failed for good; 503: retry)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from functions_framework import create_app

from tests.conftest import bearer
from tests.functions.conftest import SOURCE
from tether.adapters.db_secrets import DbSecretStore
from tether.adapters.db_secrets.retired_versions import ALL_VERSIONS, version_of
from tether.adapters.local_tasks import LocalTaskQueue
from tether.adapters.sqlite.retired_versions import SqliteRetiredVersions
from tether.bootstrap import Container, reset_container
from tether.config import Settings
from tether.domain.clock import FixedClock
from tether.domain.errors import BackendUnavailable, InvalidRequest, NotFound
from tether.domain.models import Delivery, WebhookEvent
from tether.webhooks.intake import process_task_name


def _auth(container: Container) -> dict[str, str]:
    return {"Authorization": f"Bearer {container.task_token}"}


def test_callers_without_the_task_token_are_refused(container, tasks_client):
    assert tasks_client.post("/purge_credentials", json={}).status_code == 401
    wrong = {"Authorization": "Bearer " + "x" * 64}
    assert tasks_client.post("/purge_credentials", json={}, headers=wrong).status_code == 401
    # A tenant's token is not a task token.
    response = tasks_client.post("/purge_credentials", json={}, headers=bearer("acme"))
    assert response.status_code == 401


def test_an_unknown_kind_is_a_permanent_failure_not_retried(container, tasks_client):
    response = tasks_client.post("/no_such_kind", json={"a": 1}, headers=_auth(container))
    assert response.status_code == 200
    assert response.get_json() == {
        "ok": False,
        "retry": False,
        "error": {
            "code": "UNKNOWN_TASK_KIND",
            "message": "no handler for task kind 'no_such_kind'",
        },
    }


def test_a_body_that_is_not_a_json_object_is_a_client_error(container, tasks_client):
    response = tasks_client.post(
        "/purge_credentials",
        data="[1,2]",
        headers={**_auth(container), "Content-Type": "application/json"},
    )
    assert response.status_code == 400


def test_a_task_without_parameters_needs_no_body(container, tasks_client):
    # As the README shows it: `curl -X POST …/tasks/sweep -H "Authorization: …"`.
    response = tasks_client.post("/sweep", headers=_auth(container))
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"ok": True}
    # An empty body with a JSON content type reads the same.
    typed = {**_auth(container), "Content-Type": "application/json"}
    assert tasks_client.post("/sweep", data=b"", headers=typed).status_code == 200


def test_purge_credentials_runs_for_a_deleted_connection(
    container, tasks_client, connections_client
):
    created = connections_client.post(
        "/",
        json={"provider": "stripe", "credentials": {"api_key": "sk_test_" + "a" * 24}},
        headers=bearer("acme"),
    ).get_json()
    assert connections_client.delete(f"/{created['id']}", headers=bearer("acme")).status_code == 204
    response = tasks_client.post(
        "/purge_credentials",
        json={"tenant_id": "acme", "connection_id": created["id"]},
        headers=_auth(container),
    )
    assert (response.status_code, response.get_json()) == (200, {"ok": True})


@pytest.fixture
def scripted(settings: Settings) -> Iterator[tuple[Container, list[Exception | None]]]:
    outcomes: list[Exception | None] = []

    def handler(payload: dict[str, Any]) -> None:
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome

    built = Container(settings, task_handlers={"sync": handler})
    reset_container(built)
    yield built, outcomes
    reset_container(None)


def test_retryable_failures_answer_503_and_permanent_ones_200(scripted):
    container, outcomes = scripted
    client: FlaskClient = create_app("tasks", SOURCE).test_client()
    outcomes.extend(
        [BackendUnavailable("store down"), RuntimeError("bug"), InvalidRequest("bad"), None]
    )
    statuses = [
        client.post("/sync", json={"n": i}, headers=_auth(container)).status_code for i in range(4)
    ]
    assert statuses == [503, 503, 200, 200]


def test_housekeeping_purges_what_outlived_its_retention_and_keeps_the_rest(
    settings: Settings,
) -> None:
    """``POST /housekeeping`` (Cloud Scheduler's target; the embedded queue runs the same task
    hourly by itself): finished tasks, deliveries, webhook events and OAuth states past their
    retention go, pending tasks and younger records stay; a stored event whose task was lost
    gets it again."""
    clock = FixedClock(datetime.now(UTC))
    container = Container(settings, clock=clock)
    reset_container(container)
    try:
        store, queue = container.store, container.tasks
        assert isinstance(queue, LocalTaskQueue)
        queue.enqueue("housekeeping", {}, name="an-old-run")
        queue.run_due()
        clock.advance(8 * 86400)  # the queue runs on the container's clock: 8 days later
        now = clock.now()
        queue.enqueue("deliver", {}, name="a-pending-one", run_at=now + timedelta(days=1))
        for dlv, days in (("dlv_old", 31), ("dlv_fresh", 29)):
            store.record_delivery(
                Delivery(
                    id=dlv,
                    tenant_id="acme",
                    event_type="connection.created",
                    created_at=now - timedelta(days=days),
                    updated_at=now - timedelta(days=days),
                )
            )
        for key, days in (("evt_old", 8), ("evt_fresh", 6)):
            received = now - timedelta(days=days)
            store.create_webhook_event(
                WebhookEvent(
                    id=key,
                    provider="stripe",
                    dedupe_key=key,
                    tenant_id="acme",
                    connection_id="conn_1",
                    received_at=received,
                    expires_at=received + settings.retention.webhook_events,
                    body="{}",
                )
            )

        tasks_client = create_app("tasks", SOURCE).test_client()
        response = tasks_client.post("/housekeeping", json={}, headers=_auth(container))

        assert response.status_code == 200 and response.get_json() == {"ok": True}
        assert queue.get("an-old-run") is None
        assert queue.get("a-pending-one") is not None
        assert [d.id for d in store.list_deliveries("acme")] == ["dlv_fresh"]
        assert store.get_webhook_event("stripe", "evt_old") is None
        assert store.get_webhook_event("stripe", "evt_fresh") is not None
        # evt_fresh waits ("received") and has no task: housekeeping queued its task
        assert queue.get(process_task_name("stripe", "evt_fresh")) is not None
        assert queue.get(process_task_name("stripe", "evt_old")) is None
    finally:
        reset_container(None)


def test_housekeeping_purges_secret_tombstones_past_their_retention(settings: Settings) -> None:
    """With ``SECRETS=db`` a retired credential version and a deleted connection's
    credentials leave a tombstone each; housekeeping drops those older than
    ``RETENTION_SECRET_TOMBSTONES_DAYS`` (90 by default) and keeps the younger ones."""
    clock = FixedClock(datetime.now(UTC))
    container = Container(settings, clock=clock)
    reset_container(container)
    tombstones = SqliteRetiredVersions(container.settings.sqlite_path)
    try:
        secrets = container.secrets
        assert isinstance(secrets, DbSecretStore)
        first = secrets.put(tenant_id="acme", connection_id="conn_1", provider="x", payload={})
        secrets.retire(tenant_id="acme", connection_id="conn_1", ref=first)
        secrets.delete(tenant_id="acme", connection_id="conn_2", ref=None)
        retired = [("acme", "conn_1", version_of(first.locator)), ("acme", "conn_2", ALL_VERSIONS)]
        with pytest.raises(NotFound):
            secrets.get(tenant_id="acme", connection_id="conn_1", ref=first)

        clock.advance(89 * 86400)
        assert container.housekeeping.run().secret_tombstones == 0
        assert all(tombstones.is_retired(*key) for key in retired)

        clock.advance(2 * 86400)
        tasks_client = create_app("tasks", SOURCE).test_client()
        response = tasks_client.post("/housekeeping", json={}, headers=_auth(container))
        assert response.status_code == 200 and response.get_json() == {"ok": True}
        assert not any(tombstones.is_retired(*key) for key in retired)
        assert container.housekeeping.run().secret_tombstones == 0
    finally:
        tombstones.close()
        reset_container(None)
        container.close()
