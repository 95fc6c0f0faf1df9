"""Listing benchmark: the cost of one page of a big tenant's connections, by depth.

One tenant holds ``--connections`` connections (100,000 by default) in the embedded SQLite
store, five to a ``created_at`` (so the keyset cursor's tie-break on the id is exercised),
80% active, 15% error, 5% needs_reauth, a third of them on ``xero``; a second tenant holds a
tenth as many. For each listing (no filter, ``status=error``, ``provider=xero``,
``status=error&provider=xero`` and ``status=disabled``, which matches nothing) the script
walks to 1%, 50% and 99% of the listing with the opaque cursor (in big pages, untimed), then
times ``--repeat`` reads of the next 50-item page there and prints the median in ms, side by
side, with the ratio of the deepest page to the shallowest. Keyset paging served by an
index costs the same at every depth: the ratio stays near 1.

Run: ``make bench-listing`` or ``python tests/bench/bench_listing.py [--connections N]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tether.adapters.sqlite import SqliteConnectionStore
from tether.domain.models import Connection
from tether.domain.status import ConnectionStatus

TENANT = "bench"
OTHER = "bench-other"
PAGE = 50
WALK_PAGE = 1000
DEPTHS = (0.01, 0.50, 0.99)
T0 = datetime(2026, 1, 1, tzinfo=UTC)
LISTINGS: tuple[tuple[str, dict[str, str]], ...] = (
    ("all", {}),
    ("status=error", {"status": "error"}),
    ("provider=xero", {"provider": "xero"}),
    ("status+provider", {"status": "error", "provider": "xero"}),
    ("status=disabled (none)", {"status": "disabled"}),
)


def _status(i: int) -> ConnectionStatus:
    slot = i % 20
    if slot < 16:
        return ConnectionStatus.ACTIVE
    return ConnectionStatus.ERROR if slot < 19 else ConnectionStatus.NEEDS_REAUTH


def _connection(tenant: str, i: int) -> Connection:
    at = T0 + timedelta(seconds=i // 5)
    return Connection(
        id=f"conn_{tenant}_{i:07d}_{(i * 7919) % 100_003:06d}",
        tenant_id=tenant,
        provider="xero" if i % 3 == 0 else "stripe",
        auth_mode="api_key",
        display_name=f"connection {i}",
        status=_status(i),
        created_at=at,
        updated_at=at,
        created_by="bench-user",
    )


def fill(store: SqliteConnectionStore, count: int) -> float:
    started = time.perf_counter()
    for i in range(count):
        store.create_connection(_connection(TENANT, i))
    for i in range(count // 10):
        store.create_connection(_connection(OTHER, i))
    return time.perf_counter() - started


def _count(store: SqliteConnectionStore, filters: dict[str, str]) -> int:
    total, cursor = 0, None
    while True:
        page = store.list_connections(TENANT, limit=WALK_PAGE, cursor=cursor, **filters)
        total += len(page.items)
        if page.next_cursor is None:
            return total
        cursor = page.next_cursor


def _cursor_at(store: SqliteConnectionStore, filters: dict[str, str], skip: int) -> str | None:
    """The cursor after the first ``skip`` items of the listing, walked in big pages."""
    cursor, done = None, 0
    while done < skip:
        step = min(WALK_PAGE, skip - done)
        page = store.list_connections(TENANT, limit=step, cursor=cursor, **filters)
        cursor, done = page.next_cursor, done + len(page.items)
        if cursor is None:
            break
    return cursor


def page_ms(store: SqliteConnectionStore, filters: dict[str, str], skip: int, repeat: int) -> float:
    cursor = _cursor_at(store, filters, skip)
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        store.list_connections(TENANT, limit=PAGE, cursor=cursor, **filters)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        store = SqliteConnectionStore(Path(folder) / "bench.sqlite3")
        try:
            seconds = fill(store, args.connections)
            print(
                f"SQLite store: {args.connections:,} connections of one tenant "
                f"(+{args.connections // 10:,} of another), written in {seconds:.1f} s; "
                f"ms per {PAGE}-item page (median of {args.repeat})\n"
            )
            header = f"{'listing':<24}{'matches':>9}" + "".join(
                f"{f'depth {d:.0%}':>12}" for d in DEPTHS
            )
            print(header + f"{'99%/1%':>9}")
            for name, filters in LISTINGS:
                total = _count(store, filters)
                figures = [page_ms(store, filters, int(total * d), args.repeat) for d in DEPTHS]
                cells = "".join(f"{ms:>12.3f}" for ms in figures)
                ratio = figures[-1] / figures[0] if figures[0] else float("nan")
                print(f"{name:<24}{total:>9,}{cells}{ratio:>8.1f}x", flush=True)
        finally:
            store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
