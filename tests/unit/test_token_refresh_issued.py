"""Tokens issued from stored credentials go through the refresh's lease and commit: one
issue for many concurrent readers, issued again when due or forced, never a refresh token,
failures counted or turned into a status like a refresh's, and no scheduled refresh task."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.concurrency import together
from tests.support.token_world import World, all_audit_text, make_world
from tether.domain.errors import TetherError
from tether.domain.models import AuditAction, Connection
from tether.domain.status import ConnectionStatus
from tether.oauth.model import TokenEndpointError, TokenSet
from tether.oauth.refresh_failures import ReauthRequired

SECRET = "client-secret-xyz-0123456789"


class Issuer:
    """The token issuer, recording what it was given; answers numbered tokens (with a refresh
    token the refresh must drop) or a scripted failure."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.calls: list[Mapping[str, Any]] = []
        self.fail: TokenEndpointError | None = None
        self._lock = threading.Lock()

    def __call__(self, connection: Connection, credentials: Mapping[str, Any]) -> TokenSet:
        with self._lock:
            self.calls.append(dict(credentials))
            n = len(self.calls)
        if self.fail is not None:
            raise self.fail
        return TokenSet(
            access_token=f"issued-token-{n:04d}",
            expires_at=self.world.clock.now() + timedelta(seconds=600),
            refresh_token="a-refresh-token-to-ignore",
        )


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from make_world(tmp_path)


def _issued(world: World, **kwargs: Any) -> Connection:
    return world.connection(
        auth_mode="oauth2_client_credentials", payload={"client_secret": SECRET}, **kwargs
    )


def test_concurrent_readers_of_a_due_token_share_one_issue(world):
    issuer = Issuer(world)
    refresh = world.refresher(issue=issuer)
    connection = _issued(world, expires_in=-1)
    futures = together([lambda: refresh.access_token(connection) for _ in range(12)])
    assert {f.result() for f in futures} == {"issued-token-0001"}
    assert issuer.calls == [{"client_secret": SECRET}]
    assert world.endpoint.calls == 0  # no refresh-token grant was tried
    # No refresh token was kept, and no refresh task was scheduled.
    assert "refresh_token" not in world.secrets.get(
        tenant_id="t1", connection_id=connection.id, ref=world.record().credential_ref
    )
    assert [c for c in world.tasks.calls if c.kind == "refresh"] == []
    [entry] = world.audit(AuditAction.TOKEN_REFRESHED)
    assert entry.detail["grant"] == "oauth2_client_credentials"
    assert SECRET not in all_audit_text(world) and "issued-token" not in all_audit_text(world)


def test_a_fresh_token_is_served_and_a_due_or_forced_one_is_issued_again(world):
    issuer = Issuer(world)
    refresh = world.refresher(issue=issuer)
    connection = _issued(world, expires_in=3600)
    assert refresh.access_token(connection) == "access-token-initial-0000"
    assert issuer.calls == []
    world.clock.advance(3600 - 30)
    assert refresh.access_token(world.record()) == "issued-token-0001"
    forced = refresh.force_refresh(world.record())
    assert world.tokens.access_token(forced) == "issued-token-0002"


def test_a_refused_client_is_an_error_and_an_invalid_grant_needs_new_credentials(world):
    issuer = Issuer(world)
    refresh = world.refresher(issue=issuer)
    _issued(world, expires_in=-1)
    issuer.fail = TokenEndpointError("refused", error="invalid_client", retryable=False)
    with pytest.raises(TetherError) as raised:
        refresh.access_token(world.record())
    assert raised.value.code == "OAUTH_REFRESH_FAILED" and not raised.value.retryable
    assert world.record().status == ConnectionStatus.ERROR

    issuer.fail = TokenEndpointError("refused", error="invalid_grant", retryable=False)
    with pytest.raises(ReauthRequired):
        refresh.force_refresh(world.record())
    assert world.record().status == ConnectionStatus.NEEDS_REAUTH


def test_a_provider_outage_serves_the_unexpired_token(world):
    issuer = Issuer(world)
    refresh = world.refresher(issue=issuer)
    _issued(world, expires_in=20, issued_ago=3600)
    issuer.fail = TokenEndpointError("down", error="server_error", retryable=True)
    assert refresh.access_token(world.record()) == "access-token-initial-0000"
    assert world.record().refresh_failures == 1


def test_without_an_issuer_an_issued_connection_is_refused_clearly(world):
    connection = _issued(world, expires_in=-1)
    with pytest.raises(TetherError) as raised:
        world.refresher().access_token(connection)
    assert raised.value.http_status == 400


def test_the_refresh_task_leaves_issued_connections_alone(world):
    issuer = Issuer(world)
    connection = _issued(world, expires_in=-1)
    world.refresher(issue=issuer).refresh_task({"tenant_id": "t1", "connection_id": connection.id})
    assert issuer.calls == []
