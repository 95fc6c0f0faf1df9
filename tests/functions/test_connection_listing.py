"""Listing connections over HTTP: filtered pages walk the whole listing once, and a cursor
that Tether did not issue is a 400 INVALID_CURSOR, never a server error."""

from __future__ import annotations

import base64
import json

import pytest
from flask.testing import FlaskClient

from tests.conftest import bearer

ACME = bearer("acme")


def _create(client: FlaskClient, provider: str, field: str, value: str) -> str:
    response = client.post(
        "/", json={"provider": provider, "credentials": {field: value}}, headers=ACME
    )
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["id"])


def test_filtered_pages_walk_the_listing_once(connections_client: FlaskClient) -> None:
    stripe = [
        _create(connections_client, "stripe", "api_key", f"sk_test_51Listing{i:024d}")
        for i in range(5)
    ]
    openai = [
        _create(connections_client, "openai", "api_key", f"sk-listing-{i:030d}") for i in range(3)
    ]
    for provider, expected in (("stripe", stripe), ("openai", openai)):
        seen: list[str] = []
        query = f"/?provider={provider}&status=active&limit=2"
        page = connections_client.get(query, headers=ACME).get_json()
        seen += [c["id"] for c in page["connections"]]
        while page["next_cursor"]:
            page = connections_client.get(
                f"{query}&cursor={page['next_cursor']}", headers=ACME
            ).get_json()
            seen += [c["id"] for c in page["connections"]]
        assert seen == list(reversed(expected))  # newest first, each once


def _b64(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "%25%25",
        "not-base64!",
        _b64("just text"),
        _b64(["yesterday", "conn_1"]),
        _b64([1, 2]),
        _b64(["2026-03-01T12:00:00.000000Z"]),
    ],
)
def test_a_cursor_tether_did_not_issue_is_invalid_cursor(
    connections_client: FlaskClient, cursor: str
) -> None:
    for filters in ("", "&status=active", "&provider=stripe&status=error"):
        response = connections_client.get(f"/?cursor={cursor}{filters}", headers=ACME)
        assert response.status_code == 400, response.get_json()
        assert response.get_json()["error"]["code"] == "INVALID_CURSOR"
