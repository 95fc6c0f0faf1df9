"""`tether keys rotate` as a command: the report per kind on stdout, a summary on stderr, and
a non-zero exit when anything could not be resealed."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.cli_data_dir import data_dir
from tether.adapters.db_secrets import DbSecretStore, MemoryRetiredVersions
from tether.adapters.db_secrets.retired_versions import version_of
from tether.adapters.sqlite import SqliteConnectionStore
from tether.adapters.sqlite.retired_versions import SqliteRetiredVersions
from tether.cli import main
from tether.crypto import Keyring, Sealer, load_keyring_file, new_key_entry, save_keyring_file
from tether.domain.models import Connection

__all__ = ["data_dir"]  # fixtures

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def _stored(data_dir: Path, cid: str, sealer: Sealer) -> None:
    store = SqliteConnectionStore(data_dir / "tether.sqlite3")
    ref = DbSecretStore(sealer, retired=MemoryRetiredVersions()).put(
        tenant_id="acme", connection_id=cid, provider="stripe", payload={"api_key": "sk_x"}
    )
    store.create_connection(
        Connection(
            id=cid,
            tenant_id="acme",
            provider="stripe",
            auth_mode="api_key",
            display_name=cid,
            credential_ref=ref,
            created_at=T0,
            updated_at=T0,
            created_by="u",
        )
    )
    store.close()


def _new_primary(data_dir: Path) -> None:
    path = data_dir / "keyring.json"
    current = load_keyring_file(path)
    assert current is not None
    save_keyring_file(path, current.with_key(*new_key_entry("knew")))
    os.utime(path, (0, 0))  # long ago: no instance to wait for


def test_rotate_reports_per_kind_and_fails_on_anything_unreadable(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ring = Keyring.generate("kold")
    save_keyring_file(data_dir / "keyring.json", ring)
    _stored(data_dir, "conn_ok", Sealer(ring))
    _new_primary(data_dir)

    assert main(["keys", "rotate", "--data-dir", str(data_dir)]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["primary_key_id"] == "knew" and report["failed"] == 0
    assert report["kinds"]["credential_payloads"] == {
        "resealed": 1,
        "already_current": 0,
        "skipped": 0,
        "failed": 0,
    }
    assert set(report["kinds"]) == {
        "credential_payloads",
        "access_tokens",
        "notify_secrets",
        "oauth_states",
    }
    assert "resealed under key knew" in err

    _stored(data_dir, "conn_bad", Sealer(Keyring.generate("kforeign")))
    assert main(["keys", "rotate", "--data-dir", str(data_dir)]) == 1
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["failures"] == [
        {"kind": "credential_payloads", "id": "conn_bad", "code": "UNKNOWN_KEY_ID"}
    ]
    assert report["kinds"]["credential_payloads"]["already_current"] == 1
    assert "FAILED credential_payloads conn_bad: UNKNOWN_KEY_ID" in err
    assert "sk_x" not in out + err


def test_retire_drops_an_old_key_only_once_nothing_is_sealed_under_it(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ring = Keyring.generate("kold")
    save_keyring_file(data_dir / "keyring.json", ring)
    _stored(data_dir, "conn_1", Sealer(ring))
    _new_primary(data_dir)
    argv = ["--data-dir", str(data_dir)]

    assert main(["keys", "retire", "knew", *argv]) == 1  # the primary
    assert "primary key cannot be removed" in capsys.readouterr().err
    assert main(["keys", "retire", "kold", *argv]) == 1
    assert "key kold still seals 1 credential payloads" in capsys.readouterr().err
    keyring = load_keyring_file(data_dir / "keyring.json")
    assert keyring is not None and keyring.key_ids == ("knew", "kold")

    # A version sealed under kold and retired has a tombstone; it goes with the key.
    tombstones = SqliteRetiredVersions(data_dir / "tether.sqlite3")
    tombstones.retire("acme", "conn_1", version_of("tg1.kold.superseded"), key_id="kold")
    tombstones.close()

    assert main(["keys", "rotate", *argv]) == 0
    assert main(["keys", "retire", "kold", *argv]) == 0
    out = capsys.readouterr().out
    assert "removed key kold" in out
    assert "dropped 1 tombstone(s) of credential versions sealed under kold" in out
    tombstones = SqliteRetiredVersions(data_dir / "tether.sqlite3")
    assert not tombstones.is_retired("acme", "conn_1", version_of("tg1.kold.superseded"))
    tombstones.close()
    keyring = load_keyring_file(data_dir / "keyring.json")
    assert keyring is not None and keyring.key_ids == ("knew",)
    assert main(["keys", "rotate", *argv]) == 0  # everything opens without it
    assert json.loads(capsys.readouterr().out)["kinds"]["credential_payloads"] == {
        "resealed": 0,
        "already_current": 1,
        "skipped": 0,
        "failed": 0,
    }


def test_retire_refuses_while_a_record_cannot_be_read(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What an unreadable record seals is unknown: no key is provably unused until it is
    deleted (or repaired), and rotate names it."""
    import sqlite3

    ring = Keyring.generate("kold")
    save_keyring_file(data_dir / "keyring.json", ring)
    _stored(data_dir, "conn_1", Sealer(ring))
    _stored(data_dir, "conn_2", Sealer(ring))
    db = sqlite3.connect(data_dir / "tether.sqlite3")
    with db:
        db.execute("UPDATE connections SET doc = '{\"id\": 7}' WHERE id = 'conn_2'")
    db.close()
    _new_primary(data_dir)
    argv = ["--data-dir", str(data_dir)]

    assert main(["keys", "rotate", *argv]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["unreadable_records"] == [{"record": "connection", "id": "conn_2"}]
    assert "UNREADABLE connection conn_2" in err
    assert main(["keys", "retire", "kold", *argv]) == 1
    assert "cannot tell what 1 connection record(s) seal" in capsys.readouterr().err
    keyring = load_keyring_file(data_dir / "keyring.json")
    assert keyring is not None and keyring.key_ids == ("knew", "kold")
