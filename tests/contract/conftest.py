"""Backends the contract suites run against. The GCP adapters add their params here, against
the emulators, and every test in this folder runs on them unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tether.adapters.db_secrets import DbSecretStore
from tether.adapters.sqlite import SqliteConnectionStore
from tether.crypto import Keyring, Sealer
from tether.ports import ConnectionStore, SecretStore


@pytest.fixture(params=["sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ConnectionStore]:
    if request.param == "sqlite":
        backend = SqliteConnectionStore(tmp_path / "store.sqlite3")
        yield backend
        backend.close()


@pytest.fixture(params=["db"])
def secret_store(request: pytest.FixtureRequest) -> Iterator[SecretStore]:
    if request.param == "db":
        yield DbSecretStore(Sealer(Keyring.generate("kcontract")))
