"""Credentials on an outbound request: attached before every attempt, only where they belong.

* A connection's credentials are bound to its destination (``auth_origins``, origins as
  :func:`tether.http.origin.origin_of` spells them): a first request elsewhere is refused
  before anything is sent; a redirect elsewhere continues without them.
* Once a request leaves its first origin it carries no auth, no credential-bearing header and
  no query parameter the auth put there (or that carries a secret) from then on.
* The URL handed back names the credential query parameters with their values masked.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, unquote_plus, urlsplit, urlunsplit

import httpx

from tether.http.guard import Target
from tether.http.model import OutboundError
from tether.http.outbound_call import OutboundCall, merge_headers
from tether.http.redact import REDACTED

__all__ = [
    "attempt_headers_and_params",
    "check_binding",
    "display_url",
    "leave_origin",
    "strip_credentials_from_query",
]

_CROSS_ORIGIN_DROP = frozenset({"authorization", "proxy-authorization", "cookie"})


def check_binding(call: OutboundCall, target: Target) -> None:
    """Refuse a first request to an origin the credentials are not bound to; after a redirect
    to one, go on without them."""
    if not call.auth_active or call.may_authenticate(target):
        return
    if call.hops == 0:
        raise OutboundError(
            f"this connection's credentials are not sent to {target.host}: it is "
            "not part of the connection's destination",
            failure="blocked",
            retryable=False,
            code="CREDENTIALS_NOT_BOUND",
        )
    leave_origin(call)


def attempt_headers_and_params(
    call: OutboundCall, target: Target
) -> tuple[dict[str, str], dict[str, str]]:
    """The headers and query of the next attempt: the auth applied (while it is active, and
    its new secrets registered for redaction), ``Host`` set to the name of ``target``."""
    headers = dict(call.headers)
    params = dict(call.params)
    if call.auth is not None and call.auth_active:
        before = dict(params)
        call.auth.apply(headers, params)
        call.auth_params |= {k for k, v in params.items() if before.get(k) != v}
        call.redactor.add(call.auth.secrets())
        headers = merge_headers({}, headers)
    headers = {k: v for k, v in headers.items() if k.lower() != "host"}
    headers["Host"] = target.host_header
    return headers, params


def leave_origin(call: OutboundCall) -> None:
    """Redirected to another origin: no auth and no credential-bearing header from now."""
    call.auth_active = False
    call.headers = {
        k: v
        for k, v in call.headers.items()
        if k.lower() not in _CROSS_ORIGIN_DROP and not call.redactor.contains(v)
    }


def strip_credentials_from_query(call: OutboundCall, url: str) -> str:
    """``url`` without the query parameters the auth added or that carry a secret."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    pieces = parts.query.split("&")
    kept = [piece for piece in pieces if not _carries_credential(call, piece)]
    if len(kept) == len(pieces):
        return url
    return urlunsplit(parts._replace(query="&".join(kept)))


def _carries_credential(call: OutboundCall, piece: str) -> bool:
    """Whether one ``name=value`` of a query is an auth parameter or holds a secret, read
    as a form decodes it and as written (a secret echoed raw may hold a ``+`` that a form
    decoder takes for a space)."""
    name, _, value = piece.partition("=")
    if unquote_plus(name) in call.auth_params:
        return True
    return any(
        call.redactor.contains(text) for text in (value, unquote(value), unquote_plus(value))
    )


def display_url(call: OutboundCall, target: Target, wire_url: httpx.URL) -> str:
    """The URL by name with its query, credential values masked: what a caller may see.
    ``wire_url`` is the URL as requested (by address): its path and query, under the name."""
    url = f"{target.scheme}://{target.host_header}{wire_url.raw_path.decode('ascii')}"
    for name in call.auth_params:
        url = re.sub(rf"([?&]{re.escape(name)}=)[^&#]*", rf"\g<1>{REDACTED}", url)
    return call.redactor(url)
