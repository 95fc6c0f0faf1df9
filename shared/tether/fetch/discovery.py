"""Endpoint discovery for ``GET /fetch/<id>/endpoints``: what can be fetched from a connection.

The catalog's own knowledge comes first (the entry's test request is a known, working
endpoint); then the API's published description is looked for at the usual places under the
base URL and at the host root (``openapi.json``, ``swagger.json``, ``/.well-known/openapi``).
OpenAPI 3 and Swagger 2 documents are read for their paths, methods and summaries. Every
request goes through the connection's outbound client (SSRF guard, auth, rate limit). Results
are cached per connection for an hour, in a bounded per-instance cache.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

from tether.domain.errors import TetherError
from tether.http.model import OutboundResponse
from tether.ttl_cache import TtlCache

__all__ = ["Discovered", "Endpoint", "EndpointDiscovery"]

_SPEC_PATHS = ("openapi.json", "swagger.json", ".well-known/openapi")
_METHODS = ("get", "post", "put", "patch", "delete")
_MAX_ENDPOINTS = 500


class Send(Protocol):
    def __call__(self, method: str, url: str) -> OutboundResponse: ...


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    summary: str | None = None
    source: str = "catalog"


@dataclass(frozen=True)
class Discovered:
    endpoints: list[Endpoint] = field(default_factory=list)
    spec_url: str | None = None
    truncated: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "endpoints": [e.__dict__ for e in self.endpoints],
            "spec_url": self.spec_url,
            "truncated": self.truncated,
        }


def spec_candidates(base_url: str) -> list[str]:
    """Where an API usually publishes its description, most specific first."""
    base = base_url if base_url.endswith("/") else base_url + "/"
    parts = urlsplit(base)
    root = f"{parts.scheme}://{parts.netloc}/"
    seen: dict[str, None] = {}
    for prefix in (base, root):
        for path in _SPEC_PATHS:
            seen.setdefault(urljoin(prefix, path), None)
    return list(seen)


def read_spec(document: Any) -> list[Endpoint] | None:
    """The operations of an OpenAPI 3 / Swagger 2 document; ``None`` if it is neither."""
    if not isinstance(document, dict) or not isinstance(document.get("paths"), dict):
        return None
    if "openapi" not in document and "swagger" not in document:
        return None
    base_path = document.get("basePath") if isinstance(document.get("basePath"), str) else ""
    found: list[Endpoint] = []
    for path, item in document["paths"].items():
        if not isinstance(path, str) or not isinstance(item, dict):
            continue
        for method in _METHODS:
            operation = item.get(method)
            if not isinstance(operation, dict):
                continue
            summary = operation.get("summary") or operation.get("operationId")
            found.append(
                Endpoint(
                    method=method.upper(),
                    path=(base_path.rstrip("/") + path) if base_path else path,
                    summary=str(summary)[:200] if summary else None,
                    source="openapi",
                )
            )
    return found


class EndpointDiscovery:
    def __init__(
        self,
        *,
        monotonic: Callable[[], float],
        ttl_seconds: float = 3600.0,
        max_entries: int = 1024,
    ) -> None:
        self._cache: TtlCache[str, Discovered] = TtlCache(
            ttl=ttl_seconds, size=max_entries, now=monotonic
        )

    def discover(
        self,
        cache_key: str,
        *,
        base_url: str,
        send: Send,
        known: list[Endpoint] | None = None,
    ) -> Discovered:
        hit = self._cache.get(cache_key)
        if hit is not None:
            return hit
        result = self._discover(base_url, send, list(known or []))
        self._cache.put(cache_key, result)
        return result

    def forget(self, cache_key: str) -> None:
        self._cache.drop(lambda key: key == cache_key)

    @staticmethod
    def _discover(base_url: str, send: Send, known: list[Endpoint]) -> Discovered:
        for url in spec_candidates(base_url):
            try:
                response = send("GET", url)
            except TetherError:
                continue  # unreachable or refused: try the next place
            if response.status != 200:
                continue
            try:
                # not json.loads: a document nested past the recursion limit is not JSON
                # to read either, not a crash
                document = response.json()
            except ValueError:
                continue
            operations = read_spec(document)
            if operations is None:
                continue
            merged = known + [
                e
                for e in operations
                if (e.method, e.path) not in {(k.method, k.path) for k in known}
            ]
            return Discovered(
                endpoints=merged[:_MAX_ENDPOINTS],
                spec_url=response.url,
                truncated=len(merged) > _MAX_ENDPOINTS,
            )
        return Discovered(endpoints=known)
