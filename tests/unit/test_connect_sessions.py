"""Connect sessions over the embedded store with a fixed clock: a token verifies until its
session expires or is ended, only the hash of its secret is stored, and what a tenant may
ask for is checked at the edge (a lifetime of at most 30 minutes, origins that are origins,
providers the catalog has)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from tether.adapters.sqlite import SqliteConnectionStore
from tether.catalog import load_catalog
from tether.connect.commands import CreateConnectSession, EndUser
from tether.connect.sessions import ConnectSessions
from tether.domain.clock import FixedClock
from tether.domain.errors import Forbidden, InvalidRequest, NotFound, Unauthenticated
from tether.domain.ids import RandomIds
from tether.domain.models import Principal

TENANT = Principal(tenant_id="acme", user_id="backend")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteConnectionStore]:
    built = SqliteConnectionStore(tmp_path / "store.sqlite3")
    yield built
    built.close()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 3, 1, 12, tzinfo=UTC))


@pytest.fixture
def sessions(store: SqliteConnectionStore, clock: FixedClock) -> ConnectSessions:
    catalog = load_catalog()
    return ConnectSessions(
        store=store,
        catalog=lambda: catalog,
        clock=clock,
        ids=RandomIds(),
        page_url="https://tether.example/connect/",
    )


def _open(sessions: ConnectSessions, **fields: object) -> tuple[str, str]:
    request = CreateConnectSession.model_validate({"end_user": {"id": "user-a"}, **fields})
    issued = sessions.create(TENANT, request)
    return issued.session.id, issued.token


def test_a_token_verifies_until_its_session_expires(
    sessions: ConnectSessions, store: SqliteConnectionStore, clock: FixedClock
) -> None:
    session_id, token = _open(sessions, ttl_seconds=120, allowed_providers=["stripe"])
    principal = sessions.verify(token)
    assert principal.tenant_id == "acme"
    assert principal.session is not None
    assert principal.session.end_user_id == "user-a"
    assert principal.session.allowed_providers == ("stripe",)
    stored = store.get_connect_session(session_id)
    assert stored is not None and token.split(".")[1] not in stored.model_dump_json()

    clock.advance(119)
    assert sessions.verify(token).session is not None
    clock.advance(1)
    with pytest.raises(Unauthenticated) as expired:
        sessions.verify(token)
    assert expired.value.code == "SESSION_EXPIRED"
    assert sessions.origins(session_id) == ()


def test_an_ended_or_forged_token_is_refused_with_its_reason(sessions: ConnectSessions) -> None:
    session_id, token = _open(sessions, allowed_origins=["https://app.example"])
    assert sessions.origins(session_id) == ("https://app.example",)
    for forged in (f"{session_id}.{'A' * 43}", "csess_nothing00000.x", token + "x", "garbage"):
        with pytest.raises(Unauthenticated) as refused:
            sessions.verify(forged)
        assert refused.value.code == "INVALID_SESSION"
    with pytest.raises(NotFound):
        sessions.revoke(Principal(tenant_id="globex", user_id="u"), session_id)
    sessions.revoke(TENANT, session_id)
    with pytest.raises(Unauthenticated) as revoked:
        sessions.verify(token)
    assert revoked.value.code == "SESSION_REVOKED"


def test_a_session_cannot_open_or_end_another(sessions: ConnectSessions) -> None:
    _, token = _open(sessions)
    other_id, _ = _open(sessions)
    bearer = sessions.verify(token)
    with pytest.raises(Forbidden):
        sessions.create(bearer, CreateConnectSession(end_user=EndUser(id="user-b")))
    with pytest.raises(NotFound):
        sessions.revoke(bearer, other_id)


@pytest.mark.parametrize(
    "fields",
    [
        {"ttl_seconds": 1801},
        {"ttl_seconds": 10},
        {"allowed_origins": ["https://app.example/path"]},
        {"allowed_origins": ["https://*.example"]},
        {"allowed_origins": ["javascript:alert(1)"]},
        {"allowed_origins": ["https://user@app.example"]},
        # Not a host: would add sources or keywords to the page's frame-ancestors.
        {"allowed_origins": ["https://app.example evil.example"]},
        {"allowed_origins": ["https://app.example 'unsafe-inline'"]},
        {"allowed_origins": ["https://app.example,evil.example"]},
        {"allowed_origins": ["https://app.example;sandbox"]},
        {"allowed_origins": ["https://app.example%20evil.example"]},
        # A browser reports an IDN origin in its ASCII (punycode) form.
        {"allowed_origins": ["https://例え.jp"]},
        {"allowed_origins": ["https://app.example:0"]},
        {"allowed_providers": []},
        {"end_user": {"id": ""}},
        {"end_user": {"id": "a b"}},
    ],
)
def test_what_a_tenant_may_ask_for_is_checked(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        CreateConnectSession.model_validate({"end_user": {"id": "user-a"}, **fields})


def test_origins_are_kept_as_a_browser_reports_them(sessions: ConnectSessions) -> None:
    request = CreateConnectSession.model_validate(
        {
            "end_user": {"id": "user-a"},
            "allowed_origins": ["https://App.Example:8443/", "https://app.example:8443"],
        }
    )
    assert request.allowed_origins == ["https://app.example:8443"]
    with pytest.raises(InvalidRequest) as unknown:
        sessions.create(
            TENANT,
            CreateConnectSession(end_user=EndUser(id="a"), allowed_providers=["no_such"]),
        )
    assert unknown.value.code == "UNKNOWN_PROVIDER"
