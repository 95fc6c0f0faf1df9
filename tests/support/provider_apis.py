"""The providers' published API descriptions in ``tests/fixtures/provider_apis/<provider>.json``
(an OpenAPI document, a Google Discovery document, or a provider's reference written out in
OpenAPI form), read as operations: what the catalog's syncs are checked against, and what the
provider simulators accept."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tether.catalog import Provider

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "provider_apis"


@dataclass
class Operation:
    """One operation of a fixture: its parameters by name (value: where), its JSON body and
    200 response schemas, its response headers; ``resolve`` follows a schema reference."""

    params: dict[str, str]
    body: dict[str, Any] | None
    response: dict[str, Any]
    headers: set[str] = field(default_factory=set)
    raw_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    schemas: dict[str, Any] = field(default_factory=dict)

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.schemas[schema["$ref"]]
        return schema

    def at(self, schema: dict[str, Any] | None, dotted: str | None) -> dict[str, Any] | None:
        """The schema at ``dotted`` (list items are stepped through), or ``None``."""
        if schema is None:
            return None
        current = self.resolve(schema)
        for part in dotted.split(".") if dotted else []:
            while current.get("type") == "array" and "items" in current:
                current = self.resolve(current["items"])
            properties = current.get("properties") or {}
            if part not in properties:
                return None
            current = self.resolve(properties[part])
        return current

    def records(self, records_path: str | None) -> dict[str, Any] | None:
        """The schema of one record."""
        found = self.at(self.response, records_path)
        if found is None or found.get("type") != "array":
            return None
        return self.resolve(found.get("items", {}))


def _segments(path: str) -> list[str]:
    return [part for part in path.split("/") if part]


def _matches(template: str, path: str) -> bool:
    wanted, actual = _segments(template), _segments(path)
    return len(wanted) == len(actual) and all(
        w == a or (w.startswith("{") and w.endswith("}")) or (a.startswith("{") and a.endswith("}"))
        for w, a in zip(wanted, actual, strict=True)
    )


def base_path(provider: Provider) -> str:
    base = provider.api_base_url or ""
    if base.startswith("{"):
        base = "https://host" + base[base.index("}") + 1 :]
    return urlsplit(base).path.rstrip("/")


@cache
def fixture(provider: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((FIXTURES / f"{provider}.json").read_text("utf-8"))
    return document


def _discovery_methods(resource: dict[str, Any]) -> list[dict[str, Any]]:
    found = list((resource.get("methods") or {}).values())
    for child in (resource.get("resources") or {}).values():
        found += _discovery_methods(child)
    return found


def operation_at(provider: str, path: str, method: str) -> Operation | None:
    document = fixture(provider)
    if document.get("kind") == "discovery#restDescription":
        base = urlsplit(document["baseUrl"]).path
        for candidate in _discovery_methods(document):
            full = base + candidate["path"]
            if candidate["httpMethod"] == method and _matches(full, path):
                # The document's own parameters (fields, ...) apply to every method.
                raw = {**document.get("parameters", {}), **(candidate.get("parameters") or {})}
                return Operation(
                    params={name: spec["location"] for name, spec in raw.items()},
                    body=None,
                    response=candidate["response"],
                    raw_params=raw,
                    schemas=document["schemas"],
                )
        return None
    server = urlsplit(document["servers"][0]["url"]).path.rstrip("/")
    for template, operations in document["paths"].items():
        operation = operations.get(method.lower())
        if operation is None or not _matches(server + template, path):
            continue
        raw = {p["name"]: p for p in operation.get("parameters", [])}
        body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
        answer = operation["responses"]["200"]
        return Operation(
            params={name: spec["in"] for name, spec in raw.items()},
            body=body.get("schema"),
            response=answer.get("content", {}).get("application/json", {}).get("schema", {}),
            headers={name.lower() for name in answer.get("headers", {})},
            raw_params=raw,
        )
    return None
