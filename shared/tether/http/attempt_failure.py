"""One attempt that produced no response, and how an httpx exception maps to a failure kind.

The kinds are :data:`~tether.http.model.OutboundFailure` values; messages name the host only
(never the URL, whose query may carry an API key). ``sent`` says whether the request may have
reached the server, which decides whether a non-idempotent request may be sent again.
"""

from __future__ import annotations

import ssl

import httpx

from tether.http.model import OutboundFailure

__all__ = ["AttemptFailed", "classify"]


class AttemptFailed(Exception):
    """One attempt produced no response. ``sent``: the request may have reached the server."""

    def __init__(
        self, message: str, failure: OutboundFailure, *, retryable: bool, sent: bool
    ) -> None:
        super().__init__(message)
        self.message = message
        self.failure: OutboundFailure = failure
        self.retryable = retryable
        self.sent = sent


def _ssl_reason(exc: BaseException) -> str | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLError):
            return str(getattr(current, "reason", None) or "SSL error")
        current = current.__cause__ or current.__context__
    text = str(exc).lower()
    if "certificate" in text or "ssl" in text or "tls" in text:
        return "certificate or handshake error"
    return None


def classify(exc: httpx.HTTPError, host: str, *, sent: bool = False) -> AttemptFailed:
    """Map an httpx exception to a failure kind (messages name the host only)."""
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        return AttemptFailed(
            f"connecting to {host} timed out", "timeout", retryable=True, sent=False
        )
    if isinstance(exc, httpx.TimeoutException):
        return AttemptFailed(f"request to {host} timed out", "timeout", retryable=True, sent=True)
    if isinstance(exc, httpx.ConnectError):
        reason = _ssl_reason(exc)
        if reason is not None:
            return AttemptFailed(
                f"TLS with {host} failed: {reason}", "tls", retryable=False, sent=False
            )
        return AttemptFailed(f"could not connect to {host}", "connect", retryable=True, sent=False)
    if isinstance(exc, httpx.RemoteProtocolError):
        if "disconnected" in str(exc).lower():
            return AttemptFailed(
                f"{host} closed the connection without a response",
                "connect",
                retryable=True,
                sent=True,
            )
        return AttemptFailed(
            f"{host} broke the HTTP protocol", "protocol", retryable=False, sent=True
        )
    if isinstance(exc, httpx.LocalProtocolError):
        # h11 refuses our own request (a header value with a line break) before sending it.
        return AttemptFailed(
            f"the request to {host} is not valid HTTP",
            "invalid_request",
            retryable=False,
            sent=False,
        )
    if isinstance(exc, httpx.ReadError | httpx.WriteError | httpx.CloseError):
        return AttemptFailed(
            f"connection to {host} failed mid-request", "connect", retryable=True, sent=True
        )
    if isinstance(exc, httpx.DecodingError | httpx.ProtocolError):
        return AttemptFailed(
            f"{host} sent a response that could not be read", "protocol", retryable=False, sent=True
        )
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return AttemptFailed(
            f"request to {host} has an invalid URL", "invalid_url", retryable=False, sent=False
        )
    return AttemptFailed(
        f"request to {host} failed ({type(exc).__name__})", "connect", retryable=True, sent=sent
    )
