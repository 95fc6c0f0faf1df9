"""The token bucket of the shared outbound rate limit, as every store keeps it
(:meth:`~tether.ports.RateBuckets.acquire_rate`): pure arithmetic on what a bucket last
stored, so the SQLite and Firestore stores grant and refuse exactly alike."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

__all__ = ["full_at", "take_token"]

# A refill this close to a whole token counts as one: times have microseconds only.
_TOKEN_SLACK = 1e-9

# Beyond this a bucket gets no expiry (it is never deleted): a year-long refill is a
# misconfiguration, and a date past the calendar's end would not be representable.
_TTL_HORIZON_SECONDS = 366 * 24 * 3600.0


def take_token(
    tokens: float, elapsed_seconds: float, *, per_minute: int, burst: int
) -> tuple[float, float]:
    """One step of the bucket: ``tokens`` as last stored, refilled for ``elapsed_seconds``
    (nothing when negative: a clock behind the last grant) up to the burst. Returns
    ``(tokens left, 0.0)`` when one was taken, else ``(tokens, wait)`` with the seconds until
    the next token, rounded up to the microsecond."""
    capacity = float(max(1, burst))
    per_second = max(per_minute, 0) / 60.0
    tokens = min(capacity, tokens + max(0.0, elapsed_seconds) * per_second)
    if tokens >= 1.0 - _TOKEN_SLACK:
        return max(0.0, tokens - 1.0), 0.0
    if per_second == 0.0:
        return tokens, math.inf
    return tokens, math.ceil((1.0 - tokens) / per_second * 1e6) / 1e6


def full_at(updated: datetime, tokens: float, *, per_minute: int, burst: int) -> datetime | None:
    """When a bucket left with ``tokens`` at ``updated`` is full again, or ``None`` when it
    never refills or only beyond the horizon. From then on a missing bucket (a fresh one
    starts full) means the same, so the bucket may be deleted: its expiry."""
    per_second = max(per_minute, 0) / 60.0
    if per_second == 0.0:
        return None
    seconds = max(0.0, float(max(1, burst)) - tokens) / per_second
    if seconds > _TTL_HORIZON_SECONDS:
        return None
    return updated + timedelta(seconds=seconds)
