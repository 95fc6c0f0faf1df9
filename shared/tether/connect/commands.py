"""What ``POST /connect_sessions`` takes, validated at the edge: bounded lists, origins that
are origins, a lifetime of at most 30 minutes."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from tether.connections.commands import END_USER_ID, InputModel

__all__ = ["DEFAULT_TTL_SECONDS", "MAX_TTL_SECONDS", "CreateConnectSession", "EndUser"]

MAX_TTL_SECONDS = 30 * 60
DEFAULT_TTL_SECONDS = 15 * 60

# A host as a browser reports it in an origin: an ASCII DNS name (an IDN in its ``xn--``
# form) or an IPv4 address, or an IPv6 address (bracketed when written back). Anything else
# (a space, a quote, ``;`` or ``,``) would be written into the page's ``frame-ancestors``
# as further sources or keywords.
_DNS_HOST = re.compile(
    r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
)
_IPV6_HOST = re.compile(r"[0-9a-f:.]{2,45}")


class EndUser(InputModel):
    """The tenant's user the session acts for: the tenant's own id for them."""

    id: str = Field(pattern=END_USER_ID)
    display_name: str | None = Field(default=None, min_length=1, max_length=200)


class CreateConnectSession(InputModel):
    end_user: EndUser
    # Providers the page offers and the session may connect; absent: the whole catalog.
    allowed_providers: list[str] | None = Field(default=None, min_length=1, max_length=200)
    # Origins that may embed the page (frame-ancestors) and receive its events.
    allowed_origins: list[str] = Field(default_factory=list, max_length=20)
    ttl_seconds: int | None = Field(default=None, ge=60, le=MAX_TTL_SECONDS)

    @field_validator("allowed_providers")
    @classmethod
    def _provider_keys(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        for key in value:
            if not key or len(key) > 64 or not key.replace("_", "a").isalnum():
                raise ValueError("allowed_providers holds catalog keys")
        return list(dict.fromkeys(value))

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        """Each an origin exactly (``https://app.example[:port]``; ``http`` for local
        development): no path, query, credentials or wildcard, as a browser reports one."""
        origins: list[str] = []
        for raw in value:
            try:
                parts = urlsplit(raw)
                port = parts.port
            except ValueError:
                raise ValueError(f"{raw[:100]!r} is not an origin") from None
            if (
                parts.scheme not in ("https", "http")
                or not parts.hostname
                or "@" in parts.netloc
                or parts.path not in ("", "/")
                or parts.query
                or parts.fragment
                or "*" in raw
            ):
                raise ValueError(f"{raw[:100]!r} is not an origin (scheme://host[:port])")
            host = parts.hostname.lower()
            if not (_DNS_HOST.fullmatch(host) or (":" in host and _IPV6_HOST.fullmatch(host))):
                raise ValueError(
                    f"{raw[:100]!r} is not an origin: its host must be a DNS name (an IDN in "
                    "its xn-- form) or an IP address"
                )
            if port == 0:
                raise ValueError(f"{raw[:100]!r} is not an origin: port 0")
            if ":" in host:
                host = f"[{host}]"
            origins.append(f"{parts.scheme}://{host}" + (f":{port}" if port else ""))
        return list(dict.fromkeys(origins))
