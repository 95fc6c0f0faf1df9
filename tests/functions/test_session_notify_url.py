"""Where a tenant's events are delivered is the tenant's to say: a connect session (one end
user's browser) may create and update its end user's connections, but not point their
``notify_url`` at a server of its choosing, which would divert the tenant's signed events for
those connections (a payment failure, a needed reconnect) away from the tenant."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.conftest import bearer
from tether.bootstrap import Container
from tether.connect.commands import CreateConnectSession, EndUser
from tether.domain.models import Principal

ACME = bearer("acme")
ELSEWHERE = "https://8.8.8.8/collect"


def _session(container: Container) -> dict[str, str]:
    issued = container.connect_sessions.create(
        Principal(tenant_id="acme", user_id="backend"),
        CreateConnectSession(end_user=EndUser(id="user-a")),
    )
    return {"Authorization": f"Bearer {issued.token}"}


def _stripe(notify_url: str | None = None) -> dict[str, object]:
    body: dict[str, object] = {
        "provider": "stripe",
        "credentials": {"api_key": "sk_test_session0000"},
    }
    if notify_url is not None:
        body["notify_url"] = notify_url
    return body


def test_a_session_cannot_set_a_connections_notify_url(
    container: Container, connections_client: FlaskClient
) -> None:
    session = _session(container)
    refused = connections_client.post("/", json=_stripe(ELSEWHERE), headers=session)
    assert refused.status_code == 403, refused.get_json()
    assert refused.get_json()["error"]["code"] == "NOTIFY_URL_NOT_ALLOWED"

    created = connections_client.post("/", json=_stripe(), headers=session)
    assert created.status_code == 201, created.get_json()
    connection_id = created.get_json()["id"]
    changed = connections_client.patch(
        f"/{connection_id}", json={"notify_url": ELSEWHERE}, headers=session
    )
    assert changed.status_code == 403, changed.get_json()
    assert changed.get_json()["error"]["code"] == "NOTIFY_URL_NOT_ALLOWED"
    stored = container.store.get_connection("acme", connection_id)
    assert stored is not None and stored.notify_url is None

    # a reconnect (new credentials) is still the session's to make; the tenant sets the URL
    again = connections_client.patch(
        f"/{connection_id}",
        json={"credentials": {"api_key": "sk_test_session0001"}},
        headers=session,
    )
    assert again.status_code == 200, again.get_json()
    tenant = connections_client.patch(
        f"/{connection_id}", json={"notify_url": ELSEWHERE}, headers=ACME
    )
    assert tenant.status_code == 200, tenant.get_json()
    assert tenant.get_json()["notify_url"] == ELSEWHERE
