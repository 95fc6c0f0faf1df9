"""The LeaseStore contract: every backend passes all of it."""

from __future__ import annotations

import threading
from datetime import timedelta

from tests.contract.records import (
    T0,
)
from tether.ports import (
    LeaseStore,
)


def test_leases_exclude_others_until_expiry(leases: LeaseStore) -> None:
    lease = leases.acquire_lease("refresh:conn_1", "a", ttl_seconds=30, now=T0)
    assert lease is not None and lease.owner == "a"
    assert leases.acquire_lease("refresh:conn_1", "b", ttl_seconds=30, now=T0) is None
    # the holder may extend
    assert leases.acquire_lease("refresh:conn_1", "a", ttl_seconds=30, now=T0) is not None
    # expired → someone else may take it
    later = T0 + timedelta(seconds=31)
    taken = leases.acquire_lease("refresh:conn_1", "b", ttl_seconds=30, now=later)
    assert taken is not None and taken.owner == "b"
    # a stale owner's release does nothing
    leases.release_lease("refresh:conn_1", "a")
    assert leases.acquire_lease("refresh:conn_1", "c", ttl_seconds=30, now=later) is None
    leases.release_lease("refresh:conn_1", "b")
    assert leases.acquire_lease("refresh:conn_1", "c", ttl_seconds=30, now=later) is not None


def test_racing_acquirers_of_a_free_lease_have_one_winner(leases: LeaseStore) -> None:
    holders: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def acquire(owner: str) -> None:
        start.wait()
        if leases.acquire_lease("refresh:race", owner, ttl_seconds=30, now=T0) is not None:
            with lock:
                holders.append(owner)

    threads = [threading.Thread(target=acquire, args=(f"o{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(holders) == 1


def test_the_holder_extends_its_lease(leases: LeaseStore) -> None:
    first = leases.acquire_lease("refresh:ext", "a", ttl_seconds=30, now=T0)
    assert first is not None and first.expires_at == T0 + timedelta(seconds=30)
    later = T0 + timedelta(seconds=20)
    extended = leases.acquire_lease("refresh:ext", "a", ttl_seconds=30, now=later)
    assert extended is not None and extended.expires_at == later + timedelta(seconds=30)
    # past the first expiry, the extension still keeps others out
    assert (
        leases.acquire_lease("refresh:ext", "b", ttl_seconds=30, now=T0 + timedelta(seconds=40))
        is None
    )
