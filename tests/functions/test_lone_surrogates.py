"""Provider JSON may escape half a UTF-16 pair (``"\\ud800"``): valid JSON syntax whose meaning
RFC 8259 section 8.2 leaves open, and text no UTF-8 encoder takes. Every path that passes a
provider's JSON on meets it deliberately, against the local sample API on loopback: data passed
through keeps it (answered as the escape ``\\ud800``), a value that must be text (a record id,
a page cursor) is refused alone with a code, and nothing answers 500 or is left half done."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from functions_framework import create_app
from werkzeug.test import TestResponse

from tests.conftest import bearer
from tests.functions.conftest import SOURCE
from tests.functions.test_sync_flow import Stack, stack_reaching
from tether.config import Settings
from tether_emulators.sample_api import SampleApi

ACME = bearer("acme")
LONE = '"\\ud800"'  # the JSON text of a string holding a lone surrogate


@pytest.fixture
def api() -> Iterator[SampleApi]:
    with SampleApi() as started:
        yield started


@pytest.fixture
def stack(settings: Settings, api: SampleApi) -> Iterator[Stack]:
    with stack_reaching(settings, api.port) as made:
        yield made


def _connect(stack: Stack, api: SampleApi) -> str:
    return stack.connect(api)  # type: ignore[arg-type]


def _fetch_odd(connection_id: str, *, pagination: dict[str, Any] | None) -> TestResponse:
    """``POST /fetch/<id>`` of the injected ``/odd`` answer's ``items``."""
    fetch = create_app("fetch", SOURCE).test_client()
    return fetch.post(
        f"/{connection_id}",
        json={"path": "/odd", "records_path": "items", "pagination": pagination},
        headers=ACME,
    )


def test_fetch_passes_a_lone_surrogate_in_a_record_on_as_its_escape(
    stack: Stack, api: SampleApi
) -> None:
    connection_id = _connect(stack, api)
    api.inject("/odd", status=200, body='{"items":[{"id":"a","name":' + LONE + "}]}")
    answer = _fetch_odd(connection_id, pagination=None)
    assert answer.status_code == 200, answer.get_data()
    assert b'"name":"\\ud800"' in answer.get_data()
    assert answer.get_json()["records"] == [{"id": "a", "name": "\ud800"}]


def test_fetch_refuses_a_next_page_cursor_that_is_not_text(stack: Stack, api: SampleApi) -> None:
    connection_id = _connect(stack, api)
    api.inject("/odd", status=200, body='{"items":[{"id":"a"}],"next":' + LONE + "}")
    answer = _fetch_odd(
        connection_id,
        pagination={"type": "cursor", "cursor_path": "next", "cursor_param": "cursor"},
    )
    assert answer.status_code == 502, answer.get_data()
    error = answer.get_json()["error"]
    assert error["code"] == "PROVIDER_INVALID_RESPONSE" and "not valid Unicode" in error["message"]


DEFINITION: dict[str, Any] = {
    "model": "Item",
    "request": {"path": "/odd"},
    "records_path": "items",
    "id_path": "id",
    "pagination": {"type": "cursor", "cursor_path": "next", "cursor_param": "cursor"},
    "frequency": "1h",
    "enabled": False,
}


def test_sync_keeps_a_payload_and_rejects_an_id_holding_a_lone_surrogate(
    stack: Stack, api: SampleApi
) -> None:
    connection_id = _connect(stack, api)
    page = '{"items":[{"id":"a1","name":' + LONE + '},{"id":' + LONE + '},{"id":"a2"}],"next":null}'
    api.inject("/odd", status=200, body=page)
    put = stack.syncs.put(f"/{connection_id}/invoices", json=DEFINITION, headers=ACME)
    assert put.status_code == 200, put.get_json()

    run = stack.run(connection_id)

    assert run["status"] == "succeeded", run
    assert (run["added"], run["rejected"]) == (2, 1)
    assert run["rejections"] == [{"page": 1, "index": 1, "code": "INVALID_RECORD_ID"}]
    stored = stack.records.get(f"/{connection_id}/Item", headers=ACME)
    assert stored.status_code == 200, stored.get_data()
    assert b'"name":"\\ud800"' in stored.get_data()
    records = {r["_tether"]["id"]: r for r in stored.get_json()["records"]}
    assert records["a1"]["name"] == "\ud800" and set(records) == {"a1", "a2"}


def test_sync_run_fails_with_a_code_on_a_next_cursor_that_is_not_text(
    stack: Stack, api: SampleApi
) -> None:
    """The checkpoint could not hold the next page: the run ends failed, not retried."""
    connection_id = _connect(stack, api)
    api.inject("/odd", status=200, body='{"items":[{"id":"a1"}],"next":' + LONE + "}")
    put = stack.syncs.put(f"/{connection_id}/invoices", json=DEFINITION, headers=ACME)
    assert put.status_code == 200, put.get_json()

    run = stack.run(connection_id)

    assert run["status"] == "failed", run
    assert run["error"] == {
        "code": "PROVIDER_INVALID_RESPONSE",
        "message": "the provider's next page (its cursor or link) is not valid Unicode",
    }
    assert stack.run_tasks() == 0  # nothing left to retry


def test_a_connection_test_shows_a_sample_holding_a_lone_surrogate_as_its_escape(
    stack: Stack, api: SampleApi
) -> None:
    connection_id = _connect(stack, api)
    api.inject("/", status=200, body='[{"id":"a","name":' + LONE + "}]")
    test = create_app("test_connection", SOURCE).test_client()
    answer = test.post(f"/{connection_id}", headers=ACME)
    assert answer.status_code == 200, answer.get_data()
    assert answer.get_json()["ok"] is True
    assert b'"name":"\\ud800"' in answer.get_data()
