"""A short-lived cache of DNS answers in front of the SSRF guard's resolver.

Every outbound request resolves its host (:class:`~tether.http.guard.EgressGuard`); a provider's
API host is the same name request after request, and ``getaddrinfo`` asks the network's
resolver each time (the standard library keeps no cache). :class:`CachingResolver` keeps a
name's addresses for ``ttl`` seconds (bounded, least recently used first; failures are not
kept). It caches the *answer* only: the guard still checks every address of it on every
request and connects to the address it checked, so a cached answer can never let a request
reach an address the guard would refuse. A name that moves is followed within ``ttl``.

Why hand-written: it is :class:`~tether.ttl_cache.TtlCache` around the resolver callable; a
caching DNS library would bring a resolver of its own, which the guard must not depend on.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tether.http.guard import Resolver
from tether.ttl_cache import TtlCache

__all__ = ["DEFAULT_DNS_TTL", "CachingResolver"]

DEFAULT_DNS_TTL = 30.0


class CachingResolver:
    """``resolve(host, port)`` of ``resolver``, each answer kept ``ttl`` seconds."""

    def __init__(
        self,
        resolver: Resolver,
        *,
        ttl: float = DEFAULT_DNS_TTL,
        size: int = 256,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._resolver = resolver
        self._answers: TtlCache[tuple[str, int], tuple[str, ...]] = TtlCache(
            ttl=ttl, size=size, now=now
        )

    def __call__(self, host: str, port: int) -> list[str]:
        kept = self._answers.get((host, port))
        if kept is not None:
            return list(kept)
        addresses = [a for a in self._resolver(host, port) if a]
        if addresses:
            self._answers.put((host, port), tuple(addresses))
        return addresses
