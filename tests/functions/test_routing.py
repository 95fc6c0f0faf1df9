"""Routing as callers see it: 404 for a path no function serves, 405 with ``Allow`` for a
method a path does not take (RFC 9110 §15.5.6), HEAD wherever GET is."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from functions_framework import create_app

from tests.conftest import bearer
from tests.functions.conftest import SOURCE
from tether.bootstrap import Container

ACME = bearer("acme")


def _allowed(header: str) -> list[str]:
    return [m.strip() for m in header.split(",")]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/", ["GET", "HEAD", "POST"]),
        ("POST", "/conn_0123456789abcdef0123456789", ["DELETE", "GET", "HEAD", "PATCH"]),
        ("GET", "/conn_0123456789abcdef0123456789/refresh", ["POST"]),
        ("DELETE", "/conn_0123456789abcdef0123456789/webhook/rotate", ["POST"]),
    ],
)
def test_405_lists_the_allowed_methods(
    connections_client: FlaskClient, method: str, path: str, allowed: list[str]
) -> None:
    response = connections_client.open(path, method=method, headers=ACME)
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert _allowed(response.headers["Allow"]) == allowed


def test_405_on_a_public_function_and_a_task_route(
    catalog_client: FlaskClient, tasks_client: FlaskClient
) -> None:
    catalog = catalog_client.delete("/stripe")
    assert catalog.status_code == 405
    assert _allowed(catalog.headers["Allow"]) == ["GET", "HEAD"]
    task = tasks_client.get("/sweep")
    assert task.status_code == 405
    assert _allowed(task.headers["Allow"]) == ["POST"]


def test_unknown_paths_are_404_without_allow(connections_client: FlaskClient) -> None:
    response = connections_client.get("/a/b/c/d", headers=ACME)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "ROUTE_NOT_FOUND"
    assert "Allow" not in response.headers


def test_head_is_served_where_get_is(catalog_client: FlaskClient) -> None:
    got = catalog_client.get("/stripe")
    head = catalog_client.head("/stripe")
    assert head.status_code == 200
    assert head.headers["Content-Length"] == got.headers["Content-Length"]
    assert head.data == b""


def test_empty_segments_are_ignored(catalog_client: FlaskClient) -> None:
    assert catalog_client.get("/stripe/").get_json()["key"] == "stripe"
    assert catalog_client.get("/stripe//").get_json()["key"] == "stripe"


def test_webhook_provider_routes_win_over_tokens(container: Container) -> None:
    client = create_app("webhooks", SOURCE).test_client()
    # 'providers' alone is a (wrong) token; 'providers/<key>' is the app-level route
    assert client.post("/providers", data=b"{}").status_code == 404
    unknown = client.post("/providers/no_such_provider", data=b"{}")
    assert unknown.status_code == 404
    assert client.get("/providers/stripe").headers["Allow"] == "POST"
