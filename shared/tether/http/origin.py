"""The origin of a URL (RFC 6454 §4): ``scheme://host:port``, the unit credentials are bound to.

One spelling for everything that compares origins (the catalog's destination of a connection,
the outbound client's check before it attaches credentials): lowercased scheme and host, IPv6
hosts in brackets, the default port written out.
"""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["origin_of"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str | None:
    """``scheme://host:port`` of an absolute http(s) URL; ``None`` when it has none."""
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        host = (parts.hostname or "").lower()
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:
        return None
    if scheme not in _DEFAULT_PORTS or not host or port is None:
        return None
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"
