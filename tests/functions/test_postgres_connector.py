"""The PostgreSQL connector's test (connect, TLS, SELECT 1) against a real PostgreSQL server on
loopback, through the `test_connection` function."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from functions_framework import create_app

from tests.conftest import bearer
from tests.fixtures.postgres import PostgresServer
from tests.functions.conftest import SOURCE
from tether.bootstrap import Container, reset_container
from tether.config import Settings

ACME = bearer("acme")


@pytest.fixture
def test_client(settings: Settings, postgres_server: PostgresServer) -> Iterator[Any]:
    configured = settings.model_copy(
        update={
            "egress_allowlist": f"127.0.0.1:{postgres_server.port}",
            "connection_test_timeout_seconds": 5.0,
        }
    )
    container = Container(configured)
    reset_container(container)
    yield create_app("test_connection", SOURCE).test_client()
    reset_container(None)


def _body(server: PostgresServer, **changes: Any) -> dict[str, Any]:
    config = {
        "host": server.host,
        "port": server.port,
        "database": server.database,
        "sslmode": "require",
    }
    credentials = {"username": server.user, "password": server.password}
    config.update({k: v for k, v in changes.items() if k in config})
    credentials.update({k: v for k, v in changes.items() if k in credentials})
    return {"provider": "postgresql", "config": config, "credentials": credentials}


def _outcome(client: Any, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/", json=body, headers=ACME)
    assert response.status_code == 200, response.get_json()
    return dict(response.get_json())


def test_select_1_over_tls_succeeds(test_client, postgres_server):
    outcome = _outcome(test_client, _body(postgres_server))
    assert (outcome["ok"], outcome["code"]) == (True, "OK"), outcome
    assert outcome["latency_ms"] is not None


def test_failures_name_their_cause(test_client, postgres_server):
    wrong = _outcome(test_client, _body(postgres_server, password="not-the-password"))
    assert wrong["code"] == "INVALID_CREDENTIALS" and wrong["suggestion"]
    assert "not-the-password" not in str(wrong)
    missing = _outcome(test_client, _body(postgres_server, database="no_such_db"))
    assert missing["code"] == "NOT_FOUND", missing
    unverified = _outcome(test_client, _body(postgres_server, sslmode="verify-full"))
    assert unverified["code"] == "TLS_ERROR", unverified


def test_a_database_on_an_internal_address_is_blocked_without_the_allowlist(
    settings, postgres_server
):
    container = Container(settings)
    reset_container(container)
    try:
        client = create_app("test_connection", SOURCE).test_client()
        outcome = _outcome(client, _body(postgres_server))
        assert outcome["code"] == "BLOCKED_DESTINATION"
    finally:
        reset_container(None)
