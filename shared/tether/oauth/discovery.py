"""Authorization server metadata (RFC 8414; OpenID Connect Discovery 1.0): a custom OAuth2
connection configured with its issuer alone learns its endpoints from it.

What is read: ``authorization_endpoint``, ``token_endpoint``, ``revocation_endpoint``
(RFC 7009), ``code_challenge_methods_supported`` (RFC 7636: PKCE S256 is used unless the
server lists methods without it), ``scopes_supported`` (``offline_access`` there: ask for it,
with ``prompt=consent``, to get a refresh token: OpenID Connect Core §11) and
``authorization_response_iss_parameter_supported`` (RFC 9207 §3: then an authorization
response without ``iss`` is refused, §2.4).

Where: ``/.well-known/oauth-authorization-server`` inserted between the issuer's host and its
path (RFC 8414 §3.1), then ``/.well-known/openid-configuration`` appended to the issuer
(OpenID Connect Discovery §4). The ``issuer`` in the document must be identical to the
configured one (RFC 8414 §3.3, OpenID Connect Discovery §4.3), else it is refused: that is
what stops one server's metadata from impersonating another's.

The fetch goes through the token endpoint's sender (the SSRF-guarded transport, no
redirects, a bounded answer). Documents are kept per issuer in a bounded cache for
``ttl_seconds``; a failure is not cached. :func:`parse_metadata` and :func:`metadata_urls`
are pure.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import httpx

from tether.domain.errors import InvalidRequest, TetherError
from tether.http.url_check import check_http_url, check_issuer_url
from tether.oauth.model import TokenEndpointError
from tether.ttl_cache import TtlCache

__all__ = ["MetadataDiscovery", "ServerMetadata", "metadata_urls", "parse_metadata"]

DISCOVERY_FAILED = "OAUTH_DISCOVERY_FAILED"


@dataclass(frozen=True)
class ServerMetadata:
    issuer: str
    authorization_endpoint: str | None
    token_endpoint: str | None
    revocation_endpoint: str | None = None
    code_challenge_methods: tuple[str, ...] | None = None
    scopes_supported: tuple[str, ...] | None = None
    iss_parameter_supported: bool = False

    @property
    def pkce(self) -> bool:
        """S256 unless the server lists its methods and S256 is not among them."""
        methods = self.code_challenge_methods
        return methods is None or "S256" in methods

    @property
    def offline_access(self) -> bool:
        return "offline_access" in (self.scopes_supported or ())


def metadata_urls(issuer: str) -> list[str]:
    """Where the metadata of ``issuer`` may be: RFC 8414's well-known URL, then OpenID's."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    rfc8414 = urlunsplit(
        (parts.scheme, parts.netloc, f"/.well-known/oauth-authorization-server{path}", "", "")
    )
    openid = urlunsplit(
        (parts.scheme, parts.netloc, f"{path}/.well-known/openid-configuration", "", "")
    )
    return [rfc8414, openid]


def _strings(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    return None


def _endpoint(document: dict[str, Any], name: str) -> str | None:
    value = document.get(name)
    if value is None:
        return None
    return check_http_url(value, field=f"metadata {name}")


def parse_metadata(document: Any, *, expected_issuer: str) -> ServerMetadata:
    """The metadata of a fetched document; :class:`InvalidRequest` when it is not an object,
    names another issuer (RFC 8414 §3.3) or has an endpoint that is not a URL."""
    if not isinstance(document, dict):
        raise InvalidRequest(
            "the issuer's metadata is not a JSON object", code="OAUTH_METADATA_INVALID"
        )
    if document.get("issuer") != expected_issuer:
        raise InvalidRequest(
            "the issuer's metadata names another issuer (RFC 8414 §3.3)",
            code="OAUTH_ISSUER_MISMATCH",
        )
    return ServerMetadata(
        issuer=expected_issuer,
        authorization_endpoint=_endpoint(document, "authorization_endpoint"),
        token_endpoint=_endpoint(document, "token_endpoint"),
        revocation_endpoint=_endpoint(document, "revocation_endpoint"),
        code_challenge_methods=_strings(document.get("code_challenge_methods_supported")),
        scopes_supported=_strings(document.get("scopes_supported")),
        iss_parameter_supported=document.get("authorization_response_iss_parameter_supported")
        is True,
    )


class MetadataSender(Protocol):
    """What discovery needs of :class:`tether.oauth.token_endpoint.TokenEndpoint`."""

    def send(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None,
        headers: dict[str, str],
        sent: Sequence[str],
    ) -> tuple[int, httpx.Headers, bytes]: ...


class MetadataDiscovery:
    """The metadata of issuers, fetched on first use and kept ``ttl_seconds`` (at most
    ``size`` issuers). ``sender``: the token endpoint or a factory of it."""

    def __init__(
        self,
        sender: Callable[[], MetadataSender],
        *,
        ttl_seconds: float = 3600,
        size: int = 256,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sender = sender
        self._cache: TtlCache[str, ServerMetadata] = TtlCache(
            ttl=ttl_seconds, size=size, now=monotonic
        )

    def metadata(self, issuer: str) -> ServerMetadata:
        issuer = check_issuer_url(issuer, field="issuer")
        cached = self._cache.get(issuer)
        if cached is not None:
            return cached
        found = self._fetch(issuer)
        self._cache.put(issuer, found)
        return found

    def _fetch(self, issuer: str) -> ServerMetadata:
        retryable = False
        for url in metadata_urls(issuer):
            try:
                status, _, body = self._sender().send(
                    "GET", url, content=None, headers={"Accept": "application/json"}, sent=()
                )
            except TokenEndpointError as exc:
                retryable = retryable or exc.retryable
                continue
            if status == 200:
                try:
                    document = json.loads(body)
                except (ValueError, RecursionError):  # nested past the parser: no document
                    document = None
                return parse_metadata(document, expected_issuer=issuer)
            retryable = retryable or status >= 500 or status == 429
        raise TetherError(
            "the issuer's metadata could not be read (RFC 8414, OpenID Connect Discovery)",
            code=DISCOVERY_FAILED,
            http_status=502,
            retryable=retryable,
        )
