"""Calls to a stored connection's API on its behalf: the base URL, the auth, the headers
(the entry's static ones and those its ``config_headers`` take from the connection's config)
and the rate limit of that connection, bound around the one outbound client.

Used by fetch, endpoint discovery, actions and the proxy. Credentials are read through the
connection service (audited, with the caller's purpose: ``fetch``, ``proxy``…; an action's read
is recorded by the run's own ``action.run`` entry instead); OAuth
connections get their access token from the token refresh (refreshed when due, once more
after a 401).

What a connection's catalog entry and config make of it (base URL, static headers, rate,
the origins its credentials are bound to) is a pure function of the two, and costs more than
the rest of building a sender (rendering every credential-bearing URL template); it is kept
per instance under the connection's id and ``version``, which every change of the record
bumps, and only while the catalog still holds the same entry. Credentials are never kept.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from tether.catalog import Catalog, Provider
from tether.catalog.destination import destination_of
from tether.catalog.issued_modes import ISSUED_TOKEN_MODES
from tether.connections.service import ConnectionService
from tether.domain.errors import InvalidRequest
from tether.domain.models import Connection, Principal
from tether.fetch.request_auth import auth_for
from tether.http.client import OutboundClient
from tether.http.model import OutboundResponse, RateSpec, RequestAuth
from tether.http.redact import Redactor
from tether.oauth.refresh import TokenRefresh
from tether.ttl_cache import TtlCache

__all__ = ["ConnectionCalls", "ConnectionSender", "merged_headers"]


def merged_headers(base: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """``base`` with ``extra`` over it, header names compared without case (HTTP's rule): a
    caller's ``xero-tenant-id`` replaces the connection's ``Xero-tenant-id`` instead of
    going out beside it."""
    replaced = {name.lower() for name in extra}
    return {
        **{name: value for name, value in base.items() if name.lower() not in replaced},
        **extra,
    }


@dataclass(frozen=True)
class ConnectionSender:
    """``send(method, url, *, params, json, headers)`` for one connection."""

    client: OutboundClient
    connection: Connection
    provider: Provider
    base_url: str
    auth: RequestAuth | None
    headers: Mapping[str, str]
    rate_key: str
    rate: RateSpec
    default_pagination: Mapping[str, Any] | None
    # The origins the credentials are bound to (tether.catalog.destination).
    origins: frozenset[str]
    # The string values of the connection's stored credentials (see redact).
    credential_values: tuple[str, ...] = field(default=(), repr=False)
    # The provider's rate-limit response headers (catalog ``rate_limit_headers``), if any.
    rate_limit_headers: Mapping[str, str] | None = None

    def __call__(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
    ) -> OutboundResponse:
        return self.client.request(
            method,
            url,
            headers=merged_headers(self.headers, headers or {}),
            params=params,
            json=json,
            content=content,
            auth=self.auth,
            auth_origins=self.origins,
            rate_key=self.rate_key,
            rate=self.rate,
            rate_limit_headers=self.rate_limit_headers,
        )

    def redact(self, value: Any) -> Any:
        """``value`` (JSON-shaped, e.g. fetched records) with every credential of this
        connection masked by value: the stored ones and whatever the auth put on the wire
        (an OAuth access token, refreshed ones included), as sent and URL-encoded."""
        secrets = [*self.credential_values, *(self.auth.secrets() if self.auth else ())]
        return Redactor(secrets).scrub(value)


@dataclass(frozen=True)
class _Shape:
    """What the catalog entry and config make of a connection (see the module docs)."""

    provider: Provider
    base_url: str
    headers: Mapping[str, str]
    rate: RateSpec
    default_pagination: Mapping[str, Any] | None
    origins: frozenset[str]
    rate_limit_headers: Mapping[str, str] | None


def _rate(provider: Provider, config: Mapping[str, Any], default: RateSpec) -> RateSpec:
    per_minute = config.get("rate_limit_per_minute")
    burst = config.get("rate_limit_burst")
    if provider.rate_limit is not None:
        per_minute = per_minute or provider.rate_limit.requests_per_minute
        burst = burst or provider.rate_limit.burst
    return RateSpec(
        per_minute=int(per_minute or default.per_minute), burst=int(burst or default.burst)
    )


class ConnectionCalls:
    def __init__(
        self,
        *,
        connections: ConnectionService,
        catalog: Callable[[], Catalog],
        client: Callable[[], OutboundClient],
        token_refresh: Callable[[], TokenRefresh],
        default_rate: RateSpec,
    ) -> None:
        self._connections = connections
        self._catalog = catalog
        self._client = client
        self._token_refresh = token_refresh
        self._default_rate = default_rate
        self._shapes: TtlCache[tuple[str, str, int], _Shape] = TtlCache(ttl=600.0, size=1024)

    def sender(
        self,
        principal: Principal,
        connection_id: str,
        *,
        purpose: str = "fetch",
        connection: Connection | None = None,
        audit_read: bool = True,
    ) -> ConnectionSender:
        """``purpose``: why the credentials are read (the audit entry of the read);
        ``connection``: the record, when the caller has just read it for ``principal``;
        ``audit_read=False``: the caller writes its own audit entry for this use of the
        credentials on every way it ends (only the action runner's ``action.run``), so the
        read writes none (``ConnectionService.credentials_audited_by_caller``)."""
        if connection is None or (connection.id, connection.tenant_id) != (
            connection_id,
            principal.tenant_id,
        ):
            connection = self._connections.get(principal, connection_id)
        shape = self._shape(connection)
        auth, credential_values = self._auth(
            principal, connection, shape.provider, purpose, audit=audit_read
        )
        return ConnectionSender(
            client=self._client(),
            connection=connection,
            provider=shape.provider,
            base_url=shape.base_url,
            auth=auth,
            headers=shape.headers,
            rate_key=f"conn:{connection.tenant_id}:{connection.id}",
            rate=shape.rate,
            default_pagination=shape.default_pagination,
            origins=shape.origins,
            credential_values=credential_values,
            rate_limit_headers=shape.rate_limit_headers,
        )

    def _shape(self, connection: Connection) -> _Shape:
        provider = self._catalog().get(connection.provider)
        key = (connection.tenant_id, connection.id, connection.version)
        kept = self._shapes.get(key)
        if kept is not None and kept.provider is provider:
            return kept
        base_url = provider.render_api_base_url(connection.config)
        if not base_url:
            raise InvalidRequest(
                f"{provider.display_name} has no API base URL to call", code="NOT_CALLABLE"
            )
        headers = provider.headers_for(connection.config)
        configured = connection.config.get("headers")
        if isinstance(configured, dict):
            headers = merged_headers(headers, {str(k): str(v) for k, v in configured.items()})
        pagination = connection.config.get("pagination")
        shape = _Shape(
            provider=provider,
            base_url=base_url,
            headers=MappingProxyType(headers),
            rate=_rate(provider, connection.config, self._default_rate),
            default_pagination=pagination if isinstance(pagination, dict) else None,
            origins=destination_of(provider, connection.config).origins,
            rate_limit_headers=(
                provider.rate_limit_headers.names() if provider.rate_limit_headers else None
            ),
        )
        self._shapes.put(key, shape)
        return shape

    def _auth(
        self,
        principal: Principal,
        connection: Connection,
        provider: Provider,
        purpose: str,
        *,
        audit: bool,
    ) -> tuple[RequestAuth | None, tuple[str, ...]]:
        """The request auth, and the string values of the stored credentials it was built
        from (none for OAuth: the access token comes from the token refresh, see ``redact``)."""
        if provider.auth_mode == "oauth2" or provider.auth_mode in ISSUED_TOKEN_MODES:
            tokens = self._token_refresh()
            current = [connection]

            def token() -> str:
                return tokens.access_token(current[0])

            def refresh() -> str | None:
                current[0] = tokens.force_refresh(current[0])
                return tokens.access_token(current[0])

            auth = auth_for(
                provider, connection.config, {}, oauth_token=token, oauth_refresh=refresh
            )
            return auth, ()
        credentials = (
            self._connections.credentials_of(principal, connection, purpose=purpose)
            if audit
            else self._connections.credentials_audited_by_caller(principal, connection)
        )
        values = tuple(v for v in credentials.values() if isinstance(v, str))
        return auth_for(provider, connection.config, credentials), values
