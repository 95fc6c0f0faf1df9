"""Sync benchmark: N records synced through Tether next to a plain httpx paging loop that
writes the same records to SQLite, in one run, side by side.

The source is the local dataset API (`python -m tether_emulators.dataset_api`) in a process of
its own, cursor pagination, 1,000 records a page. Each measurement runs in a fresh child
process, so its peak RSS is its own:

- plain: an ``httpx.Client`` cursor loop, each page's records written to a SQLite table
  (``INSERT OR REPLACE`` id, JSON) in one transaction a page;
- tether: a tenant's own sync on the embedded stack (SQLite store, the durable queue's task
  run in process, on an instance warmed by a sync of ten records): the full run (walk, write
  with payload hashes), then an incremental run over the unchanged data (the modified-since
  value: one page, nothing written), then a full run over the unchanged data (every page
  walked and hashed, every record marked seen, nothing written).

Prints seconds, the ratio tether / plain (target <= 1.5), peak RSS at each N (flat in N:
records stream, never all in memory) and the re-runs' times against the first run's (target
<= 0.3 for the incremental run), for the SQLite store and, beside them, the Firestore store on
its emulator (``FIRESTORE_EMULATOR_HOST``, else one started for the run; smaller N: the
emulator is slow).
Run: ``make bench-sync`` or
``python tests/bench/bench_sync.py [--sizes 10000,100000] [--firestore-sizes 1000,5000]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support.sync_scenario import DEFINITION as SCENARIO  # noqa: E402

PAGE = 1000
# The end-to-end scenario's sync, with the benchmark's page size.
DEFINITION: dict[str, Any] = {
    **SCENARIO,
    "request": {**SCENARIO["request"], "params": {"limit": PAGE}},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- the children -------------------------------------------------------------------------------


def plain(url: str, workdir: Path) -> dict[str, Any]:
    db = sqlite3.connect(workdir / "plain.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE records (id TEXT PRIMARY KEY, payload TEXT NOT NULL)")
    started = time.perf_counter()
    written = 0
    with httpx.Client(timeout=60) as client:
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": PAGE, **({"cursor": cursor} if cursor else {})}
            body = client.get(f"{url}/invoices/cursor", params=params).json()
            db.execute("BEGIN")
            db.executemany(
                "INSERT OR REPLACE INTO records VALUES (?, ?)",
                [(str(r["id"]), json.dumps(r)) for r in body["data"]],
            )
            db.execute("COMMIT")
            written += len(body["data"])
            cursor = body["next_cursor"]
            if not cursor:
                break
    return {"seconds": time.perf_counter() - started, "records": written, "rss_mb": _peak_rss_mb()}


def tether(url: str, port: int, workdir: Path, store: str) -> dict[str, Any]:
    from tether.bootstrap import Container
    from tether.config import Settings
    from tether.connections.commands import CreateConnection
    from tether.domain.models import Principal
    from tether.logs import configure_logging
    from tether.sync.service import SyncChange

    configure_logging("WARNING")
    overrides: dict[str, Any] = {}
    if store == "firestore":
        overrides = {"store": "firestore", "gcp_project": f"bench-{os.getpid()}"}
    settings = Settings(
        mode="dev",
        auth="dev",
        data_dir=workdir / "data",
        keyring=json.dumps(
            {"primary": "k1", "keys": {"k1": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}}
        ),  # type: ignore[arg-type]
        dev_jwt_secret="bench-secret-0123456789abcdef0123456789",  # type: ignore[arg-type]
        task_worker=False,
        egress_allowlist=f"127.0.0.1:{port}",
        sync_slice_seconds=3600,
        **overrides,
    )
    container = Container(settings)
    principal = Principal(tenant_id="bench", user_id="bench")
    config = {
        "base_url": url,
        "auth_method": "none",
        "test_path": "/",
        "rate_limit_per_minute": 100_000,
        "rate_limit_burst": 10_000,
    }
    connection = container.connections.create(
        principal, CreateConnection(provider="rest_api", config=config)
    )
    service = container.sync_service
    # Off: run here by hand only, never by the scheduler's periodic task meanwhile.
    service.put_sync(
        principal, connection.id, "invoices", SyncChange(enabled=False, definition=DEFINITION)
    )
    warmup = {**DEFINITION, "model": "Warmup", "request": {"path": "/warmup/cursor"}}
    service.put_sync(
        principal, connection.id, "warmup", SyncChange(enabled=False, definition=warmup)
    )
    queue: Any = container.tasks

    def run(full: bool, name: str = "invoices") -> tuple[float, Any]:
        started = time.perf_counter()
        run = service.start_run(principal, connection.id, name, full=full)
        while queue.run_due():
            pass
        seconds = time.perf_counter() - started
        [done] = [r for r in service.list_runs(principal, connection.id, name) if r.id == run.id]
        return seconds, done

    run(False, "warmup")  # a warm instance: its clients built, its models compiled
    first_seconds, first = run(False)
    rss = _peak_rss_mb()
    incremental_seconds, incremental = run(False)
    rerun_seconds, rerun = run(True)
    container.close()
    return {
        "seconds": first_seconds,
        "records": first.added,
        "status": first.status,
        "rss_mb": rss,
        "incremental_seconds": incremental_seconds,
        "incremental_writes": incremental.added + incremental.updated + incremental.deleted,
        "rerun_seconds": rerun_seconds,
        "rerun_writes": rerun.added + rerun.updated + rerun.deleted,
    }


def child(args: argparse.Namespace) -> None:
    workdir = Path(args.workdir)
    if args.child == "plain":
        result = plain(args.url, workdir)
    else:
        result = tether(args.url, args.port, workdir, args.child.removeprefix("tether-"))
    print(json.dumps(result))


# -- the parent ---------------------------------------------------------------------------------


class Source:
    """The dataset API in a process of its own, holding ``count`` records."""

    def __init__(self, count: int) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tether_emulators.dataset_api", "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.url}/_control/invoices", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        httpx.post(f"{self.url}/_control/warmup/add", json={"count": 10}, timeout=30)
        left = count
        while left:
            step = min(left, 100_000)
            httpx.post(f"{self.url}/_control/invoices/add", json={"count": step}, timeout=120)
            left -= step

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def measure(kind: str, source: Source) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as workdir:
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                kind,
                "--url",
                source.url,
                "--port",
                str(source.port),
                "--workdir",
                workdir,
            ],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def compare(size: int, kind: str) -> dict[str, Any]:
    source = Source(size)
    try:
        return {
            "n": size,
            "store": kind.removeprefix("tether-"),
            "plain": measure("plain", source),
            "tether": measure(kind, source),
        }
    finally:
        source.close()


@contextmanager
def firestore_address() -> Iterator[str]:
    """The emulator ``FIRESTORE_EMULATOR_HOST`` names, else one started for the run."""
    from tether_emulators.firestore import FirestoreEmulator

    given = os.environ.get("FIRESTORE_EMULATOR_HOST")
    if given:
        yield given
        return
    emulator = FirestoreEmulator().start()
    os.environ["FIRESTORE_EMULATOR_HOST"] = emulator.address
    try:
        yield emulator.address
    finally:
        emulator.stop()
        del os.environ["FIRESTORE_EMULATOR_HOST"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--firestore-sizes", default="1000,5000")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child")
    parser.add_argument("--url")
    parser.add_argument("--port", type=int)
    parser.add_argument("--workdir")
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    rows = []
    for size in (int(n) for n in args.sizes.split(",")):
        rows.append(compare(size, "tether-sqlite"))
    with firestore_address():
        for size in (int(n) for n in args.firestore_sizes.split(",") if n):
            rows.append(compare(size, "tether-firestore"))
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(
        f"{'N':>8} {'store':>9} {'plain s':>8} {'tether s':>9} {'ratio':>6} {'plain MB':>9} "
        f"{'tether MB':>10} {'incr s':>7} {'incr/full':>9} {'writes':>6} {'rerun s':>8} "
        f"{'rerun/full':>10} {'writes':>6}"
    )
    for row in rows:
        p, t = row["plain"], row["tether"]
        assert t["records"] == row["n"] == p["records"], row
        print(
            f"{row['n']:>8} {row['store']:>9} {p['seconds']:>8.2f} {t['seconds']:>9.2f} "
            f"{t['seconds'] / p['seconds']:>6.2f} {p['rss_mb']:>9.1f} {t['rss_mb']:>10.1f} "
            f"{t['incremental_seconds']:>7.2f} {t['incremental_seconds'] / t['seconds']:>9.3f} "
            f"{t['incremental_writes']:>6} {t['rerun_seconds']:>8.2f} "
            f"{t['rerun_seconds'] / t['seconds']:>10.2f} {t['rerun_writes']:>6}"
        )
    print(
        "targets: ratio <= 1.5 (sqlite), tether MB flat in N, incr/full <= 0.3 with 0 writes; "
        "rerun: a full run over unchanged data (every page walked, nothing written)"
    )


if __name__ == "__main__":
    main()
