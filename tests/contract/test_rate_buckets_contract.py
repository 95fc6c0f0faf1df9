"""The RateBuckets contract: every backend passes all of it, and the shared rate limiter
over it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.contract.records import (
    T0,
    _drain,
)
from tests.support.concurrency import together
from tether.ports import (
    RateBuckets,
)


def test_rate_bucket_allows_the_burst_then_says_how_long_to_wait(rate_buckets: RateBuckets) -> None:
    for _ in range(4):
        assert rate_buckets.acquire_rate("rate:conn_a", per_minute=30, burst=4, now=T0) == 0.0
    wait = rate_buckets.acquire_rate("rate:conn_a", per_minute=30, burst=4, now=T0)
    assert wait == pytest.approx(60 / 30)
    # a refusal takes nothing: asking again at the same time gets the same answer
    assert rate_buckets.acquire_rate("rate:conn_a", per_minute=30, burst=4, now=T0) == wait
    half = T0 + timedelta(seconds=1)
    assert rate_buckets.acquire_rate(
        "rate:conn_a", per_minute=30, burst=4, now=half
    ) == pytest.approx(1.0)


def test_rate_bucket_refills_with_time_up_to_the_burst(rate_buckets: RateBuckets) -> None:
    key, rate = "rate:conn_refill", {"per_minute": 60, "burst": 3}
    assert _drain(rate_buckets, key, now=T0, **rate) == 3
    # one token a second
    assert _drain(rate_buckets, key, now=T0 + timedelta(seconds=1), **rate) == 1
    assert _drain(rate_buckets, key, now=T0 + timedelta(seconds=3.5), **rate) == 2
    wait = rate_buckets.acquire_rate(key, now=T0 + timedelta(seconds=3.5), **rate)
    assert wait == pytest.approx(0.5)
    # sleeping exactly the wait is enough
    assert rate_buckets.acquire_rate(key, now=T0 + timedelta(seconds=3.5 + wait), **rate) == 0.0
    # a long pause refills to the burst, not beyond
    assert _drain(rate_buckets, key, now=T0 + timedelta(hours=1), **rate) == 3


def test_rate_bucket_wait_of_an_odd_rate_is_enough(rate_buckets: RateBuckets) -> None:
    key, rate = "rate:conn_odd", {"per_minute": 7, "burst": 1}
    assert rate_buckets.acquire_rate(key, now=T0, **rate) == 0.0
    wait = rate_buckets.acquire_rate(key, now=T0, **rate)
    assert wait == pytest.approx(60 / 7, abs=1e-5)
    assert rate_buckets.acquire_rate(key, now=T0 + timedelta(seconds=wait), **rate) == 0.0


def test_rate_bucket_keys_are_independent(rate_buckets: RateBuckets) -> None:
    assert _drain(rate_buckets, "rate:conn_1", per_minute=60, burst=2, now=T0) == 2
    assert _drain(rate_buckets, "rate:conn_2", per_minute=60, burst=5, now=T0) == 5
    assert (
        rate_buckets.acquire_rate("rate:conn/with/slashes", per_minute=60, burst=1, now=T0) == 0.0
    )
    assert rate_buckets.acquire_rate("rate:conn_1", per_minute=60, burst=2, now=T0) > 0


def test_rate_bucket_clock_behind_refills_nothing(rate_buckets: RateBuckets) -> None:
    key, rate = "rate:conn_skew", {"per_minute": 60, "burst": 2}
    later = T0 + timedelta(seconds=10)
    assert _drain(rate_buckets, key, now=later, **rate) == 2
    # another instance whose clock is behind: no refill, and the bucket keeps its time
    assert rate_buckets.acquire_rate(key, now=T0, **rate) == pytest.approx(1.0)
    assert _drain(rate_buckets, key, now=later + timedelta(seconds=1), **rate) == 1


def test_rate_bucket_edge_rates(rate_buckets: RateBuckets) -> None:
    # a burst below 1 counts as 1; no refill at all means waiting forever
    assert rate_buckets.acquire_rate("rate:conn_zero", per_minute=0, burst=0, now=T0) == 0.0
    assert rate_buckets.acquire_rate("rate:conn_zero", per_minute=0, burst=0, now=T0) == float(
        "inf"
    )
    later = T0 + timedelta(days=30)
    assert rate_buckets.acquire_rate("rate:conn_zero", per_minute=0, burst=0, now=later) == float(
        "inf"
    )


def test_rate_bucket_concurrent_acquires_grant_exactly_the_burst(rate_buckets: RateBuckets) -> None:

    def acquire() -> float:
        return rate_buckets.acquire_rate("rate:conn_race", per_minute=60, burst=5, now=T0)

    results = [f.result() for f in together([acquire] * 8)]
    assert len(results) == 8
    assert results.count(0.0) == 5
    assert all(w == pytest.approx(1.0) for w in results if w != 0.0)


def test_store_rate_limiter_is_shared_by_every_instance(rate_buckets: RateBuckets) -> None:
    from tether.domain.clock import FixedClock
    from tether.http.model import RateSpec
    from tether.http.rate_limit_store import StoreRateLimiter

    clock = FixedClock(T0)
    one, two = StoreRateLimiter(rate_buckets, clock), StoreRateLimiter(rate_buckets, clock)
    rate = RateSpec(per_minute=120, burst=2)
    assert one.acquire("rate:conn_shared", rate) == 0.0
    assert two.acquire("rate:conn_shared", rate) == 0.0
    wait = one.acquire("rate:conn_shared", rate)
    assert wait == pytest.approx(0.5) and two.acquire("rate:conn_shared", rate) == wait
    clock.advance(wait)
    assert two.acquire("rate:conn_shared", rate) == 0.0
    assert one.acquire("rate:conn_other", rate) == 0.0
