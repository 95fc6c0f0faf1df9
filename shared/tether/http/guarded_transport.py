"""An httpx transport behind the SSRF guard, for code that takes an ``httpx.Client`` (the
OAuth token endpoint client).

Each request's URL is checked by :class:`~tether.http.guard.EgressGuard` (every resolved
address, allowlist applied) and sent to the checked address, with the ``Host`` header and TLS
SNI/certificate name kept as the original host: no second DNS lookup can swap the address.
HTTPS connections are pooled per host name, so a TLS session verified for one name is never
reused for another name on the same address. Redirects are not followed here (the clients
using it do not follow them); :class:`~tether.http.client.OutboundClient` is the full client.
"""

from __future__ import annotations

import threading

import httpx

from tether.domain.errors import TetherError
from tether.http.guard import EgressGuard

__all__ = ["GuardedTransport"]


class GuardedTransport(httpx.BaseTransport):
    def __init__(self, guard: EgressGuard) -> None:
        self._guard = guard
        self._lock = threading.Lock()
        self._pools: dict[str, httpx.HTTPTransport] = {}

    def _pool(self, key: str) -> httpx.HTTPTransport:
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                pool = self._pools[key] = httpx.HTTPTransport(retries=0)
            return pool

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            target = self._guard.check(str(request.url.copy_with(query=None)))
        except TetherError as exc:
            # httpx callers see a transport failure; the message names the host only.
            raise httpx.ConnectError(exc.message, request=request) from None
        url = httpx.URL(target.connect_url).copy_with(query=request.url.query or None)
        headers = request.headers.copy()
        headers["Host"] = target.host_header
        extensions = dict(request.extensions)
        key = "http"
        if target.scheme == "https":
            extensions["sni_hostname"] = target.host
            key = f"https://{target.host}:{target.port}"
        forwarded = httpx.Request(
            request.method, url, headers=headers, stream=request.stream, extensions=extensions
        )
        return self._pool(key).handle_request(forwarded)

    def close(self) -> None:
        with self._lock:
            pools = list(self._pools.values())
            self._pools.clear()
        for pool in pools:
            pool.close()
