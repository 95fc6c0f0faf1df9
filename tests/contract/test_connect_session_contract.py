"""The ConnectSessionRepository contract, and the end-user listing of connections it goes
with: every backend passes all of it."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

import pytest

from tests.contract.records import T0, make
from tests.support.pages import walk
from tether.domain.errors import Conflict
from tether.domain.models import ConnectSession
from tether.domain.status import ConnectionStatus
from tether.ports import ConnectionRepository, ConnectSessionRepository, ExpiredRecordPurge


def _session(session_id: str, tenant: str = "t1", *, expires_in: int = 900) -> ConnectSession:
    return ConnectSession(
        id=session_id,
        tenant_id=tenant,
        secret_hash="ab" * 32,
        end_user_id="user-a",
        end_user_display_name="Ada",
        allowed_providers=["stripe"],
        allowed_origins=["https://app.example"],
        created_by="u1",
        created_at=T0,
        expires_at=T0 + timedelta(seconds=expires_in),
    )


def test_a_session_is_read_back_as_written(connect_sessions: ConnectSessionRepository) -> None:
    session = _session("csess_one")
    connect_sessions.create_connect_session(session)
    assert connect_sessions.get_connect_session("csess_one") == session
    assert connect_sessions.get_connect_session("csess_unknown") is None


def test_a_session_id_is_created_once(connect_sessions: ConnectSessionRepository) -> None:
    connect_sessions.create_connect_session(_session("csess_twice"))
    with pytest.raises(Conflict):
        connect_sessions.create_connect_session(_session("csess_twice", "t2"))
    stored = connect_sessions.get_connect_session("csess_twice")
    assert stored is not None and stored.tenant_id == "t1"


def test_revocation_is_the_tenants_own_and_keeps_its_first_time(
    connect_sessions: ConnectSessionRepository,
) -> None:
    connect_sessions.create_connect_session(_session("csess_rev"))
    assert not connect_sessions.revoke_connect_session("t2", "csess_rev", at=T0)
    stored = connect_sessions.get_connect_session("csess_rev")
    assert stored is not None and stored.revoked_at is None

    assert connect_sessions.revoke_connect_session("t1", "csess_rev", at=T0)
    assert connect_sessions.revoke_connect_session("t1", "csess_rev", at=T0 + timedelta(1))
    stored = connect_sessions.get_connect_session("csess_rev")
    assert stored is not None and stored.revoked_at == T0
    assert not connect_sessions.revoke_connect_session("t1", "csess_none", at=T0)


def test_the_purge_removes_expired_sessions_only(
    connect_sessions: ConnectSessionRepository, purge: ExpiredRecordPurge
) -> None:
    connect_sessions.create_connect_session(_session("csess_old", expires_in=-1))
    connect_sessions.create_connect_session(_session("csess_live", expires_in=600))
    assert purge.purge_expired(now=T0) == 1
    assert connect_sessions.get_connect_session("csess_old") is None
    assert connect_sessions.get_connect_session("csess_live") is not None


def test_a_tenant_lists_one_end_users_connections(connections: ConnectionRepository) -> None:
    for i in range(6):
        connections.create_connection(
            make(
                f"conn_eu{i}",
                minutes=i,
                end_user_id="user-a" if i % 2 else "user-b",
                provider="xero" if i < 3 else "stripe",
                status=ConnectionStatus.ERROR if i == 5 else ConnectionStatus.ACTIVE,
            )
        )
    connections.create_connection(make("conn_mine", minutes=9))
    connections.create_connection(make("conn_other", "t2", end_user_id="user-a"))

    seen, _ = walk(partial(connections.list_connections, "t1", end_user_id="user-a", limit=2))
    assert [c.id for c in seen] == ["conn_eu5", "conn_eu3", "conn_eu1"]
    assert all(c.end_user_id == "user-a" for c in seen)
    only = connections.list_connections("t1", end_user_id="user-a", status="error")
    assert [c.id for c in only.items] == ["conn_eu5"]
    xero = connections.list_connections("t1", end_user_id="user-a", provider="xero")
    assert [c.id for c in xero.items] == ["conn_eu1"]
    both = connections.list_connections(
        "t1", end_user_id="user-a", provider="stripe", status="active"
    )
    assert [c.id for c in both.items] == ["conn_eu3"]
    assert connections.list_connections("t1", end_user_id="user-c").items == []
    assert len(connections.list_connections("t1").items) == 7
