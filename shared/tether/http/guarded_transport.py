"""An httpx transport behind the SSRF guard, for code that takes an ``httpx.Client`` (the
OAuth token endpoint client).

Each request's URL is checked by :class:`~tether.http.guard.EgressGuard` (every resolved
address, allowlist applied) and sent to the checked address, with the ``Host`` header and TLS
SNI/certificate name kept as the original host: no second DNS lookup can swap the address.
The connections come from :class:`~tether.http.host_transports.HostTransports` (the same
bounded pool the outbound client uses when the container shares one), so a TLS session
verified for one name is never reused for another name on the same address. Redirects are not
followed here (the clients using it do not follow them);
:class:`~tether.http.client.OutboundClient` is the full client.
"""

from __future__ import annotations

import httpx

from tether.domain.errors import TetherError
from tether.http.guard import EgressGuard
from tether.http.host_transports import HostTransports

__all__ = ["GuardedTransport"]


class GuardedTransport(httpx.BaseTransport):
    """``transports`` is a shared pool (closed by its owner); without it the transport keeps a
    pool of its own and closes it with itself."""

    def __init__(self, guard: EgressGuard, *, transports: HostTransports | None = None) -> None:
        self._guard = guard
        self._owns_transports = transports is None
        self._transports = transports or HostTransports()

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
        if target.scheme == "https":
            extensions["sni_hostname"] = target.host
        forwarded = httpx.Request(
            request.method, url, headers=headers, stream=request.stream, extensions=extensions
        )
        return self._transports.handle_request(target, forwarded)

    def close(self) -> None:
        if self._owns_transports:
            self._transports.close()
