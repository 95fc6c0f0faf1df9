"""Every lifecycle change of a connection reaches the tenant the same way: exactly one
`deliver` task with a Tether event of the right type, from every path (the connections API,
the OAuth callback, the token refresh), each occurrence with an id of its own."""

from __future__ import annotations

from typing import Any

from tests.functions.oauth_harness import ACME, RETURN_TO, Flow, clock, connect, flow
from tether.domain.models import StatusDetail
from tether.domain.status import ConnectionStatus

__all__ = ["clock", "flow"]  # fixtures

SECRET = "sk_test_51TetherEventsSecret0123456789abcdef"


def _events(flow: Flow, connection_id: str) -> list[dict[str, Any]]:
    """The events enqueued for ``connection_id``, oldest first."""
    tasks = flow.container.tasks.list_tasks(kind="deliver", limit=1000)  # type: ignore[attr-defined]
    events = [task.payload["event"] for task in reversed(tasks)]
    return [event for event in events if event["connection_id"] == connection_id]


def _types(flow: Flow, connection_id: str) -> list[str]:
    return [event["type"] for event in _events(flow, connection_id)]


def test_api_create_credentials_update_and_delete_each_send_one_event(flow):
    created = flow.connections.post(
        "/", json={"provider": "stripe", "credentials": {"api_key": SECRET}}, headers=ACME
    )
    assert created.status_code == 201
    connection_id = created.get_json()["id"]
    assert _types(flow, connection_id) == ["connection.created"]

    renamed = flow.connections.patch(f"/{connection_id}", json={"display_name": "x"}, headers=ACME)
    assert renamed.status_code == 200
    assert _types(flow, connection_id) == ["connection.created"]  # not a lifecycle change

    patched = flow.connections.patch(
        f"/{connection_id}", json={"credentials": {"api_key": SECRET + "2"}}, headers=ACME
    )
    assert patched.status_code == 200
    assert _types(flow, connection_id) == ["connection.created", "connection.credentials_updated"]

    assert flow.connections.delete(f"/{connection_id}", headers=ACME).status_code == 204
    events = _events(flow, connection_id)
    assert [e["type"] for e in events][-1] == "connection.deleted"
    assert len(events) == 3 and len({e["id"] for e in events}) == 3
    assert SECRET not in str(events)


def test_an_oauth_connection_announces_its_creation_and_its_reconnect(flow):
    connection_id = connect(flow)
    [created] = _events(flow, connection_id)
    assert created["type"] == "connection.created"
    assert created["data"]["status"] == "active" and created["provider"] == "oauth2"

    again = flow.authorize({"connection_id": connection_id, "return_to": RETURN_TO})
    assert flow.finish(flow.browser(again["authorization_url"]))[1]["status"] == "active"
    assert _types(flow, connection_id) == ["connection.created", "connection.reconnected"]


def test_needs_reauth_is_sent_once_per_occurrence_and_recovery_is_announced(flow, clock):
    connection_id = connect(flow)
    flow.provider.revoke_all()
    assert flow.connections.post(f"/{connection_id}/refresh", headers=ACME).status_code == 409
    # A leftover refresh task re-announces the same transition: the same event, not a new one.
    flow.container.token_refresh.refresh_task({"tenant_id": "acme", "connection_id": connection_id})
    assert _types(flow, connection_id) == ["connection.created", "connection.needs_reauth"]

    # Reconnect, then the grant dies again in the same second: a second needs_reauth.
    again = flow.authorize({"connection_id": connection_id, "return_to": RETURN_TO})
    assert flow.finish(flow.browser(again["authorization_url"]))[1]["status"] == "active"
    flow.provider.revoke_all()
    assert flow.connections.post(f"/{connection_id}/refresh", headers=ACME).status_code == 409
    events = _events(flow, connection_id)
    assert [e["type"] for e in events] == [
        "connection.created",
        "connection.needs_reauth",
        "connection.reconnected",
        "connection.needs_reauth",
    ]
    assert len({e["id"] for e in events}) == 4


def test_a_refresh_that_works_again_announces_the_recovery(flow, clock):
    connection_id = connect(flow)
    flow.provider.inject("token", status=400, error="invalid_client")
    assert flow.connections.post(f"/{connection_id}/refresh", headers=ACME).status_code == 502
    record = flow.container.store.get_connection("acme", connection_id)
    assert record.status == ConnectionStatus.ERROR
    assert _types(flow, connection_id) == ["connection.created"]  # an error is no event

    assert flow.connections.post(f"/{connection_id}/refresh", headers=ACME).status_code == 200
    events = _events(flow, connection_id)
    assert [e["type"] for e in events] == ["connection.created", "connection.recovered"]
    assert events[-1]["data"]["previous_status"] == "error"
    assert events[-1]["data"]["status"] == "active"


def test_new_credentials_for_a_failed_connection_announce_the_update_and_the_recovery(flow):
    created = flow.connections.post(
        "/", json={"provider": "stripe", "credentials": {"api_key": SECRET}}, headers=ACME
    )
    connection_id = created.get_json()["id"]
    store = flow.container.store
    record = store.get_connection("acme", connection_id)
    failed = record.model_copy(
        update={
            "status": ConnectionStatus.ERROR,
            "status_detail": StatusDetail(
                code="AUTH_FAILED", message="refused", at=record.updated_at
            ),
        }
    )
    store.update_connection(failed, expected_version=record.version)

    patched = flow.connections.patch(
        f"/{connection_id}", json={"credentials": {"api_key": SECRET + "2"}}, headers=ACME
    )
    assert patched.status_code == 200 and patched.get_json()["status"] == "active"
    events = _events(flow, connection_id)
    assert [e["type"] for e in events] == [
        "connection.created",
        "connection.credentials_updated",
        "connection.recovered",
    ]
    assert events[-1]["data"]["previous_status"] == "error"
