"""Pauses a provider announces in its rate-limit headers ("remaining 0, resets at …").

The header names come from the catalog (``remaining`` and ``reset``); while a key (a
connection's rate key, else the host) is blocked, the outbound client waits before sending
and never retries sooner. Kept per client instance, in memory: the shared proactive limit is
:mod:`tether.http.rate_limit`'s job.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

import httpx

__all__ = ["ProviderBlocks", "reset_delay"]


class ProviderBlocks:
    def __init__(self, *, monotonic: Callable[[], float], wall_clock: Callable[[], float]) -> None:
        self._monotonic = monotonic
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._until: dict[str, float] = {}  # key -> monotonic time

    def remaining(self, key: str, now: float) -> float:
        """Seconds ``key`` stays blocked after ``now`` (zero or less: not blocked)."""
        with self._lock:
            return self._until.get(key, 0.0) - now

    def note(self, key: str, names: Mapping[str, str] | None, headers: httpx.Headers) -> None:
        """Block ``key`` until the reset when the headers named by ``names`` say none remain."""
        if not names:
            return
        remaining = _number(headers.get(names.get("remaining", "")))
        if remaining is None or remaining > 0:
            return
        reset = _number(headers.get(names.get("reset", "")))
        if reset is None:
            return
        wait = reset_delay(reset, self._wall_clock())
        if wait <= 0:
            return
        until = self._monotonic() + wait
        with self._lock:
            self._until[key] = max(self._until.get(key, 0.0), until)


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None  # no NaN/inf


def reset_delay(reset: float, now: float) -> float:
    """A rate-limit reset header as seconds from now. Providers send epoch seconds (GitHub),
    epoch milliseconds, or seconds to wait (others): values that only make sense as a time
    since 2001 are taken as such."""
    if reset >= 1e12:
        return max(0.0, reset / 1000.0 - now)
    if reset >= 1e9:
        return max(0.0, reset - now)
    return max(0.0, reset)
