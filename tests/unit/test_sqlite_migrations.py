"""Embedded store migrations: idempotent, concurrent-safe, and refusing a newer file."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from tether.adapters.sqlite import SqliteConnectionStore
from tether.adapters.sqlite.schema import MIGRATIONS
from tether.domain.errors import ConfigurationError


def test_reopening_keeps_the_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    SqliteConnectionStore(path).close()
    SqliteConnectionStore(path).close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_concurrent_first_opens_migrate_once(tmp_path: Path) -> None:
    path = tmp_path / "race.sqlite3"
    errors: list[BaseException] = []
    stores: list[SqliteConnectionStore] = []

    def open_store() -> None:
        try:
            stores.append(SqliteConnectionStore(path))
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for store in stores:
        store.close()
    assert errors == []
    assert len(stores) == 6


def test_a_newer_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite3"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    db.close()
    with pytest.raises(ConfigurationError, match="newer than this code"):
        SqliteConnectionStore(path)
