"""The catalog's actions against the providers' published API descriptions.

``tether_emulators/provider_descriptions/<provider>.json`` (beside the simulators, which
check requests against them too) holds, per provider, a trimmed copy of
the provider's own description of the operations the actions call (a Google Discovery document
or an OpenAPI document; where a provider publishes neither, its generated client's resource
written out in OpenAPI form), naming its source in ``x-source``. For every declarative action
this test renders its request from a complete example input and checks it with the same
checker the simulators use; for every action it checks that its scopes are among those the
description lists for the operation. The registered functions' requests are checked end to
end against the simulators (``tests/functions/test_actions_function.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from tests.support.provider_world import descriptions
from tether.actions.functions import action_functions
from tether.actions.mapping import render_request
from tether.catalog import load_catalog
from tether.catalog.action_catalog import load_actions, parse_actions
from tether.catalog.action_definition import ActionDefinition
from tether.domain.errors import ConfigurationError
from tether_emulators.api_description import ApiDescription

EXPECTED = {
    "google_calendar": {
        "create_event",
        "update_event",
        "delete_event",
        "list_events",
        "find_availability",
    },
    "gmail": {"send_email", "get_email", "list_emails"},
    "hubspot": {
        "create_contact",
        "update_contact",
        "get_contact",
        "list_contacts",
        "find_contact_by_email",
        "create_deal",
    },
    "google_drive": {"upload_file", "download_file", "list_files", "create_folder", "delete_file"},
    "stripe": {"create_customer", "list_invoices"},
    "xero": {"create_invoice"},
    "shopify": {"get_order"},
}
# The operation a registered function calls, for the scope check.
FUNCTION_OPERATIONS = {
    "gmail_send_email": "gmail.users.messages.send",
    "google_calendar_create_event": "calendar.events.insert",
    "google_calendar_find_availability": "calendar.freebusy.query",
    "google_drive_upload_file": "drive.files.create",
    "google_drive_download_file": "drive.files.get",
}


def _example(schema: dict[str, Any]) -> Any:
    """A value of every property of ``schema`` (an example a request can be rendered from)."""
    if "default" in schema:
        return schema["default"]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind == "object":
        properties = schema.get("properties")
        if properties:
            return {name: _example(prop) for name, prop in properties.items()}
        return {"plan": "pro"}
    if kind == "array":
        return [_example(schema.get("items", {"type": "string"}))]
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        return 2.5
    if kind == "boolean":
        return True
    fmt = schema.get("format")
    if fmt == "date-time":
        return "2026-05-01T10:00:00+02:00"
    if fmt == "email":
        return "ann@example.com"
    if fmt == "uuid":
        return "6d2c2f5e-6b5f-4f3a-9a57-3c1d2e4f5a6b"
    pattern = schema.get("pattern", "")
    if "cus_" in pattern:
        return "cus_123"
    if "[0-9]{4}-" in pattern:
        return "2026-05-01"
    if "[A-Z]{3}" in pattern:
        return "EUR"
    if pattern.startswith("^[0-9]+"):
        return "1500"
    return "x1"


def _actions() -> list[tuple[str, ActionDefinition]]:
    return [(p, a) for p, actions in load_actions().items() for a in actions.values()]


def _description(provider: str) -> ApiDescription:
    return ApiDescription(descriptions()[provider])


def test_the_catalog_ships_the_actions_named_for_it() -> None:
    assert {p: set(a) for p, a in load_actions().items()} == EXPECTED
    catalog = load_catalog()
    assert all(provider in catalog for provider in load_actions())


def test_every_fixture_names_its_source() -> None:
    for provider, document in descriptions().items():
        source = document.get("x-source")
        sources = source if isinstance(source, list) else [source]
        assert sources and all(str(s).startswith("https://") for s in sources), provider


def test_every_function_an_action_names_is_registered() -> None:
    registered = action_functions()
    named = {a.function for _, a in _actions() if a.function}
    assert named <= set(registered) and set(FUNCTION_OPERATIONS) == set(registered)


@pytest.mark.parametrize(
    ("provider", "name"),
    sorted((p, a.name) for p, a in _actions() if a.http is not None),
)
def test_a_declarative_action_sends_what_the_published_api_takes(provider: str, name: str) -> None:
    action = load_actions()[provider][name]
    assert action.http is not None
    values = _example(action.input)
    base = urlsplit(load_catalog().get(provider).api_base_url or "").path.rstrip("/")
    request = render_request(action.http, values, {"tenant_id": "t-1"})
    query = f"?{urlencode(request.params)}" if request.params else ""
    headers = {"Content-Type": "application/json", **request.headers}
    if action.http.idempotency_header:
        headers[action.http.idempotency_header] = "key-1"
    body = (
        request.content
        if request.content is not None
        else (b"" if request.json is None else json.dumps(request.json).encode())
    )
    checked = _description(provider).check(
        request.method, base + request.path + query, headers=headers, body=body
    )
    assert checked.operation is not None, checked.problems
    assert checked.problems == [], f"{provider}.{name}: {checked.problems}"


@pytest.mark.parametrize(("provider", "name"), sorted((p, a.name) for p, a in _actions()))
def test_an_actions_scopes_are_those_the_published_api_names(provider: str, name: str) -> None:
    action = load_actions()[provider][name]
    description = _description(provider)
    if action.http is not None:
        base = urlsplit(load_catalog().get(provider).api_base_url or "").path.rstrip("/")
        found = description.find(action.http.method, base + action.http.path)
        assert found is not None, f"{provider}.{name}: no such operation"
        operation_id = found[0].id
    else:
        operation_id = FUNCTION_OPERATIONS[action.function or ""]
    published = set(description.scopes_of(operation_id))
    if not published:  # Shopify and Stripe describe no scopes per operation
        return
    assert set(action.scopes) & published, f"{provider}.{name}: {action.scopes}"
    assert set(action.scopes) <= published | {"accounting.invoices"}, action.scopes


def test_a_broken_actions_file_names_the_action() -> None:
    text = """
