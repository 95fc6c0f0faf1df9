"""The SQLite audit log calls a refused insert a conflict of ids only when it was one: a row
refused by anything else (a trigger, a NOT NULL) is raised as it is, not answered as 409
"an audit event with this id already exists"."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.contract.records import _entry
from tether.adapters.sqlite import SqliteConnectionStore
from tether.domain.errors import Conflict


def test_only_a_repeated_id_is_a_conflict(tmp_path: Path) -> None:
    store = SqliteConnectionStore(tmp_path / "store.sqlite3")
    try:
        store.append_audit(_entry("aud_1"))
        with pytest.raises(Conflict):
            store.append_audit(_entry("aud_1"))
        store.database.db().execute(
            "CREATE TRIGGER no_more_audit BEFORE INSERT ON audit"
            " BEGIN SELECT RAISE(ABORT, 'audit closed'); END"
        )
        with pytest.raises(sqlite3.IntegrityError, match="audit closed"):
            store.append_audit(_entry("aud_2"))
    finally:
        store.close()
