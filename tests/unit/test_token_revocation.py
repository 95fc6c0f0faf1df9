"""Revocation of a deleted connection's tokens at the provider (RFC 7009), on real parts
against a scripted token endpoint: best effort, audited, never raised."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.token_world import (
    OLD_ACCESS,
    OLD_REFRESH,
    TENANT,
    World,
    all_audit_text,
    make_world,
)
from tether.domain.errors import TetherError
from tether.domain.models import AuditAction, Connection
from tether.oauth.model import OAuthClient, TokenEndpointError


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from make_world(tmp_path)


# -- revoke -----------------------------------------------------------------------------------
def test_revoke_revokes_both_tokens_and_audits(world):
    connection = world.connection(expires_in=600)
    world.revocation().revoke(connection, actor="user-1")
    assert world.endpoint.revoked == [
        (OLD_REFRESH, "refresh_token"),
        (OLD_ACCESS, "access_token"),
    ]
    [audit] = world.audit(AuditAction.TOKEN_REVOKED)
    assert audit.detail == {"tokens": ["refresh_token", "access_token"]}
    assert audit.actor == "user-1"


def test_a_failed_revocation_is_audited_and_not_raised(world):
    connection = world.connection(expires_in=600)
    world.endpoint.revoke_error = TokenEndpointError(
        "the provider answered 503", error="server_error", retryable=True
    )
    world.revocation().revoke(connection)
    [audit] = world.audit(AuditAction.TOKEN_REVOCATION_FAILED)
    assert audit.detail["reason"] == "server_error"
    assert audit.detail["failed"] == ["refresh_token", "access_token"]
    assert world.audit(AuditAction.TOKEN_REVOKED) == []
    assert OLD_REFRESH not in all_audit_text(world)


def test_revoke_does_nothing_without_a_revocation_endpoint(world):
    connection = world.connection(expires_in=600)
    world.client = OAuthClient(
        client_id="c", client_secret=None, authorization_url="https://a", token_url="https://t"
    )
    world.revocation().revoke(connection)
    assert world.endpoint.revoked == [] and world.store.list_audit(TENANT) == []


def test_a_revocation_that_cannot_even_start_is_audited(world):
    connection = world.connection(expires_in=600)

    def no_client(_c: Connection) -> OAuthClient:
        raise TetherError("no OAuth client configured", code="OAUTH_CLIENT_NOT_CONFIGURED")

    world.revocation(client_for=no_client).revoke(connection)
    [audit] = world.audit(AuditAction.TOKEN_REVOCATION_FAILED)
    assert audit.detail["reason"] == "oauth_client_not_configured"
