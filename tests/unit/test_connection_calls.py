"""Calls on a connection's behalf honour the rate-limit headers its catalog entry names: a
response saying none remain makes the next call wait for the announced reset."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.unit.test_http_client import Clock, Reply, Server
from tether.catalog import parse_catalog
from tether.domain.models import Connection, Principal
from tether.fetch.calls import ConnectionCalls
from tether.http.client import OutboundClient
from tether.http.guard import EgressGuard
from tether.http.model import OutboundError, RateSpec

CATALOG = """
version: 1
providers:
  limited:
    display_name: Limited
    description: An API that announces its rate limit.
    categories: [developer]
    regions: [global]
    docs_url: https://docs.example.com
    api_base_url: "{base_url}"
    auth: {mode: api_key, location: header, name: X-Api-Key}
    credentials_schema:
      type: object
      additionalProperties: false
      required: [api_key]
      properties:
        api_key: {type: string, title: Key, description: The key., writeOnly: true}
    config_schema:
      type: object
      additionalProperties: false
      required: [base_url]
      properties:
        base_url:
          type: string
          title: Base URL
          description: Where the API listens.
          pattern: '^http://127\\.0\\.0\\.1:[0-9]+$'
    rate_limit_headers: {limit: X-Quota-Limit, remaining: X-Quota-Remaining, reset: X-Quota-Reset}
"""


class Connections:
    """The two reads ConnectionCalls makes of the connection service."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def get(self, principal: Principal, connection_id: str) -> Connection:
        assert (principal.tenant_id, connection_id) == (self.connection.tenant_id, "c1")
        return self.connection

    def credentials_of(self, principal: Principal, connection: Connection, **_: Any) -> dict:
        return {"api_key": "k-123"}


def test_the_next_call_waits_for_the_reset_the_provider_announced():
    quota = {"X-Quota-Limit": "100", "X-Quota-Remaining": "0", "X-Quota-Reset": "7"}
    server = Server(lambda _seen, i: Reply(200, quota if i == 0 else {}, b"{}"))
    clock = Clock()
    client = OutboundClient(
        EgressGuard([server.hostport]), sleep=clock.sleep, monotonic=clock.monotonic
    )
    now = datetime(2026, 1, 1, tzinfo=UTC)
    connection = Connection(
        id="c1",
        tenant_id="t1",
        provider="limited",
        auth_mode="api_key",
        display_name="Limited",
        config={"base_url": f"http://{server.hostport}"},
        created_at=now,
        updated_at=now,
        created_by="u1",
    )
    catalog = parse_catalog(CATALOG)
    calls = ConnectionCalls(
        connections=Connections(connection),  # type: ignore[arg-type]
        catalog=lambda: catalog,
        client=lambda: client,
        token_refresh=lambda: None,  # type: ignore[arg-type, return-value]
        default_rate=RateSpec(per_minute=6000, burst=100),
    )
    try:
        send = calls.sender(Principal(tenant_id="t1", user_id="u1"), "c1")
        assert send("GET", send.base_url + "/a").status == 200
        assert clock.sleeps == []
        assert send("GET", send.base_url + "/b").status == 200
        assert clock.sleeps == [7.0]
        assert [seen.headers["x-api-key"] for seen in server.seen] == ["k-123", "k-123"]
    finally:
        client.close()
        server.close()


def test_a_changed_connection_is_called_where_its_new_config_points():
    """What the config makes of a connection is kept per instance, under its version: the
    record as changed (a new base URL, a new version) is sent to its new origin, with the
    credentials bound there, and the old one's shape is not reused."""
    first = Server(lambda _seen, i: Reply(200, {}, b'{"at": "first"}'))
    second = Server(lambda _seen, i: Reply(200, {}, b'{"at": "second"}'))
    client = OutboundClient(EgressGuard([first.hostport, second.hostport]))
    now = datetime(2026, 1, 1, tzinfo=UTC)
    connection = Connection(
        id="c1",
        tenant_id="t1",
        provider="limited",
        auth_mode="api_key",
        display_name="Limited",
        config={"base_url": f"http://{first.hostport}"},
        created_at=now,
        updated_at=now,
        created_by="u1",
    )
    service = Connections(connection)
    catalog = parse_catalog(CATALOG)
    calls = ConnectionCalls(
        connections=service,  # type: ignore[arg-type]
        catalog=lambda: catalog,
        client=lambda: client,
        token_refresh=lambda: None,  # type: ignore[arg-type, return-value]
        default_rate=RateSpec(per_minute=6000, burst=100),
    )
    principal = Principal(tenant_id="t1", user_id="u1")
    try:
        send = calls.sender(principal, "c1")
        assert send("GET", send.base_url + "/x").json() == {"at": "first"}
        again = calls.sender(principal, "c1")
        assert again.base_url == f"http://{first.hostport}"
        service.connection = connection.model_copy(
            update={"config": {"base_url": f"http://{second.hostport}"}, "version": 2}
        )
        moved = calls.sender(principal, "c1")
        assert moved.base_url == f"http://{second.hostport}"
        assert moved.origins == frozenset({f"http://{second.hostport}"})
        assert moved("GET", moved.base_url + "/x").json() == {"at": "second"}
        # The old origin is no longer one the credentials go to.
        with pytest.raises(OutboundError) as refused:
            moved("GET", f"http://{first.hostport}/x")
        assert refused.value.code == "CREDENTIALS_NOT_BOUND"
    finally:
        client.close()
        first.close()
        second.close()
    assert len(first.seen) == 1
    assert [seen.headers["x-api-key"] for seen in second.seen] == ["k-123"]
