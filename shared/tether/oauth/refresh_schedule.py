"""When OAuth tokens get refreshed before they expire: the proactive refresh task of each
token generation, and the sweep, the safety net that finds every token due within its window
and schedules what is missing or repairs a broken chain.

Task names say which token a task refreshes (``refresh-<id>-<due, microseconds>``): the queue
keeps one task per name, so scheduling twice adds nothing, and a new token (a new due time)
always gets a task of its own. The refresh itself is :mod:`tether.oauth.refresh`'s.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from tether.domain.clock import Clock
from tether.domain.errors import BackendUnavailable, TetherError
from tether.domain.models import Connection
from tether.domain.status import ConnectionStatus
from tether.oauth.refresh_policy import (
    RefreshPolicy,
    refresh_due_at,
    refresh_task_name,
    schedule_refresh_at,
)
from tether.ports import ConnectionRepository, TaskQueue

__all__ = [
    "REFRESH_TASK",
    "SWEEP_TASK",
    "RefreshSchedule",
    "SweepReport",
    "sweep_interval",
    "sweepable",
]

log = logging.getLogger("tether.tokens")

REFRESH_TASK = "refresh"
SWEEP_TASK = "sweep"


def sweep_interval(sweep_window_seconds: float) -> timedelta:
    """How often the sweep runs where Tether schedules it itself (the embedded queue stands
    in for Cloud Scheduler): three times per sweep window, at most once a minute."""
    return timedelta(seconds=max(60, sweep_window_seconds // 3))


@dataclass
class SweepReport:
    """``scanned``: connections listed; ``enqueued``: refresh tasks created;
    ``already_scheduled``: named tasks that existed for tokens not yet overdue; ``repaired``:
    overdue tokens whose task existed (ran, or was given up) and got a repair task;
    ``skipped``: not live, active OAuth ones (or ones that cannot be scheduled for good);
    ``failed``: enqueue failures worth a retry; ``pages``: store pages read; ``unreadable``:
    due records the store could not decode (skipped, each logged by id by the store; not
    retried: a rerun cannot read them either)."""

    scanned: int = 0
    enqueued: int = 0
    already_scheduled: int = 0
    repaired: int = 0
    skipped: int = 0
    failed: int = 0
    pages: int = 0
    unreadable: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def sweepable(connection: Connection) -> bool:
    """A live, active OAuth connection with a token expiry: what the sweep schedules."""
    return (
        connection.auth_mode == "oauth2"
        and connection.deleted_at is None
        and connection.status == ConnectionStatus.ACTIVE
        and connection.token_expires_at is not None
    )


class RefreshSchedule:
    """Named proactive refresh tasks and the sweep over the store's expiring tokens.

    ``policy_for`` gives a connection's refresh timing; ``repair_grace_seconds``: how long
    after its due time a token's scheduled refresh may still be on its way before the sweep
    adds a repair task."""

    def __init__(
        self,
        *,
        store: ConnectionRepository,
        tasks: Callable[[], TaskQueue],
        clock: Clock,
        policy_for: Callable[[Connection], RefreshPolicy],
        sweep_window_seconds: float = 900,
        sweep_page_size: int = 200,
        repair_grace_seconds: float = 60,
    ) -> None:
        if sweep_page_size < 1:
            raise ValueError("the sweep's page size must be positive")
        self._store = store
        self._tasks = tasks
        self._clock = clock
        self._policy_for = policy_for
        self._sweep_window = timedelta(seconds=sweep_window_seconds)
        self._sweep_page_size = sweep_page_size
        self._repair_grace = timedelta(seconds=repair_grace_seconds)

    def schedule_refresh(self, connection: Connection, *, now: datetime | None = None) -> bool:
        """Enqueue the named proactive refresh of the token ``connection`` holds, at its due
        time (now if past; an early hop when beyond the queue's horizon). ``False`` when that
        task already exists or the record has no token expiry."""
        slot = self.slot(connection, now or self._clock.now())
        if slot is None:
            return False
        name, run_at = slot
        return self._enqueue_refresh(connection, name=name, run_at=run_at)

    def sweep(self, now: datetime | None = None) -> SweepReport:
        """Handler of task kind ``sweep``: a named refresh task for every live, active OAuth
        connection whose token expires within the sweep window. Repeated sweeps find the
        tasks by name and add nothing, except where the chain is broken: a token due more
        than ``repair_grace_seconds`` ago whose task already exists (it ran without leaving
        a fresh token, or was given up by the queue) gets a repair task of its own
        (``<name>-sweep<epoch>``), counted as ``repaired``: the refresh behind it is
        idempotent, so a task merely late costs one refresh that finds the token fresh."""
        now = now or self._clock.now()
        before = now + self._sweep_window
        report = SweepReport()
        cursor: str | None = None
        while True:
            page = self._store.list_expiring(
                before=before, limit=self._sweep_page_size, cursor=cursor
            )
            report.pages += 1
            report.unreadable += len(page.unreadable)
            for connection in page.items:
                report.scanned += 1
                if not sweepable(connection):
                    report.skipped += 1
                    continue
                try:
                    created = self.schedule_refresh(connection, now=now)
                except TetherError as exc:
                    log.warning("sweep could not schedule %s (%s)", connection.id, exc.code)
                    if exc.retryable:
                        report.failed += 1
                    else:
                        report.skipped += 1
                    continue
                if created:
                    report.enqueued += 1
                elif self._repair(connection, now):
                    report.repaired += 1
                else:
                    report.already_scheduled += 1
            cursor = page.next_cursor
            if cursor is None:
                break
        log.info("token sweep: %s", report.as_dict())
        return report

    def slot(self, connection: Connection, now: datetime) -> tuple[str, datetime] | None:
        """The name and run time of the proactive refresh of the token ``connection`` holds;
        ``None`` without a token expiry."""
        expires_at = connection.token_expires_at
        if expires_at is None:
            return None
        due = self._due_at(connection, expires_at)
        slot = schedule_refresh_at(due, now=now)
        return refresh_task_name(connection.id, due, slot.hop), slot.run_at

    def _due_at(self, connection: Connection, expires_at: datetime) -> datetime:
        return refresh_due_at(
            self._policy_for(connection),
            issued_at=connection.token_refreshed_at,
            expires_at=expires_at,
        )

    def _repair(self, connection: Connection, now: datetime) -> bool:
        """A repair task for a token whose scheduled refresh should have run by now; ``False``
        when it is not overdue (or this sweep already added one)."""
        expires_at = connection.token_expires_at
        if expires_at is None:
            return False
        due = self._due_at(connection, expires_at)
        if due + self._repair_grace > now:
            return False
        name = f"{refresh_task_name(connection.id, due)}-sweep{int(now.timestamp())}"
        created = self._enqueue_refresh(connection, name=name, run_at=now)
        if created:
            log.warning("the refresh chain of %s was broken; the sweep repaired it", connection.id)
        return created

    def _enqueue_refresh(self, connection: Connection, *, name: str, run_at: datetime) -> bool:
        return self._tasks().enqueue(
            REFRESH_TASK,
            {"tenant_id": connection.tenant_id, "connection_id": connection.id, "name": name},
            name=name,
            run_at=run_at,
        )

    def sweep_task(self, payload: Mapping[str, Any]) -> None:
        """``sweep`` as a task handler: retryable when some enqueue failed (named tasks make
        the rerun add only what is missing)."""
        report = self.sweep()
        if report.failed:
            raise BackendUnavailable(
                f"the sweep could not schedule {report.failed} refreshes", code="SWEEP_INCOMPLETE"
            )
