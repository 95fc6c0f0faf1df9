"""The shapes the outbound HTTP pieces share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

from tether.domain.errors import TetherError

__all__ = [
    "OutboundError",
    "OutboundFailure",
    "OutboundResponse",
    "RateSpec",
    "RequestAuth",
]

OutboundFailure = Literal[
    "blocked",  # the SSRF guard refused the destination (BLOCKED_DESTINATION)
    "invalid_url",  # not http(s), no host, unparseable
    "timeout",  # connect/read/total timeout
    "connect",  # DNS failure, refused, reset
    "tls",  # certificate or handshake failure
    "too_large",  # the response exceeded the size cap
    "too_many_redirects",
    "rate_limited",  # gave up waiting for the local rate limit, or 429 after the retries
    "protocol",  # malformed HTTP
    "invalid_request",  # ours: a header or body HTTP cannot carry, refused before sending
]


class OutboundError(TetherError):
    """A request that produced no usable HTTP response. ``failure`` says why; the message
    names the host at most, never credentials or the full URL."""

    default_status: ClassVar[int] = 502

    def __init__(
        self, message: str, *, failure: OutboundFailure, retryable: bool, code: str | None = None
    ) -> None:
        super().__init__(message, code=code or f"OUTBOUND_{failure.upper()}", retryable=retryable)
        self.failure = failure


@dataclass(frozen=True)
class OutboundResponse:
    """An HTTP response (any status: 4xx/5xx are answers, not exceptions). ``url`` is the final
    URL with every credential redacted; ``attempts`` counts tries including retries."""

    status: int
    headers: Mapping[str, str]
    content: bytes = field(repr=False)
    url: str
    elapsed_ms: int
    attempts: int = 1

    def json(self) -> Any:
        """The body as JSON; ``ValueError`` when it is not JSON, including NaN, Infinity and
        numbers out of range, which could never be passed on as JSON."""
        from tether.domain.bounded_json import loads_finite

        return loads_finite(self.content)


@dataclass(frozen=True)
class RateSpec:
    """Proactive rate limit of one connection: ``per_minute`` with bursts up to ``burst``."""

    per_minute: int = 60
    burst: int = 10


class RequestAuth(Protocol):
    """How a request carries a connection's credentials."""

    def apply(self, headers: dict[str, str], params: dict[str, str]) -> None:
        """Add credentials to the outgoing headers / query parameters."""
        ...

    def secrets(self) -> list[str]:
        """Every credential value this auth may put on the wire (for redaction)."""
        ...

    def refresh(self) -> bool:
        """After a 401: get fresh credentials; ``True`` if the request is worth one retry."""
        ...
