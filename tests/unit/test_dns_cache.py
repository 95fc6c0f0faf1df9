"""DNS answers kept briefly in front of the SSRF guard, which still checks every address of
a kept answer on every request."""

from __future__ import annotations

import pytest

from tether.http.dns_cache import CachingResolver
from tether.http.guard import EgressGuard
from tether.http.model import OutboundError

PUBLIC = "93.184.216.34"


class Dns:
    """A resolver whose answers the test changes; records every question."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = list(addresses)
        self.asked: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append((host, port))
        if not self.addresses:
            raise OSError("no such name")
        return list(self.addresses)


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_an_answer_is_kept_for_its_ttl_then_asked_again():
    dns, ticks = Dns(PUBLIC), Ticks()
    guard = EgressGuard(resolver=CachingResolver(dns, ttl=30, now=ticks))
    assert guard.check("https://api.example.com/a").ip == PUBLIC
    assert guard.check("https://api.example.com/b?x=1").ip == PUBLIC
    assert dns.asked == [("api.example.com", 443)]
    dns.addresses = ["93.184.216.35"]
    ticks.now = 31
    assert guard.check("https://api.example.com/a").ip == "93.184.216.35"
    assert len(dns.asked) == 2
    # per name and port
    guard.check("http://api.example.com/a")
    assert dns.asked[-1] == ("api.example.com", 80)


def test_a_kept_answer_is_checked_again_on_every_request():
    """A name answering a private address is refused on the first request and on every
    later one served from the cache: caching never skips the guard's check."""
    dns = Dns(PUBLIC, "10.0.0.7")
    guard = EgressGuard(resolver=CachingResolver(dns, ttl=30, now=Ticks()))
    for _ in range(3):
        with pytest.raises(OutboundError) as refused:
            guard.check("https://api.example.com/")
        assert refused.value.code == "BLOCKED_DESTINATION"
    assert len(dns.asked) == 1


def test_failures_are_not_kept():
    dns = Dns()
    guard = EgressGuard(resolver=CachingResolver(dns, ttl=30, now=Ticks()))
    with pytest.raises(OutboundError) as failed:
        guard.check("https://api.example.com/")
    assert failed.value.failure == "connect"
    dns.addresses = [PUBLIC]
    assert guard.check("https://api.example.com/").ip == PUBLIC
    assert len(dns.asked) == 2
