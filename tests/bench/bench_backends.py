"""Backends benchmark: the embedded stack and the GCP stack on its emulators, side by side.

1. Latency, p50 and p95 over N calls each, of the connection service's ``create`` (schema
   check, credential write, record write, audit), ``get`` (one record read) and credential read
   (``read_credentials``: record read, payload read, audit), on:
   - embedded: SQLite store (WAL, temp folder) + "db" secrets (AES-GCM on the record);
   - emulators: Firestore (the official emulator) + Secret Manager (``tether_emulators``),
     credential reads once with the per-instance version cache off and once on.
   Emulators run on loopback, so these figures show the cost of Tether's calls and round trips,
   not Google's production latency.
2. Secret Manager writes per OAuth refresh, counted by the emulator: storing a refreshed token
   set whose refresh token did not change (target: 0), and one whose refresh token rotated.

Run: ``make bench-backends`` or ``python tests/bench/bench_backends.py [--calls N] [--json]``.
Starts the Firestore emulator (``gcloud``) unless ``FIRESTORE_EMULATOR_HOST`` is set.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tether.adapters.db_secrets import DbSecretStore
from tether.adapters.firestore import FirestoreConnectionStore, firestore_client
from tether.adapters.secret_manager import SecretManagerSecretStore
from tether.adapters.secret_manager.client import secret_manager_client
from tether.adapters.sqlite import SqliteConnectionStore
from tether.adapters.sqlite.retired_versions import SqliteRetiredVersions
from tether.catalog import load_catalog
from tether.connections.commands import CreateConnection
from tether.connections.service import ConnectionService
from tether.crypto import Keyring, Sealer
from tether.domain.clock import SystemClock
from tether.domain.ids import RandomIds
from tether.domain.models import Principal
from tether.oauth.token_storage import TokenStorage
from tether.ports import ConnectionStore, SecretStore
from tether_emulators.firestore import FirestoreEmulator
from tether_emulators.secret_manager import SecretManagerEmulator

PRINCIPAL = Principal(tenant_id="bench", user_id="bench-user")
STRIPE = CreateConnection.model_validate(
    {"provider": "stripe", "credentials": {"api_key": "sk_test_51BenchKey000000000000000000"}}
)


def percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[94] * 1000


def timed(calls: int, action: Callable[[int], object]) -> list[float]:
    samples = []
    for i in range(calls):
        started = time.perf_counter()
        action(i)
        samples.append(time.perf_counter() - started)
    return samples


def measure(service: ConnectionService, calls: int) -> dict[str, tuple[float, float]]:
    ids: list[str] = []
    create = timed(calls, lambda _: ids.append(service.create(PRINCIPAL, STRIPE).id))
    get = timed(calls, lambda i: service.get(PRINCIPAL, ids[i]))
    read = timed(calls, lambda i: service.read_credentials(PRINCIPAL, ids[i], purpose="bench"))
    return {
        "create": percentiles(create),
        "get": percentiles(get),
        "credential read": percentiles(read),
    }


def service(store: ConnectionStore, secrets: SecretStore) -> ConnectionService:
    catalog = load_catalog()
    return ConnectionService(
        store=store, secrets=secrets, catalog=lambda: catalog, clock=SystemClock(), ids=RandomIds()
    )


@contextmanager
def firestore_address() -> Iterator[str]:
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


def refresh_writes(
    store: ConnectionStore, secrets: SecretStore, emulator: SecretManagerEmulator
) -> dict[str, int]:
    sealer = Sealer(Keyring.generate("kbench"))
    tokens = TokenStorage(store=store, secrets=secrets, sealer=sealer, clock=SystemClock())
    created = service(store, secrets).create(
        PRINCIPAL,
        CreateConnection.model_validate(
            {
                "provider": "oauth2",
                "config": {
                    "authorization_url": "https://auth.example.com/authorize",
                    "token_url": "https://auth.example.com/token",
                    "client_id": "bench-client",
                },
                "credentials": {"client_secret": "bench-secret-0123456789"},
            }
        ),
    )
    current = tokens.store_tokens(
        created,
        access_token="at-0",
        expires_at=datetime.now(UTC) + timedelta(hours=1),
        refresh_token="rt-first-0123456789",
    )
    figures = {}
    for label, refresh_token in (
        ("refresh, refresh token unchanged", "rt-first-0123456789"),
        ("refresh, refresh token rotated", "rt-second-0123456789"),
    ):
        before = emulator.writes
        current = tokens.store_tokens(
            current,
            access_token=f"at-{label}",
            expires_at=datetime.now(UTC) + timedelta(hours=1),
            refresh_token=refresh_token,
        )
        figures[label] = emulator.writes - before
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    results: dict[str, dict[str, tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as folder:
        sqlite = SqliteConnectionStore(Path(folder) / "bench.sqlite3")
        embedded = DbSecretStore(
            Sealer(Keyring.generate("kbench")),
            retired=SqliteRetiredVersions(Path(folder) / "bench.sqlite3"),
        )
        results["embedded"] = measure(service(sqlite, embedded), args.calls)
        embedded.close()
        sqlite.close()

    sm = SecretManagerEmulator()
    sm.start()
    with firestore_address():
        project = f"bench-{uuid.uuid4().hex[:8]}"
        firestore = FirestoreConnectionStore(firestore_client(project))
        client = secret_manager_client(sm.address)
        uncached = SecretManagerSecretStore(client, project=project, cache_seconds=0)
        results["emulators, cache off"] = measure(service(firestore, uncached), args.calls)
        cached = SecretManagerSecretStore(client, project=project, cache_seconds=30)
        results["emulators, cache on"] = measure(service(firestore, cached), args.calls)
        writes = refresh_writes(firestore, uncached, sm)
    sm.stop()

    if args.json:
        print(json.dumps({"latency_ms": results, "secret_manager_writes": writes}, indent=2))
        return 0
    stacks = list(results)
    print(f"p50 / p95 latency in ms over {args.calls} calls each (service level)")
    print(f"{'operation':18}" + "".join(f"{name:>26}" for name in stacks))
    for operation in ("create", "get", "credential read"):
        cells = "".join(
            f"{results[s][operation][0]:>14.2f} / {results[s][operation][1]:>7.2f}" for s in stacks
        )
        print(f"{operation:18}{cells}")
    ratio = results["emulators, cache off"]["create"][0] / results["embedded"]["create"][0]
    print(f"create p50, emulators / embedded: {ratio:.1f}x")
    print("Secret Manager writes per OAuth refresh:")
    for label, count in writes.items():
        print(f"  {label:34} {count}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
