"""Retry delay policy: capped exponential backoff with optional "full jitter".

Full jitter draws the delay uniformly from ``[0, cap]`` so that many tasks failing together
(a provider outage) do not retry in lockstep; see "Exponential Backoff And Jitter", AWS
Architecture Blog, 2015. Cloud Tasks' own retry config (``minBackoff``, ``maxBackoff``,
``maxDoublings``) doubles the same way, without the jitter.
"""

from __future__ import annotations

import random

__all__ = ["backoff_delay"]

# 2**62 times any sane minimum is far past any sane maximum; capping the exponent keeps the
# arithmetic in float range for absurd attempt numbers.
_MAX_DOUBLINGS = 62


def backoff_delay(
    attempt: int,
    *,
    min_seconds: float,
    max_seconds: float,
    jitter: bool,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1 for the first failure).

    Without jitter: ``min_seconds * 2**(attempt - 1)``, capped at ``max_seconds``. With jitter:
    uniform in ``[0, that]``. ``rng`` makes jitter reproducible in tests.
    """
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    if min_seconds < 0 or max_seconds < min_seconds:
        raise ValueError("backoff bounds must satisfy 0 <= min_seconds <= max_seconds")
    cap = min(max_seconds, min_seconds * 2.0 ** min(attempt - 1, _MAX_DOUBLINGS))
    if not jitter:
        return cap
    return (rng or random.SystemRandom()).uniform(0.0, cap)
