"""What failed refreshes do to a connection, on real parts against a scripted token endpoint:
``needs_reauth`` once, failures counted against the budget, ``error``, recovery."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.concurrency import together
from tests.support.token_world import (
    OLD_ACCESS,
    TENANT,
    World,
    make_world,
    unavailable,
)
from tether.connections.events import ConnectionEvent, event_id
from tether.domain.clock import iso_utc
from tether.domain.errors import BackendUnavailable, Conflict, TetherError
from tether.domain.models import AuditAction
from tether.domain.status import ConnectionStatus
from tether.oauth.model import TokenEndpointError
from tether.oauth.refresh_failures import REFRESH_FAILED_CODE, ReauthRequired


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from make_world(tmp_path)


# -- failures ----------------------------------------------------------------------------------
def test_invalid_grant_moves_to_needs_reauth_once(world):
    world.endpoint.valid.clear()
    connection = world.connection(expires_in=-1, issued_ago=3600)
    refresher = world.refresher()
    with pytest.raises(ReauthRequired) as raised:
        refresher.access_token(connection)
    assert raised.value.code == "CONNECTION_NEEDS_REAUTH" and not raised.value.retryable
    record = world.record()
    assert record.status == ConnectionStatus.NEEDS_REAUTH
    assert record.status_detail is not None
    assert record.status_detail.code == "OAUTH_INVALID_GRANT"
    assert record.status_detail.at == world.clock.now()
    [audit] = world.audit(AuditAction.NEEDS_REAUTH)
    assert audit.detail["reason"] == "invalid_grant"
    [task] = world.tasks.of("deliver")
    event = task.payload["event"]
    assert task.name == f"deliver-{event['id']}"
    assert event["id"] == event_id(ConnectionEvent.NEEDS_REAUTH, record)
    assert event["type"] == "connection.needs_reauth"
    assert (event["tenant_id"], event["connection_id"], event["provider"]) == (
        TENANT,
        connection.id,
        "acme",
    )
    assert event["occurred_at"] == iso_utc(world.clock.now())
    assert event["data"] == {
        "reason": "invalid_grant",
        "status": "needs_reauth",
        "display_name": record.display_name,
    }
    # Nothing calls the provider again: reads, stale copies, tasks, forced refreshes.
    for attempt in (
        lambda: refresher.access_token(record),
        lambda: refresher.access_token(connection),
        lambda: refresher.force_refresh(record),
    ):
        with pytest.raises(ReauthRequired):
            attempt()
    refresher.refresh_task({"tenant_id": TENANT, "connection_id": connection.id})
    assert world.endpoint.calls == 1
    assert len(world.audit(AuditAction.NEEDS_REAUTH)) == 1
    assert len(world.tasks.of("deliver")) == 1


def test_an_expired_token_without_a_refresh_token_needs_reauth(world):
    connection = world.connection(expires_in=-1, payload={})
    with pytest.raises(ReauthRequired):
        world.refresher().access_token(connection)
    assert world.endpoint.calls == 0
    record = world.record()
    assert record.status == ConnectionStatus.NEEDS_REAUTH
    assert record.status_detail is not None
    assert record.status_detail.code == "OAUTH_NO_REFRESH_TOKEN"
    assert world.tasks.of("deliver")[0].payload["event"]["data"]["reason"] == ("no_refresh_token")


def test_a_valid_token_without_a_refresh_token_is_served_until_it_expires(world):
    connection = world.connection(expires_in=100, payload={})
    refresher = world.refresher()
    assert refresher.access_token(connection) == OLD_ACCESS
    with pytest.raises(Conflict) as raised:
        refresher.force_refresh(connection)
    assert raised.value.code == "OAUTH_NO_REFRESH_TOKEN"
    assert world.record().status == ConnectionStatus.ACTIVE


def test_retryable_failures_count_and_end_in_error_after_the_budget(world):
    connection = world.connection(expires_in=-1, issued_ago=3600)
    world.endpoint.script = [unavailable(), unavailable(), unavailable()]
    refresher = world.refresher()  # retry budget 3
    for expected in (1, 2):
        with pytest.raises(BackendUnavailable) as raised:
            refresher.access_token(connection)
        assert raised.value.code == REFRESH_FAILED_CODE and raised.value.retryable
        assert raised.value.details["failures"] == expected
        record = world.record()
        assert record.status == ConnectionStatus.ACTIVE
        assert record.refresh_failures == expected
    with pytest.raises(BackendUnavailable):
        refresher.access_token(connection)
    record = world.record()
    assert record.status == ConnectionStatus.ERROR and record.refresh_failures == 3
    assert record.status_detail is not None and record.status_detail.code == REFRESH_FAILED_CODE
    failures = world.audit(AuditAction.TOKEN_REFRESH_FAILED)
    assert [e.detail["failures"] for e in reversed(failures)] == [1, 2, 3]
    assert all(e.detail["error"] == "server_error" for e in failures)
    assert world.tasks.of("deliver") == []
    # The provider recovers: the connection is active again, the count reset.
    assert refresher.access_token(record) == "access-token-issued-0004"
    record = world.record()
    assert record.status == ConnectionStatus.ACTIVE
    assert record.refresh_failures == 0 and record.status_detail is None
    [refreshed] = world.audit(AuditAction.TOKEN_REFRESHED)
    assert refreshed.detail["recovered_from"] == "error"


def test_a_failed_refresh_still_serves_an_unexpired_token(world):
    connection = world.connection(expires_in=100, issued_ago=3500)  # inside the margin
    world.endpoint.script = [unavailable()]
    assert world.refresher().access_token(connection) == OLD_ACCESS
    assert world.endpoint.calls == 1
    assert world.record().refresh_failures == 1


def test_an_invalid_client_is_an_error_at_once_and_not_retryable(world):
    connection = world.connection(expires_in=-1, issued_ago=3600)
    world.endpoint.script = [
        TokenEndpointError("client authentication failed", error="invalid_client", retryable=False)
    ]
    with pytest.raises(TetherError) as raised:
        world.refresher().access_token(connection)
    assert raised.value.code == REFRESH_FAILED_CODE and not raised.value.retryable
    record = world.record()
    assert record.status == ConnectionStatus.ERROR
    assert record.status_detail is not None
    assert record.status_detail.code == "OAUTH_INVALID_CLIENT"


def test_failures_of_followers_are_shared_not_repeated(world):
    connection = world.connection(expires_in=-1, issued_ago=3600)
    world.endpoint.script = [unavailable()]
    world.endpoint.delay = 0.1
    refresher = world.refresher()
    outcomes = together([lambda: refresher.access_token(connection)] * 10)
    errors = [f.exception() for f in outcomes]
    assert all(isinstance(e, BackendUnavailable) for e in errors)
    assert world.endpoint.calls == 1
    assert world.record().refresh_failures == 1
