"""One refresh per connection at a time, within a process and across instances.

Within a process, concurrent callers for one connection share one flight (a future per
connection, :class:`Flights`): twenty threads reading an expired token cause one call to the
token endpoint, and all of them get its outcome. Across instances the flight leader takes the
store lease ``refresh:<tenant>:<connection>`` (:class:`RefreshLease`), re-reads the record once
it holds it, and does not call the provider when someone else already stored a fresh token.
When another instance holds the lease, the leader polls the record (short, growing sleeps,
bounded by ``wait_seconds``) until that instance's token shows up and uses it. The lease is
released in a ``finally``; a dead holder's lease expires after ``lease_seconds``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future

from tether.domain.clock import Clock
from tether.domain.errors import BackendUnavailable, TetherError
from tether.domain.models import Connection
from tether.ports import LeaseStore

__all__ = ["Flights", "RefreshLease", "refresh_in_progress"]

log = logging.getLogger("tether.tokens")

_MAX_POLL_SECONDS = 0.5


def refresh_in_progress() -> BackendUnavailable:
    return BackendUnavailable(
        "the token is being refreshed elsewhere; try again", code="OAUTH_REFRESH_IN_PROGRESS"
    )


class Flights:
    """One in-process flight per connection; followers share the leader's outcome."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, Future[Connection]] = {}

    def share(
        self,
        key: str,
        lead: Callable[[], Connection],
        *,
        accept: Callable[[Connection], bool],
        timeout: float,
    ) -> Connection:
        """``lead()`` as the flight of ``key``, or the outcome of the flight already running
        when ``accept`` takes it (else a flight of its own after that one)."""
        while True:
            flight, leader = self._join(key)
            if leader:
                try:
                    result = lead()
                except BaseException as exc:
                    self._close(key, flight)
                    flight.set_exception(exc)
                    raise
                self._close(key, flight)
                flight.set_result(result)
                return result
            try:
                result = flight.result(timeout=timeout)
            except TimeoutError:
                raise refresh_in_progress() from None
            if accept(result):
                return result

    def _join(self, key: str) -> tuple[Future[Connection], bool]:
        """The running flight of ``key`` and ``False``, or a new one and ``True`` (lead it)."""
        with self._lock:
            flight = self._running.get(key)
            if flight is not None:
                return flight, False
            flight = Future()
            self._running[key] = flight
            return flight, True

    def _close(self, key: str, flight: Future[Connection]) -> None:
        # Removed before the outcome is set: a follower that wants another flight never finds
        # this finished one again.
        with self._lock:
            if self._running.get(key) is flight:
                del self._running[key]


class RefreshLease:
    """The store lease of a connection's refresh. ``owner`` names this instance in it."""

    def __init__(
        self,
        *,
        store: LeaseStore,
        clock: Clock,
        owner: str,
        lease_seconds: float,
        wait_seconds: float,
        poll_seconds: float,
        sleep: Callable[[float], None],
        monotonic: Callable[[], float],
    ) -> None:
        self._store = store
        self._clock = clock
        self.owner = owner
        self._lease_seconds = lease_seconds
        self._wait_seconds = wait_seconds
        self._poll_seconds = poll_seconds
        self._sleep = sleep
        self._monotonic = monotonic

    def hold(
        self,
        connection: Connection,
        *,
        reread: Callable[[Connection], Connection],
        settled: Callable[[Connection], bool],
        work: Callable[[Connection, Callable[[], None]], Connection],
    ) -> Connection:
        """``work(current, renew)`` on the record as read once the lease is held, unless a
        re-read record (``reread``, before, while waiting and after acquiring) is already
        ``settled``: then that record, and no work."""
        current = reread(connection)
        if settled(current):
            return current
        lease = f"refresh:{current.tenant_id}:{current.id}"
        deadline = self._monotonic() + self._wait_seconds
        delay = self._poll_seconds
        while not self._acquire(lease):
            # Another instance is refreshing: wait for its token rather than call again.
            if self._monotonic() >= deadline:
                raise refresh_in_progress()
            self._sleep(delay)
            delay = min(delay * 2, _MAX_POLL_SECONDS)
            current = reread(current)
            if settled(current):
                return current
        try:
            # The record as the previous holder left it: maybe already refreshed.
            current = reread(current)
            if settled(current):
                return current
            return work(current, lambda: self._renew(lease))
        finally:
            self._release(lease)

    def _acquire(self, lease: str) -> bool:
        taken = self._store.acquire_lease(
            lease, self.owner, ttl_seconds=self._lease_seconds, now=self._clock.now()
        )
        return taken is not None

    def _renew(self, lease: str) -> None:
        try:
            if not self._acquire(lease):
                log.warning("refresh lease %s expired and was taken over", lease)
        except TetherError as exc:
            log.warning("could not renew refresh lease %s (%s)", lease, exc.code)

    def _release(self, lease: str) -> None:
        try:
            self._store.release_lease(lease, self.owner)
        except TetherError as exc:
            log.warning("could not release refresh lease %s (%s); it expires", lease, exc.code)
