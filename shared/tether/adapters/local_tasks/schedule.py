"""Periodic tasks of the embedded queue: its stand-in for Cloud Scheduler.

A :class:`Periodic` task is enqueued once per period under a name made of its kind and the
period's start, due at that start. The name is what keeps it bounded and idempotent: a
restart, a second process on the same file or a worker that checks twice within one period
all enqueue the same name, which the queue accepts once. A period the process slept through
is not made up for: the next one runs when it begins.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from tether.domain.errors import ConfigurationError

__all__ = ["Periodic"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Periodic(NamedTuple):
    """Run task ``kind`` (empty payload) once every ``every``, periods aligned on the Unix
    epoch in UTC (hourly runs start on the hour)."""

    kind: str
    every: timedelta

    def check(self) -> None:
        if not self.kind or self.every < timedelta(seconds=1):
            raise ConfigurationError("a periodic task needs a kind and a period of 1 s or more")

    def period_start(self, now: datetime) -> datetime:
        return _EPOCH + ((now - _EPOCH) // self.every) * self.every

    def task_name(self, start: datetime) -> str:
        return f"{self.kind}-{start.astimezone(UTC):%Y%m%dT%H%M%SZ}"
