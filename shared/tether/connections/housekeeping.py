"""Housekeeping: keep every table bounded by deleting what has outlived its retention.

One task kind, ``housekeeping``, runs it: the embedded queue enqueues it by itself once per
``TETHER_HOUSEKEEPING_INTERVAL_SECONDS`` (a named task per period, see
:mod:`tether.adapters.local_tasks.schedule`), and in the cloud Cloud Scheduler calls the
``tasks`` function's ``/housekeeping``. It is idempotent: a second run in a row finds nothing.

What goes (:class:`~tether.domain.retention.Retention`): the store's expired OAuth states
(used or not), webhook events, leases, deliveries, audit entries, idle rate buckets and the
idempotency keys of action runs (24 hours after the run)
(:meth:`~tether.ports.ExpiredRecordPurge.purge_expired`; Firestore's TTL policies delete the same
on their own), the finished tasks of the embedded queue (Cloud Tasks deletes its tasks
itself), and the "db" secret store's tombstones (with ``SECRETS=db``).

What it brings back: stored webhook events whose processing task went missing (the process died
between storing the event and writing its task) get their task again
(:meth:`~tether.webhooks.intake.WebhookIntake.requeue_waiting`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tether.domain.clock import Clock
from tether.domain.retention import Retention
from tether.ports import ExpiredRecordPurge

__all__ = ["HOUSEKEEPING_TASK", "Housekeeping", "HousekeepingReport"]

HOUSEKEEPING_TASK = "housekeeping"

log = logging.getLogger("tether.housekeeping")


@dataclass(frozen=True, slots=True)
class HousekeepingReport:
    store_records: int
    finished_tasks: int
    secret_tombstones: int = 0
    requeued_webhook_events: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "store_records": self.store_records,
            "finished_tasks": self.finished_tasks,
            "secret_tombstones": self.secret_tombstones,
            "requeued_webhook_events": self.requeued_webhook_events,
        }


class Housekeeping:
    """``purge_finished_tasks(older_than)`` deletes the queue's finished tasks last changed
    before ``older_than`` (the embedded queue's; ``None`` where the queue keeps its own);
    ``purge_secret_tombstones(older_than)`` the secret store's tombstones written before it
    (the "db" store's; ``None`` for Secret Manager, which destroys versions itself);
    ``requeue_waiting_webhooks()`` queues the lost tasks of stored webhook events."""

    def __init__(
        self,
        *,
        store: ExpiredRecordPurge,
        clock: Clock,
        retention: Retention,
        purge_finished_tasks: Callable[[datetime], int] | None = None,
        purge_secret_tombstones: Callable[[datetime], int] | None = None,
        requeue_waiting_webhooks: Callable[[], int] | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._retention = retention
        self._purge_finished_tasks = purge_finished_tasks
        self._purge_secret_tombstones = purge_secret_tombstones
        self._requeue_waiting_webhooks = requeue_waiting_webhooks

    def run(self) -> HousekeepingReport:
        now = self._clock.now()
        records = self._store.purge_expired(now=now)
        tasks = 0
        if self._purge_finished_tasks is not None:
            tasks = self._purge_finished_tasks(now - self._retention.finished_tasks)
        tombstones = 0
        if self._purge_secret_tombstones is not None:
            tombstones = self._purge_secret_tombstones(now - self._retention.secret_tombstones)
        requeued = 0
        if self._requeue_waiting_webhooks is not None:
            requeued = self._requeue_waiting_webhooks()
        report = HousekeepingReport(
            store_records=records,
            finished_tasks=tasks,
            secret_tombstones=tombstones,
            requeued_webhook_events=requeued,
        )
        log.info("housekeeping: %s", report.as_dict())
        return report

    def run_task(self, payload: Mapping[str, Any]) -> None:
        """``housekeeping`` as a task handler (its payload carries nothing)."""
        self.run()
