"""Odd and hostile request input over HTTP: every one is a 4xx with a clear code, never a 5xx,
and nothing of it is stored (JSON too deep, too wide or too long, NaN and Infinity, lone
surrogates, non-ASCII digits in If-Match)."""

from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient

from tests.conftest import bearer
from tether.bootstrap import Container

ACME = bearer("acme")
JSON = {**ACME, "Content-Type": "application/json"}
SECRET = "sk_test_51HostileInput0123456789abcdef"


def nested(depth: int) -> str:
    """A JSON object ``{"a": {"a": ... {}}}`` ``depth`` levels deep."""
    return '{"a":' * depth + "{}" + "}" * depth


def create_body(metadata: str) -> str:
    return (
        '{"provider":"stripe","credentials":{"api_key":"'
        + SECRET
        + '"},"metadata":'
        + metadata
        + "}"
    )


def listed(client: FlaskClient) -> list[dict[str, object]]:
    response = client.get("/", headers=ACME)
    assert response.status_code == 200
    connections: list[dict[str, object]] = response.get_json()["connections"]
    return connections


@pytest.mark.parametrize("depth", [40, 250, 5000])
def test_json_nested_too_deep_is_refused_before_it_is_stored(
    container: Container, connections_client: FlaskClient, depth: int
) -> None:
    response = connections_client.post("/", data=create_body(nested(depth)), headers=JSON)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "JSON_TOO_DEEP"
    assert listed(connections_client) == []


def test_json_at_the_documented_depth_is_accepted(
    container: Container, connections_client: FlaskClient
) -> None:
    # the body object is level 1 and metadata level 2: 30 more levels inside reach 32
    response = connections_client.post("/", data=create_body(nested(30)), headers=JSON)
    assert response.status_code == 201, response.get_json()
    cid = response.get_json()["id"]
    assert connections_client.get(f"/{cid}", headers=ACME).status_code == 200


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400", "-1e999"])
def test_non_finite_numbers_are_refused(
    container: Container, connections_client: FlaskClient, number: str
) -> None:
    response = connections_client.post("/", data=create_body('{"n":' + number + "}"), headers=JSON)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "INVALID_JSON"
    assert listed(connections_client) == []


@pytest.mark.parametrize(
    "metadata",
    [
        '{"k":"\\ud800"}',
        '{"\\udfff":"v"}',
        '{"k":["ok","x\\udc00y"]}',
        '{"k":"\\ude00\\ud83d"}',  # a pair in the wrong order is two lone halves
    ],
)
def test_lone_surrogates_are_refused(
    container: Container, connections_client: FlaskClient, metadata: str
) -> None:
    response = connections_client.post("/", data=create_body(metadata), headers=JSON)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "INVALID_JSON"


def test_a_surrogate_pair_is_one_character_and_accepted(
    container: Container, connections_client: FlaskClient
) -> None:
    response = connections_client.post(
        "/", data=create_body('{"k":"\\ud83d\\ude00"}'), headers=JSON
    )
    assert response.status_code == 201
    assert response.get_json()["metadata"] == {"k": "\N{GRINNING FACE}"}


def test_too_many_items_and_too_long_strings_are_refused(
    container: Container, connections_client: FlaskClient
) -> None:
    wide = json.dumps({"k": [0] * 10_001})
    response = connections_client.post("/", data=create_body(wide), headers=JSON)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "JSON_TOO_LARGE"
    long = json.dumps({"k": "x" * 100_001})
    response = connections_client.post("/", data=create_body(long), headers=JSON)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "JSON_TOO_LARGE"


# WSGI hands header bytes over as Latin-1: "\xb2" arrives as "²", which str.isdigit() accepts
# and int() refuses; "\xb9" (superscript one) and "\xbd" (one half) likewise.
@pytest.mark.parametrize("tag", ['"\xb2"', '"1\xb9"', '"\xbd"', '"+1"', '" 1"', '"1_0"', '""'])
def test_if_match_takes_ascii_digits_only(
    container: Container, connections_client: FlaskClient, tag: str
) -> None:
    created = connections_client.post(
        "/", json={"provider": "stripe", "credentials": {"api_key": SECRET}}, headers=ACME
    ).get_json()
    response = connections_client.patch(
        f"/{created['id']}",
        json={"display_name": "x"},
        headers={**ACME, "If-Match": tag},
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "INVALID_IF_MATCH"


@pytest.mark.parametrize(
    "body",
    [
        '{"path":"/v1/\\ud800"}',
        '{"params":{"q":"\\ud800"}}',
        '{"params":{"\\udbff":"x"}}',
        '{"method":"POST","body":{"x":"\\udfff"}}',
    ],
)
def test_fetch_refuses_lone_surrogates_before_any_call(
    container: Container, body: str, fetch_client: FlaskClient, connections_client: FlaskClient
) -> None:
    created = connections_client.post(
        "/", json={"provider": "stripe", "credentials": {"api_key": SECRET}}, headers=ACME
    ).get_json()
    response = fetch_client.post(f"/{created['id']}", data=body, headers=JSON)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "INVALID_JSON"


def test_tasks_refuse_deep_json_too(container: Container, tasks_client: FlaskClient) -> None:
    headers = {
        "Authorization": f"Bearer {container.task_token}",
        "Content-Type": "application/json",
    }
    response = tasks_client.post("/sweep", data=nested(100), headers=headers)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "JSON_TOO_DEEP"