provider: demo
actions:
  bad:
    description: d
    input: {type: object, additionalProperties: false, properties: {}}
    output: {type: object}
    http: {method: GET, path: "/things/{thing_id}"}
"""
    with pytest.raises(ConfigurationError, match=r"action 'bad'.*thing_id"):
        parse_actions(text, source="demo.yaml")
    with pytest.raises(ConfigurationError, match="exactly one of http and function"):
        parse_actions(
            text.replace('    http: {method: GET, path: "/things/{thing_id}"}\n', ""), source="x"
        )


def _string_limits(schema: Any, path: str = "input") -> Iterator[tuple[str, int]]:
    """Every ``maxLength`` of a schema, with where it is."""
    if isinstance(schema, dict):
        if isinstance(schema.get("maxLength"), int):
            yield path, schema["maxLength"]
        for key, value in schema.items():
            yield from _string_limits(value, f"{path}.{key}")
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            yield from _string_limits(value, f"{path}.{index}")


def test_every_input_an_action_promises_fits_through_the_api() -> None:
    """An input schema may not promise strings the request body's own limits refuse (a
    Drive upload once promised 5,000,000 characters where a body's strings stop at
    ``MAX_STRING_CHARS``), nor a body larger than the default body limit."""
    from tether.config import Settings
    from tether.domain.bounded_json import MAX_STRING_CHARS

    body_limit = Settings.model_fields["max_body_bytes"].default
    assert body_limit > MAX_STRING_CHARS
    too_long = [
        f"{provider}.{name}: {path} = {limit}"
        for provider, actions in load_actions().items()
        for name, action in actions.items()
        for path, limit in _string_limits(action.input)
        if limit > MAX_STRING_CHARS
    ]
    assert too_long == []
