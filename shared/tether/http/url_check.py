"""Checking a configured URL before anything depends on it.

A URL a tenant or a catalog template supplies is parsed by two libraries later: ``urllib``
(building the authorization URL, the SSRF guard) and ``httpx`` (sending the request). They
disagree at the edges: ``urlsplit("http://[::1")`` raises ``ValueError``, and httpx refuses
hosts urllib takes (``0177.0.0.1``: httpx reads a dotted-numeric host as IPv4 and refuses the
octal spelling). Raised deep inside a flow, either surfaced as a 500. :func:`check_http_url`
runs both parsers up front and turns any refusal into one typed
:class:`~tether.domain.errors.InvalidRequest` (400, code ``INVALID_CONFIG``) naming the field,
never the value.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from tether.domain.errors import InvalidRequest

__all__ = ["INVALID_URL_CODE", "LOOPBACK_HOSTS", "check_http_url", "check_issuer_url"]

INVALID_URL_CODE = "INVALID_CONFIG"
# Where an http:// issuer is acceptable: a provider running on this machine (``tether dev``).
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def check_http_url(value: object, *, field: str) -> str:
    """``value`` unchanged when it is an absolute ``http``/``https`` URL with a host that
    both ``urllib`` and ``httpx`` parse (port included); else :class:`InvalidRequest`."""
    if not isinstance(value, str) or not value:
        raise _invalid(field, "must be a URL")
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in value):
        raise _invalid(field, "must not contain spaces or control characters")
    import httpx  # here, not at the top: saving a connection needs it, listing them does not

    try:
        parts = urlsplit(value)
        _ = parts.port  # urllib checks the port only when asked
        parsed = httpx.URL(value)
    except (ValueError, httpx.InvalidURL):
        raise _invalid(field, "is not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https") or parsed.scheme not in ("http", "https"):
        raise _invalid(field, "must be an http:// or https:// URL")
    if not parts.hostname or not parsed.host:
        raise _invalid(field, "needs a host")
    return value


def check_issuer_url(value: object, *, field: str) -> str:
    """An issuer identifier (RFC 9207 §2, RFC 8414 §2): an ``https`` URL, or an ``http`` one
    on loopback for a provider on this machine; :class:`InvalidRequest` otherwise."""
    url = check_http_url(value, field=field)
    parts = urlsplit(url)
    if parts.scheme.lower() == "http" and (parts.hostname or "").lower() not in LOOPBACK_HOSTS:
        raise _invalid(field, "must be https:// (http:// only on 127.0.0.1, localhost or [::1])")
    return url


def _invalid(field: str, why: str) -> InvalidRequest:
    return InvalidRequest(
        f"Configuration value '{field}' {why}.", code=INVALID_URL_CODE, details={"field": field}
    )
