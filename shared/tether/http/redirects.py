"""Following a redirect (RFC 9110 §15.4) by hand, so every hop goes through the SSRF guard.

A 303 (and a 301/302 answering a POST) turns the request into a bodiless GET, as browsers and
httpx do. A hop to another origin drops the credentials (see
:mod:`tether.http.credential_binding`); http → https on the same host with default ports is
the one change of origin that keeps them.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit, urlunsplit

from tether.http.credential_binding import leave_origin, strip_credentials_from_query
from tether.http.guard import Target
from tether.http.model import OutboundError
from tether.http.outbound_call import OutboundCall

__all__ = ["REDIRECT_STATUSES", "follow_redirect", "origin_tuple"]

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_BODY_HEADERS = frozenset({"content-type", "content-length", "transfer-encoding"})


def origin_tuple(target: Target) -> tuple[str, str, int]:
    return (target.scheme, target.host, target.port)


def follow_redirect(
    call: OutboundCall, target: Target, status: int, location: str, *, max_redirects: int
) -> None:
    """Point ``call`` at the redirect's ``location`` (from ``target``), or raise when the
    hop would be one too many."""
    call.hops += 1
    if call.hops > max_redirects:
        raise OutboundError(
            f"more than {max_redirects} redirects starting at {target.host}",
            failure="too_many_redirects",
            retryable=False,
        )
    next_url = urljoin(target.url, location.strip())
    next_url = urlunsplit(urlsplit(next_url)._replace(fragment=""))
    if (status == 303 and call.method != "HEAD") or (
        status in (301, 302) and call.method == "POST"
    ):
        call.method = "GET"
        call.body = {}
        call.headers = {k: v for k, v in call.headers.items() if k.lower() not in _BODY_HEADERS}
    # The query of the original request is part of the URL being redirected from; the
    # Location is the complete next URL.
    call.params = {}
    next_origin = _url_origin(next_url)
    assert call.origin is not None
    if next_origin is None or not _same_origin(call.origin, next_origin):
        leave_origin(call)
        next_url = strip_credentials_from_query(call, next_url)
    call.url = next_url


def _url_origin(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        port = parts.port or {"http": 80, "https": 443}.get(scheme, 0)
    except ValueError:
        return None
    return (scheme, (parts.hostname or "").lower(), port)


def _same_origin(current: tuple[str, str, int], following: tuple[str, str, int]) -> bool:
    if current == following:
        return True
    upgrade = (current[0], following[0]) == ("http", "https")
    return upgrade and current[1] == following[1] and (current[2], following[2]) == (80, 443)
