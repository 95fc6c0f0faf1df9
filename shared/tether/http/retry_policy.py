"""When the outbound client sends a request again, and after how long.

Exponential backoff with full jitter (``random() * min(max, base * 2**retries)``) after a
network failure, a 429 or a 502/503/504; ``Retry-After`` (RFC 9110 §10.2.3, seconds or an HTTP
date) wins over the backoff when the server sends one. Only idempotent methods are sent again
once the request may have reached the server (any method with ``retry_unsafe``). A server
asking for a longer pause than the client would ever back off, or one past the deadline, gets
its answer handed back instead of a request it already said it would refuse.
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from tether.domain.decimal_digits import parse_decimal
from tether.http.attempt_failure import AttemptFailed
from tether.http.outbound_call import OutboundCall

__all__ = ["RETRY_STATUSES", "RetryPolicy", "retry_after"]

RETRY_STATUSES = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int
    backoff_base: float
    backoff_max: float
    random: Callable[[], float]
    wall_clock: Callable[[], float]

    def backoff(self, retries: int) -> float:
        ceiling = min(self.backoff_max, self.backoff_base * (2.0**retries))
        return self.random() * ceiling

    def after_failure(self, call: OutboundCall, failed: AttemptFailed, now: float) -> float | None:
        """The pause before another attempt after ``failed``, or ``None``: give up."""
        if not failed.retryable or call.retries >= self.max_retries:
            return None
        if failed.sent and not call.may_resend:
            return None
        delay = self.backoff(call.retries)
        if now + delay >= call.deadline:
            return None
        return delay

    def after_response(
        self, call: OutboundCall, headers: httpx.Headers, now: float, *, blocked: float
    ) -> float | None:
        """The pause before another attempt after a retryable status (``blocked``: what the
        provider's rate-limit headers still ask for), or ``None``: return the response."""
        if not call.may_resend or call.retries >= self.max_retries:
            return None
        asked = retry_after(headers.get("retry-after"), self.wall_clock)
        delay = self.backoff(call.retries) if asked is None else asked
        delay = max(delay, blocked)
        if delay > self.backoff_max or now + delay >= call.deadline:
            return None
        return delay


def retry_after(text: str | None, wall_clock: Callable[[], float]) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date."""
    if not text:
        return None
    text = text.strip()
    seconds = parse_decimal(text)
    if seconds is not None:
        return float(seconds)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - wall_clock())
