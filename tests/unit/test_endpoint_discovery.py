"""Endpoint discovery: catalog knowledge first, then the API's published description, cached."""

from __future__ import annotations

import json

from tether.domain.errors import TetherError
from tether.fetch.discovery import (
    Endpoint,
    EndpointDiscovery,
    read_spec,
    spec_candidates,
)
from tether.http.model import OutboundResponse

OPENAPI = {
    "openapi": "3.1.0",
    "paths": {
        "/items": {"get": {"summary": "List items"}, "post": {"operationId": "createItem"}},
        "/items/{id}": {"get": {}, "parameters": []},
    },
}
SWAGGER = {"swagger": "2.0", "basePath": "/v2", "paths": {"/pets": {"get": {"summary": "Pets"}}}}


class FakeApi:
    def __init__(self, documents: dict[str, object]) -> None:
        self.documents = documents
        self.asked: list[str] = []

    def __call__(self, method: str, url: str) -> OutboundResponse:
        self.asked.append(url)
        if url.endswith("broken"):
            raise TetherError("refused", code="OUTBOUND_CONNECT")
        body = self.documents.get(url)
        status = 200 if body is not None else 404
        content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        return OutboundResponse(status=status, headers={}, content=content, url=url, elapsed_ms=1)


def test_candidates_go_from_the_base_url_to_the_host_root() -> None:
    assert spec_candidates("https://api.example.com/v1") == [
        "https://api.example.com/v1/openapi.json",
        "https://api.example.com/v1/swagger.json",
        "https://api.example.com/v1/.well-known/openapi",
        "https://api.example.com/openapi.json",
        "https://api.example.com/swagger.json",
        "https://api.example.com/.well-known/openapi",
    ]


def test_openapi_and_swagger_documents_are_read() -> None:
    operations = read_spec(OPENAPI)
    assert operations is not None
    assert [(e.method, e.path, e.summary) for e in operations] == [
        ("GET", "/items", "List items"),
        ("POST", "/items", "createItem"),
        ("GET", "/items/{id}", None),
    ]
    swagger = read_spec(SWAGGER)
    assert swagger is not None and [(e.method, e.path) for e in swagger] == [("GET", "/v2/pets")]
    assert read_spec({"paths": {}}) is None
    assert read_spec(["not", "a", "spec"]) is None


def test_discovery_merges_catalog_endpoints_and_caches_for_an_hour() -> None:
    now = [1000.0]
    discovery = EndpointDiscovery(monotonic=lambda: now[0])
    api = FakeApi(
        {
            "https://api.example.com/v1/openapi.json": "<html>not json</html>",
            "https://api.example.com/openapi.json": OPENAPI,
        }
    )
    known = [Endpoint("GET", "/items", "the catalog's test request")]
    found = discovery.discover(
        "conn_1", base_url="https://api.example.com/v1", send=api, known=known
    )
    assert found.spec_url == "https://api.example.com/openapi.json"
    assert [(e.method, e.path, e.source) for e in found.endpoints] == [
        ("GET", "/items", "catalog"),
        ("POST", "/items", "openapi"),
        ("GET", "/items/{id}", "openapi"),
    ]
    asked = len(api.asked)
    discovery.discover("conn_1", base_url="https://api.example.com/v1", send=api, known=known)
    assert len(api.asked) == asked  # cached
    now[0] += 3601
    discovery.discover("conn_1", base_url="https://api.example.com/v1", send=api, known=known)
    assert len(api.asked) > asked  # expired


def test_nothing_published_leaves_the_catalog_endpoints_and_errors_are_skipped() -> None:
    discovery = EndpointDiscovery(monotonic=lambda: 0.0)
    api = FakeApi({})
    found = discovery.discover("conn_2", base_url="https://x.example.com/broken", send=api)
    assert found.endpoints == [] and found.spec_url is None
    assert len(api.asked) == 6
