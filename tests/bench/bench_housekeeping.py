"""Housekeeping benchmark: the embedded task queue's file, with and without it, side by side.

A week of simulated time (FixedClock, no sleeping): every hour 100 ``deliver`` tasks are
enqueued and run. Without housekeeping every finished task stays, so the file grows with
every task forever. With the queue's own hourly ``housekeeping`` task purging what finished
more than ``--retention-days`` ago, rows and bytes level off after the retention window.
Bytes are the file's size after a WAL checkpoint, at the end of each day.

Run: ``make bench-housekeeping`` or
``python tests/bench/bench_housekeeping.py [--days N] [--per-hour N] [--retention-days N]``.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tether.adapters.local_tasks import LocalTaskQueue, Periodic
from tether.domain.clock import FixedClock


def simulate(
    folder: Path, *, days: int, per_hour: int, retention: timedelta | None
) -> list[tuple[int, int]]:
    """``(rows, bytes)`` at the end of each day."""
    path = folder / ("with.sqlite3" if retention else "without.sqlite3")
    clock = FixedClock(datetime(2026, 3, 1, tzinfo=UTC))
    queues: list[LocalTaskQueue] = []

    def handler(kind: str, payload: dict[str, Any]) -> None:
        if kind == "housekeeping" and retention is not None:
            queues[0].purge_finished(clock.now() - retention)

    periodic = [Periodic("housekeeping", timedelta(hours=1))] if retention else []
    queue = LocalTaskQueue(path, handler, clock=clock, jitter=False, periodic=periodic)
    queues.append(queue)
    daily: list[tuple[int, int]] = []
    try:
        for hour in range(days * 24):
            for n in range(per_hour):
                payload = {"tenant_id": "acme", "event_id": f"evt_{hour}_{n}"}
                queue.enqueue("deliver", payload, name=f"deliver-{hour}-{n}")
            queue.run_due(limit=per_hour + 10)
            clock.advance(3600)
            if hour % 24 == 23:
                with closing(sqlite3.connect(path)) as db:
                    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                daily.append((sum(queue.stats().values()), path.stat().st_size))
    finally:
        queue.close()
    return daily


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--per-hour", type=int, default=100)
    parser.add_argument("--retention-days", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        without = simulate(folder, days=args.days, per_hour=args.per_hour, retention=None)
        with_hk = simulate(
            folder,
            days=args.days,
            per_hour=args.per_hour,
            retention=timedelta(days=args.retention_days),
        )
    print(
        f"{args.per_hour} tasks an hour; housekeeping hourly, {args.retention_days}-day retention"
    )
    print(f"{'day':>3}  {'without: rows':>13} {'bytes':>10}  |  {'with: rows':>10} {'bytes':>10}")
    for day, ((rows_a, bytes_a), (rows_b, bytes_b)) in enumerate(
        zip(without, with_hk, strict=True), 1
    ):
        print(f"{day:>3}  {rows_a:>13} {bytes_a:>10}  |  {rows_b:>10} {bytes_b:>10}")


if __name__ == "__main__":
    main()
