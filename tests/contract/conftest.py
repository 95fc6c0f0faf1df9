"""Backends the contract suites run against. The GCP adapters add their params here, against
the emulators, and every test in this folder runs on them unchanged."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tether.adapters.db_secrets import DbSecretStore
from tether.adapters.sqlite import SqliteConnectionStore
from tether.crypto import Keyring, Sealer
from tether.ports import ConnectionStore, SecretStore


@pytest.fixture(params=["sqlite", "firestore"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ConnectionStore]:
    if request.param == "sqlite":
        backend = SqliteConnectionStore(tmp_path / "store.sqlite3")
        yield backend
        backend.close()
    elif request.param == "firestore":
        from tether.adapters.firestore import FirestoreConnectionStore

        # a fresh client on an emptied emulator database (tests/fixtures/firestore.py)
        yield FirestoreConnectionStore(request.getfixturevalue("firestore_client"))


@pytest.fixture(params=["db", "secret_manager"])
def secret_store(request: pytest.FixtureRequest) -> Iterator[SecretStore]:
    if request.param == "db":
        yield DbSecretStore(Sealer(Keyring.generate("kcontract")))
    elif request.param == "secret_manager":
        from tether.adapters.secret_manager import SecretManagerSecretStore
        from tether.adapters.secret_manager.client import secret_manager_client

        client = secret_manager_client(request.getfixturevalue("secret_manager_emulator"))
        # A project of its own per test: the emulator lives for the whole session.
        project = f"contract-{uuid.uuid4().hex[:8]}"
        yield SecretManagerSecretStore(client, project=project, cache_seconds=0)
        client.transport.close()
