"""OAuth benchmark: refresh throughput of one instance, and the cost of the refresh sweep.

1. Refreshes per second: one instance (embedded stack: SQLite store, AES-GCM "db" secrets)
   refreshing connections against the local OAuth provider over real HTTP on loopback, with
   refresh-token rotation on (every refresh writes a new credential version) and off. Each
   refresh is a full cycle: lease, re-read, token request, record write, audit, proactive task.
   Run with 1 and 4 threads, each on its own connections (the provider runs in the same
   process, so both share its interpreter and the machine's cores).
2. Sweep cost: N connections (1% of them with a token expiring within the sweep window), then
   one sweep, at N = 1,000 / 2,500 / 5,000 / 10,000: wall time, store reads (pages and records
   read) and refreshes enqueued. Next to it, the cost of finding the same connections by
   scanning every record, which is what a sweep without the expiry index would do.

Run: ``make bench-oauth`` or ``python tests/bench/bench_oauth.py [--seconds S] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from tether.adapters.db_secrets import DbSecretStore, MemoryRetiredVersions
from tether.adapters.sqlite import SqliteConnectionStore
from tether.adapters.sqlite.retired_versions import SqliteRetiredVersions
from tether.crypto import Keyring, Sealer
from tether.domain.clock import SystemClock
from tether.domain.ids import RandomIds
from tether.domain.models import Connection, Page
from tether.oauth.model import OAuthClient
from tether.oauth.refresh import TokenRefresh
from tether.oauth.refresh_policy import RefreshPolicy
from tether.oauth.token_endpoint import TokenEndpoint
from tether.oauth.token_storage import TokenStorage
from tether_emulators.oauth_provider import OAuthProvider

SIZES = (1_000, 2_500, 5_000, 10_000)


class RecordingQueue:
    def __init__(self) -> None:
        self.names: set[str] = set()
        self.lock = threading.Lock()

    def enqueue(
        self, kind: str, payload: Any, *, name: str | None = None, run_at: Any = None
    ) -> bool:
        with self.lock:
            if name is not None and name in self.names:
                return False
            if name is not None:
                self.names.add(name)
            return True


class CountingStore:
    """The real store, counting reads: calls and records returned."""

    def __init__(self, inner: SqliteConnectionStore) -> None:
        self.inner = inner
        self.pages = 0
        self.records = 0

    def reset(self) -> None:
        self.pages = self.records = 0

    def list_expiring(self, **kwargs: Any) -> Page[Connection]:
        page = self.inner.list_expiring(**kwargs)
        self.pages += 1
        self.records += len(page.items)
        return page

    def scan_connections(self, **kwargs: Any) -> Page[Connection]:
        page = self.inner.scan_connections(**kwargs)
        self.pages += 1
        self.records += len(page.items)
        return page

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _connection(i: int, now: datetime, *, expires_in: timedelta, ref: Any = None) -> Connection:
    return Connection(
        id=f"conn_bench{i:06d}",
        tenant_id=f"tenant{i % 50}",
        provider="oauth2",
        auth_mode="oauth2",
        display_name="bench",
        status="active",
        credential_ref=ref,
        token_expires_at=now + expires_in,
        token_refreshed_at=now,
        created_at=now,
        updated_at=now,
        created_by="bench",
    )


def token_refresh(
    store: Any, secrets: DbSecretStore, sealer: Sealer, provider: OAuthProvider, http: httpx.Client
) -> TokenRefresh:
    client = OAuthClient(
        client_id="tether-test",
        client_secret="tether-test-secret",
        authorization_url=provider.authorization_url,
        token_url=provider.token_url,
        revocation_url=provider.revocation_url,
    )
    clock = SystemClock()
    return TokenRefresh(
        store=store,
        secrets=secrets,
        token_storage=TokenStorage(store=store, secrets=secrets, sealer=sealer, clock=clock),
        endpoint=TokenEndpoint(http),
        client_for=lambda c: client,
        policy_for=lambda c: RefreshPolicy(),
        tasks=RecordingQueue,
        clock=clock,
        ids=RandomIds(),
    )


def refresh_rate(folder: Path, *, rotate: bool, threads: int, seconds: float) -> float:
    provider = OAuthProvider(rotate_refresh_tokens=rotate)
    provider.start()
    sealer = Sealer(Keyring.generate("kbench"))
    store = SqliteConnectionStore(folder / f"refresh-{rotate}-{threads}.sqlite3")
    secrets = DbSecretStore(
        sealer, retired=SqliteRetiredVersions(folder / f"refresh-{rotate}-{threads}.sqlite3")
    )
    http = httpx.Client(timeout=10)
    life = token_refresh(store, secrets, sealer, provider, http)
    now = datetime.now(UTC)
    ids: list[str] = []
    for i in range(threads * 4):
        issued = provider.issue_tokens()
        connection = _connection(i, now, expires_in=timedelta(hours=1))
        ref = secrets.put(
            tenant_id=connection.tenant_id,
            connection_id=connection.id,
            provider="oauth2",
            payload={"refresh_token": issued["refresh_token"]},
        )
        store.create_connection(connection.model_copy(update={"credential_ref": ref}))
        ids.append(connection.id)

    done = [0] * threads
    stop = time.perf_counter() + seconds

    def work(slot: int) -> None:
        mine = ids[slot * 4 : slot * 4 + 4]
        k = 0
        while time.perf_counter() < stop:
            connection_id = mine[k % 4]
            record = store.get_connection(f"tenant{int(connection_id[-6:]) % 50}", connection_id)
            assert record is not None
            life.force_refresh(record)
            done[slot] += 1
            k += 1

    started = time.perf_counter()
    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    refreshes = provider.stats.get("token.refresh_token", 0)
    assert refreshes == sum(done), (refreshes, done)
    http.close()
    store.close()
    provider.stop()
    return sum(done) / elapsed


def sweep_cost(folder: Path, size: int) -> dict[str, float]:
    sealer = Sealer(Keyring.generate("kbench"))
    inner = SqliteConnectionStore(folder / f"sweep-{size}.sqlite3")
    store = CountingStore(inner)
    now = datetime.now(UTC)
    for i in range(size):
        soon = i % 100 == 0
        expires = timedelta(minutes=5) if soon else timedelta(hours=2 + i % 20)
        inner.create_connection(_connection(i, now, expires_in=expires))
    provider = OAuthProvider()  # never called: the sweep only schedules
    provider.start()
    life = token_refresh(
        store,
        DbSecretStore(sealer, retired=MemoryRetiredVersions()),
        sealer,
        provider,
        httpx.Client(),
    )

    store.reset()
    started = time.perf_counter()
    report = life.schedule.sweep(now)
    sweep_ms = (time.perf_counter() - started) * 1000
    sweep_pages, sweep_records = store.pages, store.records

    store.reset()
    started = time.perf_counter()
    found = 0
    cursor = None
    while True:
        page = store.scan_connections(cursor=cursor, limit=200)
        found += sum(
            1
            for c in page.items
            if c.token_expires_at is not None and c.token_expires_at <= now + timedelta(minutes=15)
        )
        cursor = page.next_cursor
        if cursor is None:
            break
    scan_ms = (time.perf_counter() - started) * 1000
    assert found == report.enqueued, (found, report.as_dict())
    assert provider.stats.get("token", 0) == 0
    provider.stop()
    inner.close()
    return {
        "connections": size,
        "expiring": report.enqueued,
        "sweep_ms": sweep_ms,
        "sweep_pages": sweep_pages,
        "sweep_records": sweep_records,
        "scan_ms": scan_ms,
        "scan_pages": store.pages,
        "scan_records": store.records,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.getLogger("tether").setLevel(logging.WARNING)  # keep the figures readable
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        rates = {
            f"rotation {'on' if rotate else 'off'}, {threads} thread{'s' if threads > 1 else ''}": (
                refresh_rate(folder, rotate=rotate, threads=threads, seconds=args.seconds)
            )
            for rotate in (True, False)
            for threads in (1, 4)
        }
        sweeps = [sweep_cost(folder, size) for size in SIZES]
    if args.json:
        print(json.dumps({"refreshes_per_second": rates, "sweep": sweeps}, indent=2))
        return 0
    print("Refreshes per second, one instance, local provider over loopback HTTP:")
    for label, rate in rates.items():
        print(f"  {label:28} {rate:8.1f}/s")
    print("\nSweep (1% of connections expiring within the window):")
    print(
        f"{'connections':>12} {'expiring':>9} {'sweep ms':>9} {'pages':>6} {'records':>8}"
        f"   {'full scan ms':>12} {'pages':>6} {'records':>8}"
    )
    for row in sweeps:
        print(
            f"{row['connections']:>12,} {row['expiring']:>9} {row['sweep_ms']:>9.1f} "
            f"{row['sweep_pages']:>6} {row['sweep_records']:>8}"
            f"   {row['scan_ms']:>12.1f} {row['scan_pages']:>6} {row['scan_records']:>8}"
        )
    first, last = sweeps[0], sweeps[-1]
    growth = last["connections"] / first["connections"]
    print(
        f"\n{growth:.0f}x the connections: sweep time x{last['sweep_ms'] / first['sweep_ms']:.1f}, "
        f"sweep records x{last['sweep_records'] / max(first['sweep_records'], 1):.1f} "
        f"(grows with the expiring ones); full scan time "
        f"x{last['scan_ms'] / first['scan_ms']:.1f}, records "
        f"x{last['scan_records'] / first['scan_records']:.1f}"
    )
    per_10k = next(r for r in sweeps if r["connections"] == 10_000)
    print(
        f"per 10,000 connections: sweep {per_10k['sweep_ms']:.1f} ms, "
        f"{per_10k['sweep_pages']} store reads ({per_10k['sweep_records']} records)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
