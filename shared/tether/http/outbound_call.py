"""The state of one logical outbound request across its attempts and redirect hops."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tether.http.guard import Target
from tether.http.model import RateSpec, RequestAuth
from tether.http.origin import origin_of
from tether.http.redact import Redactor

__all__ = ["IDEMPOTENT", "OutboundCall", "ParamValue", "merge_headers", "param_text"]

ParamValue = str | int | float | bool

# RFC 9110 §9.2.2; a request with one of these methods may be sent again after a failure.
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


@dataclass
class OutboundCall:
    """What :class:`~tether.http.client.OutboundClient` knows about one ``request`` call."""

    method: str
    url: str
    headers: dict[str, str]
    params: dict[str, str]
    body: dict[str, Any]
    auth: RequestAuth | None
    redactor: Redactor
    deadline: float
    rate_key: str | None
    rate: RateSpec | None
    retry_unsafe: bool
    rate_limit_headers: Mapping[str, str] | None
    auth_origins: frozenset[str] | None = None
    host: str = "-"
    origin: tuple[str, str, int] | None = None
    auth_active: bool = True
    auth_params: frozenset[str] = frozenset()
    refreshed: bool = False
    attempts: int = 0
    retries: int = 0
    hops: int = 0

    @property
    def may_resend(self) -> bool:
        return self.retry_unsafe or self.method in IDEMPOTENT

    def may_authenticate(self, target: Target) -> bool:
        """Whether ``auth`` may be attached for ``target`` (always, when it is not bound)."""
        if self.auth is None or self.auth_origins is None:
            return True
        return origin_of(target.url) in self.auth_origins


def param_text(value: ParamValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def merge_headers(base: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """``base`` updated with ``extra``, names compared case-insensitively (last one wins)."""
    merged: dict[str, tuple[str, str]] = {}
    for source in (base, extra):
        for name, value in source.items():
            merged[name.lower()] = (name, value)
    return dict(merged.values())
