"""Declarative action requests (tether.actions.mapping) and the checker the simulators use
(tether_emulators.api_description): both pure."""

from __future__ import annotations

import json

import pytest

from tests.support.provider_world import descriptions
from tether.actions.mapping import MISSING, dig, form_encode, render_request
from tether.catalog.action_definition import HttpMapping
from tether.domain.errors import InvalidRequest
from tether_emulators.api_description import ApiDescription


def test_a_body_template_leaves_out_what_the_input_does_not_give() -> None:
    mapping = HttpMapping(
        method="POST",
        path="/things/{thing_id}",
        query={"q": "{query}", "fixed": "yes"},
        headers={"xero-tenant-id": "{config.tenant_id}"},
        body={
            "name": "{name}",
            "start": {"dateTime": "{start}", "timeZone": "{zone}"},
            "parents": ["{parent}"],
            "links": [{"$if": "contact", "to": {"id": "{contact}"}, "kind": 3}],
            "empty": [],
            "count": "{count}",
        },
    )
    request = render_request(
        mapping, {"thing_id": "a/b", "name": "N", "count": 0}, {"tenant_id": "t1"}
    )
    assert request.path == "/things/a%2Fb"
    assert request.params == {"fixed": "yes"}
    assert request.headers == {"xero-tenant-id": "t1"}
    assert request.json == {"name": "N", "parents": [], "links": [], "empty": [], "count": 0}
    full = render_request(
        mapping,
        {"thing_id": "1", "start": "2026", "parent": "p", "contact": "7", "query": "x"},
        {"tenant_id": "t1"},
    )
    assert full.json["start"] == {"dateTime": "2026"}
    assert full.json["links"] == [{"to": {"id": "7"}, "kind": 3}]
    assert full.params == {"q": "x", "fixed": "yes"}
    with pytest.raises(InvalidRequest) as missing:
        render_request(mapping, {"thing_id": "1"}, {})
    assert missing.value.code == "MISSING_CONFIG"


def test_form_bodies_nest_with_brackets() -> None:
    encoded = form_encode(
        {"email": "a@b.c", "metadata": {"plan": "pro"}, "items": [{"p": 1}], "x": True}
    )
    assert encoded == "email=a%40b.c&metadata%5Bplan%5D=pro&items%5B0%5D%5Bp%5D=1&x=true"
    mapping = HttpMapping(
        method="POST", path="/customers", body={"email": "{email}"}, body_format="form"
    )
    request = render_request(mapping, {"email": "a@b.c"}, {})
    assert (request.content, request.headers["Content-Type"]) == (
        b"email=a%40b.c",
        "application/x-www-form-urlencoded",
    )


def test_dig_follows_keys_and_indexes() -> None:
    assert dig({"Invoices": [{"InvoiceID": "i"}]}, "Invoices.0.InvoiceID") == "i"
    assert dig({"Invoices": []}, "Invoices.0") is MISSING
    assert dig({"a": 1}, None) == {"a": 1}


def test_the_checker_refuses_what_the_description_does_not_allow() -> None:
    calendar = ApiDescription(descriptions()["google_calendar"])
    ok = calendar.check(
        "POST",
        "/calendar/v3/calendars/primary/events?sendUpdates=all",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"summary": "s", "start": {"dateTime": "2026-05-01T10:00:00Z"}}).encode(),
    )
    assert ok.operation is not None and ok.operation.id == "calendar.events.insert"
    assert ok.problems == [] and ok.path_params == {"calendarId": "primary"}
    bad = calendar.check(
        "POST",
        "/calendar/v3/calendars/primary/events?sendUpdate=all&maxAttendees=many",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"title": "s", "start": {"dateTime": 5}}).encode(),
    )
    assert sorted(bad.problems) == sorted(
        [
            "query parameter sendUpdate is not a parameter of calendar.events.insert",
            "query parameter maxAttendees must be an integer",
            "body (root): Additional properties are not allowed ('title' was unexpected)",
            "body start.dateTime: 5 is not of type 'string'",
        ]
    )
    assert calendar.check("GET", "/calendar/v3/nothing", headers={}, body=b"").operation is None

    xero = ApiDescription(descriptions()["xero"])
    no_tenant = xero.check("PUT", "/api.xro/2.0/Invoices", headers={}, body=b"")
    assert "header xero-tenant-id is required" in no_tenant.problems

    stripe = ApiDescription(descriptions()["stripe"])
    as_json = stripe.check(
        "POST",
        "/v1/customers",
        headers={"Content-Type": "application/json"},
        body=b'{"email": "a"}',
    )
    assert as_json.problems == [
        "PostCustomers takes application/x-www-form-urlencoded, not application/json"
    ]
    typo = stripe.check(
        "POST",
        "/v1/customers",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body=b"emial=a",
    )
    assert typo.problems == ["form field emial is not a field of PostCustomers"]

    drive = ApiDescription(descriptions()["google_drive"])
    not_multipart = drive.check(
        "POST",
        "/upload/drive/v3/files?uploadType=multipart",
        headers={"Content-Type": "application/octet-stream"},
        body=b"data",
    )
    assert not_multipart.problems == [
        "an upload's body is multipart/related (metadata, then media)"
    ]


def test_a_bracket_in_a_form_key_reads_as_nesting() -> None:
    """Why a form body's free-form keys must not hold brackets (Stripe's metadata, whose
    input schema refuses them): the two bodies below are one form."""
    flat = form_encode({"metadata": {"plan][tier": "pro"}})
    assert flat == form_encode({"metadata": {"plan": {"tier": "pro"}}})
