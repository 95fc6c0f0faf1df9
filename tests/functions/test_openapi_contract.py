"""The OpenAPI document is the contract the functions keep: every route is documented (and
nothing else), every body has a schema, and real answers of the functions validate against
the schema documented for their path, method and status."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import stripe
from flask.testing import FlaskClient
from functions_framework import create_app
from jsonschema import Draft202012Validator
from werkzeug.test import TestResponse

from tests.conftest import bearer
from tests.functions.conftest import SOURCE
from tests.functions.oauth_harness import Flow, clock, flow
from tether.api import (
    actions,
    catalog,
    connect,
    connect_sessions,
    connections,
    fetch,
    mcp,
    oauth,
    proxy,
    records,
    settings,
    syncs,
    tasks,
    testing,
    webhooks,
)
from tether.api.openapi import openapi_document
from tether.api.routing import Router
from tether.bootstrap import Container, reset_container
from tether.config import Settings
from tether_emulators.sample_api import AuthRequirement, SampleApi

ACME = bearer("acme")
SECRET = "contract-secret-0123456789"
WHSEC = "whsec_contract0test0secret0123456789"
__all__ = ["clock", "flow"]  # fixtures of the OAuth harness used here
ROUTERS: dict[str, Router[Any]] = {
    "catalog": catalog.router,
    "connections": connections.router,
    "settings": settings.router,
    "test_connection": testing.router,
    "fetch": fetch.router,
    "actions": actions.router,
    "proxy": proxy.router,
    "mcp": mcp.router,
    "oauth_start": oauth.start_router,
    "oauth_callback": oauth.callback_router,
    "webhooks": webhooks.router,
    "syncs": syncs.router,
    "records": records.router,
    "tasks": tasks.router,
    "connect_sessions": connect_sessions.router,
    "connect": connect.router,
}
DOCUMENT = openapi_document()


def _documented_path(function: str, pattern: str) -> str:
    parts = [p for p in pattern.split("/") if p]
    return f"/{function}/" + "/".join(f"{{{p[1:]}}}" if p[0] in ":*" else p for p in parts)


def test_every_route_is_documented_and_nothing_else() -> None:
    routes = {
        (route.method.lower(), _documented_path(function, route.pattern))
        for function, router in ROUTERS.items()
        for route in router.routes
    }
    documented = {(method, path) for path, item in DOCUMENT["paths"].items() for method in item}
    assert routes == documented


def test_the_routes_a_connect_session_may_call_are_marked() -> None:
    routes = {
        (route.method.lower(), _documented_path(function, route.pattern))
        for function, router in ROUTERS.items()
        for route in router.routes
        if route.sessions
    }
    marked = {
        (method, path)
        for path, item in DOCUMENT["paths"].items()
        for method, op in item.items()
        if op.get("x-connect-session")
    }
    assert routes == marked
    assert ("get", "/settings/") not in marked


def test_every_body_has_a_schema() -> None:
    for path, item in DOCUMENT["paths"].items():
        for method, op in item.items():
            for status, response in op["responses"].items():
                # the hosted page and its files are HTML, script and style, not JSON
                if status not in ("204", "302") and not path.startswith("/connect/"):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema["$ref"].startswith("#/components/schemas/"), (path, status)
            if method in ("post", "put", "patch") and "requestBody" not in op:
                assert path.endswith(("/refresh", "/rotate", "/test_connection/{id}")), path


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_component_schemas_are_valid_and_every_reference_resolves() -> None:
    components = DOCUMENT["components"]["schemas"]
    for schema in components.values():
        Draft202012Validator.check_schema(schema)
    for ref in _refs(DOCUMENT):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in components, ref


class Checker:
    """Validates each answer against the schema documented for it; keeps what it saw."""

    def __init__(self) -> None:
        self.seen: set[tuple[str, str, str]] = set()

    def __call__(self, method: str, path: str, response: TestResponse) -> Any:
        status = str(response.status_code)
        responses = DOCUMENT["paths"][path][method.lower()]["responses"]
        assert status in responses, (method, path, status, response.get_data(as_text=True))
        self.seen.add((method, path, status))
        content = responses[status].get("content")
        if content is None:
            assert response.get_data() == b""
            return None
        body = response.get_json()
        schema = {**content["application/json"]["schema"], "components": DOCUMENT["components"]}
        errors = [e.message for e in Draft202012Validator(schema).iter_errors(body)]
        assert errors == [], (method, path, status, errors)
        return body


@pytest.fixture
def api(settings: Settings, sample_api_factory: Callable[..., SampleApi]) -> Iterator[SampleApi]:
    sample_api = sample_api_factory(auth=AuthRequirement(mode="bearer", secret=SECRET))
    container = Container(
        settings.model_copy(update={"egress_allowlist": f"127.0.0.1:{sample_api.port}"})
    )
    reset_container(container)
    yield sample_api
    reset_container(None)
    container.close()


def _client(function: str) -> FlaskClient:
    return create_app(function, SOURCE).test_client()


def test_real_answers_validate_against_the_document(api: SampleApi) -> None:
    check = Checker()
    cat = _client("catalog")
    for entry in check("GET", "/catalog/", cat.get("/"))["providers"]:
        check("GET", "/catalog/{key}", cat.get(f"/{entry['key']}"))
    check("GET", "/catalog/{key}", cat.get("/no_such_provider"))

    conns = _client("connections")
    config = {"base_url": api.url, "test_path": "/me", "auth_method": "bearer"}
    body = {"provider": "rest_api", "config": config, "credentials": {"token": SECRET}}
    created = check("POST", "/connections/", conns.post("/", json=body, headers=ACME))
    cid = created["id"]
    stripe_keys = {"api_key": "sk_test_" + "4" * 24, "webhook_secret": WHSEC}
    stripe_body = {"provider": "stripe", "credentials": stripe_keys}
    with_hooks = check("POST", "/connections/", conns.post("/", json=stripe_body, headers=ACME))
    check("POST", "/connections/", conns.post("/", json={"provider": 1}, headers=ACME))
    check("GET", "/connections/", conns.get("/", headers=ACME))
    check("GET", "/connections/{id}", conns.get(f"/{cid}", headers=ACME))
    check("GET", "/connections/{id}", conns.get(f"/{cid}"))
    patch = conns.patch(f"/{cid}", json={"metadata": {"k": 1.5}}, headers=ACME)
    check("PATCH", "/connections/{id}", patch)
    check("GET", "/connections/{id}/audit", conns.get(f"/{cid}/audit", headers=ACME))
    check("GET", "/connections/{id}/events", conns.get(f"/{cid}/events", headers=ACME))
    check("POST", "/connections/{id}/refresh", conns.post(f"/{cid}/refresh", headers=ACME))
    for rotated_id in (cid, with_hooks["id"]):
        rotate = conns.post(f"/{rotated_id}/webhook/rotate", headers=ACME)
        new_hook = check("POST", "/connections/{id}/webhook/rotate", rotate)

    tester = _client("test_connection")
    check("POST", "/test_connection/{id}", tester.post(f"/{cid}", headers=ACME))
    unsaved = tester.post("/", json=body, headers=ACME)
    check("POST", "/test_connection/", unsaved)
    check("POST", "/test_connection/", tester.post("/", json={"provider": "?"}, headers=ACME))

    fetcher = _client("fetch")
    check("POST", "/fetch/{id}", fetcher.post(f"/{cid}", json={"path": "/me"}, headers=ACME))
    check("GET", "/fetch/{id}/endpoints", fetcher.get(f"/{cid}/endpoints", headers=ACME))

    prefs = _client("settings")
    check("GET", "/settings/", prefs.get("/", headers=ACME))
    rotated = prefs.post("/notify-secret/rotate", headers=ACME)
    check("POST", "/settings/notify-secret/rotate", rotated)
    put = prefs.put("/", json={"notify_url": "https://hooks.example.com/t"}, headers=ACME)
    check("PUT", "/settings/", put)
    check("PUT", "/settings/", prefs.put("/", json={"notify_url": None}, headers=ACME))

    start = _client("oauth_start").post("/", json={"provider": "rest_api"}, headers=ACME)
    check("POST", "/oauth_start/", start)
    check("GET", "/oauth_callback/", _client("oauth_callback").get("/?code=x&state=y"))

    hooks = _client("webhooks")
    hook_path = urlsplit(new_hook["url"]).path.removeprefix("/webhooks")
    event = json.dumps({"id": "evt_1", "type": "invoice.paid", "data": {"object": {}}})
    signature = stripe.WebhookSignature.generate_signature_header(
        event, WHSEC, timestamp=int(time.time())
    )
    signed = {"Stripe-Signature": signature, "Content-Type": "application/json"}
    check("POST", "/webhooks/{token}", hooks.post(hook_path, data=event, headers=signed))
    check("POST", "/webhooks/{token}", hooks.post(hook_path, data=event))
    check("POST", "/webhooks/{token}", hooks.post("/whk_unknown", data=b"{}"))
    check("POST", "/webhooks/providers/{provider}", hooks.post("/providers/x", data=b"{}"))

    queue = _client("tasks")
    container_token = {"Authorization": f"Bearer {_task_token()}"}
    check("POST", "/tasks/{kind}", queue.post("/sweep", headers=container_token))
    check("POST", "/tasks/{kind}", queue.post("/no_such_kind", json={}, headers=container_token))
    replay = queue.post("/deliver/replay", json={"tenant_id": "acme"}, headers=container_token)
    check("POST", "/tasks/deliver/replay", replay)

    check("DELETE", "/connections/{id}", conns.delete(f"/{cid}", headers=ACME))
    check("DELETE", "/connections/{id}", conns.delete(f"/{cid}", headers=ACME))
    successes = {(m, p) for m, p, status in check.seen if status.startswith("2")}
    # every route answered 2xx once but the OAuth ones (below), the app-level webhook route
    # (its flow's own tests) and a replay of a failed delivery
    assert len(successes) == 19, sorted(successes)


def test_oauth_answers_validate_against_the_document(flow: Flow) -> None:
    check = Checker()
    started = check(
        "POST", "/oauth_start/", flow.start.post("/", json=flow.custom_body(), headers=ACME)
    )
    query = flow.browser(started["authorization_url"])
    check("GET", "/oauth_callback/", flow.callback.get("/", query_string=query))
    check("GET", "/oauth_callback/", flow.callback.get("/", query_string=query))  # state used
    cid = flow.connections.get("/", headers=ACME).get_json()["connections"][0]["id"]
    refreshed = flow.connections.post(f"/{cid}/refresh", headers=ACME)
    check("POST", "/connections/{id}/refresh", refreshed)
    assert {status for _, _, status in check.seen} == {"200", "201", "302"}


def _task_token() -> str:
    from tether.bootstrap import get_container

    token: str = get_container().task_token
    return token
