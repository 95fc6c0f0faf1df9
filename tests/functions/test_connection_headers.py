"""A catalog entry's ``config_headers``: a value of the connection's config sent as a header
with every API call. Xero's ``Xero-tenant-id`` (the organisation chosen or learned at
connect) reaches a stand-in of Xero's API on loopback from every path out: the connection
test, fetch, the proxy, an action and a sync run, each through the deployed functions, on a
connection made through the real OAuth flow (the local OAuth provider). The stand-in answers
403 without the header, as Xero does, and records every request it saw."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from flask.testing import FlaskClient
from functions_framework import create_app
from pydantic import SecretStr

from tests.conftest import bearer
from tests.functions.conftest import SOURCE
from tests.support.loopback_http import LoopbackHTTP, QuietHandler
from tether.bootstrap import Container, reset_container
from tether.catalog import Catalog, OAuth2Auth, load_catalog
from tether.config import OAuthClientCredentials, Settings
from tether_emulators.oauth_provider import OAuthProvider

ACME = bearer("acme")
TENANT = "0b6ad5a2-3e41-4c6b-9a43-0b5e0c3d2f11"
CONTACT = "5b96e86b-418e-48e8-8949-308c14aec278"
RETURN_TO = "https://app.example.com/integrations/done"
BASE_PATH = "/api.xro/2.0"
INVOICES = [
    {"InvoiceID": "inv-1", "Status": "AUTHORISED", "UpdatedDateUTC": "/Date(1700000000000+0000)/"},
    {"InvoiceID": "inv-2", "Status": "PAID", "UpdatedDateUTC": "/Date(1700000100000+0000)/"},
]


@dataclass
class Seen:
    method: str
    path: str
    tenant_ids: list[str]


@dataclass
class XeroStandIn:
    """Answers what each path out asks of Xero, only with the right ``Xero-tenant-id``."""

    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, method: str, target: str, tenant_ids: list[str]) -> tuple[int, Any]:
        path = urlsplit(target).path
        with self.lock:
            self.seen.append(Seen(method, path, tenant_ids))
        if tenant_ids != [TENANT]:
            return 403, {"Title": "Forbidden", "Detail": "AuthenticationUnsuccessful"}
        if path == "/connections":
            return 200, [{"tenantId": TENANT, "tenantType": "ORGANISATION"}]
        if path == f"{BASE_PATH}/Invoices" and method == "GET":
            page = parse_qs(urlsplit(target).query).get("page", ["1"])[0]
            return 200, {"Invoices": INVOICES if page == "1" else []}
        if path == f"{BASE_PATH}/Invoices" and method == "PUT":
            return 200, {"Invoices": [{"InvoiceID": "inv-3", "Status": "DRAFT", "Total": 10}]}
        return 404, {"Title": "Not Found"}

    def paths_seen(self) -> set[str]:
        with self.lock:
            return {f"{s.method} {s.path}" for s in self.seen}

    def tenant_ids_seen(self) -> list[list[str]]:
        with self.lock:
            return [s.tenant_ids for s in self.seen]


def serve(stand_in: XeroStandIn) -> LoopbackHTTP:
    class Handler(QuietHandler):
        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            status, body = stand_in.answer(
                self.command, self.path, self.headers.get_all("Xero-tenant-id") or []
            )
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        do_GET = do_PUT = do_POST = _any  # noqa: N815 - http.server's handler names

    return LoopbackHTTP(Handler, None)


def xero_on(url: str, oauth: OAuthProvider) -> Catalog:
    """The packaged catalog, its Xero entry's API (and test request) on ``url`` and its
    authorization server the local one: everything else, ``config_headers`` included, as
    packaged. The post-connect lookup calls Xero itself, so it is left out: the tenant names
    the organisation in the config."""
    entries = []
    for provider in load_catalog():
        if provider.key == "xero":
            assert isinstance(provider.auth, OAuth2Auth)
            assert provider.test is not None
            provider = provider.model_copy(
                update={
                    "api_base_url": url + BASE_PATH,
                    "test": provider.test.model_copy(update={"path": url + "/connections"}),
                    "auth": provider.auth.model_copy(
                        update={
                            "authorization_url": oauth.authorization_url,
                            "token_url": oauth.token_url,
                            "revocation_url": oauth.revocation_url,
                            "webhook_route_from": None,
                            "post_connect": None,
                        }
                    ),
                }
            )
        entries.append(provider)
    return Catalog(entries)


class World:
    def __init__(self, container: Container, xero: XeroStandIn) -> None:
        self.container = container
        self.xero = xero
        self.start: FlaskClient = create_app("oauth_start", SOURCE).test_client()
        self.callback: FlaskClient = create_app("oauth_callback", SOURCE).test_client()
        self.test: FlaskClient = create_app("test_connection", SOURCE).test_client()
        self.fetch: FlaskClient = create_app("fetch", SOURCE).test_client()
        self.proxy: FlaskClient = create_app("proxy", SOURCE).test_client()
        self.actions: FlaskClient = create_app("actions", SOURCE).test_client()
        self.syncs: FlaskClient = create_app("syncs", SOURCE).test_client()

    def connect(self, config: dict[str, Any]) -> str:
        started = self.start.post(
            "/",
            json={
                "provider": "xero",
                "config": config,
                "return_to": RETURN_TO,
                "scopes": ["offline_access", "accounting.invoices"],
            },
            headers=ACME,
        )
        assert started.status_code == 201, started.get_json()
        answer = httpx.get(started.get_json()["authorization_url"], follow_redirects=False)
        assert answer.status_code == 302, answer.text
        query = {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["location"]).query).items()}
        finished = self.callback.get("/", query_string=query)
        assert finished.status_code == 302, finished.get_data(as_text=True)
        outcome = parse_qs(urlsplit(finished.headers["Location"]).query)
        assert outcome.get("status") == ["active"], outcome
        return outcome["connection_id"][0]

    def run_sync(self, connection_id: str, name: str) -> dict[str, Any]:
        started = self.syncs.post(f"/{connection_id}/{name}/run", json={}, headers=ACME)
        assert started.status_code == 202, started.get_json()
        queue: Any = self.container.tasks
        for _ in range(1000):
            if not queue.run_due():
                break
        runs = self.syncs.get(f"/{connection_id}/{name}/runs", headers=ACME).get_json()["runs"]
        [run] = [r for r in runs if r["id"] == started.get_json()["run_id"]]
        return dict(run)


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    stand_in = XeroStandIn()
    server = serve(stand_in)
    try:
        with OAuthProvider() as oauth:
            client = OAuthClientCredentials(
                client_id="tether-test", client_secret=SecretStr("tether-test-secret")
            )
            configured = settings.model_copy(
                update={
                    "public_url": "http://127.0.0.1:8080",
                    "allowed_return_urls": "https://app.example.com/integrations",
                    "egress_allowlist": f"127.0.0.1:{oauth.port},127.0.0.1:{server.port}",
                    "oauth_clients": {"xero": client},
                }
            )
            url = f"http://127.0.0.1:{server.port}"
            container = Container(configured, catalog=xero_on(url, oauth))
            reset_container(container)
            try:
                yield World(container, stand_in)
            finally:
                reset_container(None)
                container.close()
    finally:
        server.close()


def test_the_packaged_xero_entry_sends_its_tenant_id_from_the_config() -> None:
    xero = load_catalog().get("xero")
    assert xero.config_headers == {"Xero-tenant-id": "tenant_id"}
    assert xero.headers_for({"tenant_id": TENANT})["Xero-tenant-id"] == TENANT
    assert "Xero-tenant-id" not in xero.headers_for({})


def test_every_call_of_a_xero_connection_names_its_organisation(world: World) -> None:
    connection_id = world.connect({"tenant_id": TENANT})

    tested = world.test.post(f"/{connection_id}", headers=ACME)
    assert tested.status_code == 200 and tested.get_json()["ok"], tested.get_json()

    fetched = world.fetch.post(
        f"/{connection_id}",
        json={"path": "/Invoices", "records_path": "Invoices", "pagination": None},
        headers=ACME,
    )
    assert fetched.status_code == 200, fetched.get_json()
    assert [r["InvoiceID"] for r in fetched.get_json()["records"]] == ["inv-1", "inv-2"]

    proxied = world.proxy.get(f"/{connection_id}/Invoices", headers=ACME)
    assert proxied.status_code == 200, proxied.get_data(as_text=True)
    assert len(proxied.get_json()["Invoices"]) == 2

    acted = world.actions.post(
        f"/{connection_id}/create_invoice",
        json={"contact_id": CONTACT, "line_items": [{"Description": "Tea", "UnitAmount": 10}]},
        headers=ACME,
    )
    assert acted.status_code == 200, acted.get_json()

    run = world.run_sync(connection_id, "invoices")
    assert run["status"] == "succeeded", run
    assert run["added"] == 2, run

    assert {
        "GET /connections",
        f"GET {BASE_PATH}/Invoices",
        f"PUT {BASE_PATH}/Invoices",
    } <= world.xero.paths_seen()
    # Every request named the organisation, once (the action's own header replaces the
    # connection's rather than going out beside it).
    assert world.xero.tenant_ids_seen() and all(
        ids == [TENANT] for ids in world.xero.tenant_ids_seen()
    )


def test_a_caller_of_the_proxy_may_not_send_it_twice(world: World) -> None:
    connection_id = world.connect({"tenant_id": TENANT})
    proxied = world.proxy.get(
        f"/{connection_id}/Invoices", headers={**ACME, "xero-tenant-id": TENANT}
    )
    assert proxied.status_code == 200, proxied.get_data(as_text=True)
    assert world.xero.tenant_ids_seen()[-1] == [TENANT]


def test_without_an_organisation_no_header_is_sent(world: World) -> None:
    connection_id = world.connect({})
    tested = world.test.post(f"/{connection_id}", headers=ACME)
    assert tested.status_code == 200
    assert tested.get_json()["ok"] is False
    assert world.xero.tenant_ids_seen() == [[]]
