"""`tether keys rotate` at the service level: counts, CAS, and everything still opens."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from tether.adapters.db_secrets import DbSecretStore
from tether.adapters.sqlite import SqliteConnectionStore
from tether.crypto import Keyring, Sealer, new_key_entry
from tether.domain.clock import FixedClock
from tether.domain.ids import SequentialIds
from tether.domain.models import Connection, CredentialRef
from tether.services.key_rotation import ACCESS_TOKEN_PURPOSE, KeyRotationService

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def _connection(
    cid: str, tenant: str, secrets: DbSecretStore, sealer: Sealer, *, token: bool
) -> Connection:
    ref = secrets.put(
        tenant_id=tenant, connection_id=cid, provider="stripe", payload={"api_key": f"k-{cid}"}
    )
    return Connection(
        id=cid,
        tenant_id=tenant,
        provider="stripe",
        auth_mode="api_key",
        display_name=cid,
        credential_ref=ref,
        sealed_access_token=sealer.seal(
            b"at-" + cid.encode(), tenant_id=tenant, record_id=cid, purpose=ACCESS_TOKEN_PURPOSE
        )
        if token
        else None,
        created_at=T0,
        updated_at=T0,
        created_by="u",
    )


def test_rotate_reencrypts_everything_under_the_new_primary(tmp_path: Path) -> None:
    old = Keyring.generate("kold")
    store = SqliteConnectionStore(tmp_path / "s.sqlite3")
    sealer = Sealer(old)
    secrets = DbSecretStore(sealer)
    for i, tenant in enumerate(["a", "b", "a"]):
        store.create_connection(_connection(f"conn_{i}", tenant, secrets, sealer, token=i == 1))
    # a record with nothing sealed (e.g. an OAuth connection still pending)
    store.create_connection(
        Connection(
            id="conn_9",
            tenant_id="a",
            provider="oauth2",
            auth_mode="oauth2",
            display_name="p",
            created_at=T0,
            updated_at=T0,
            created_by="u",
        )
    )

    kid, key = new_key_entry("knew")
    rotated_ring = old.with_key(kid, key, primary=True)
    new_sealer = Sealer(rotated_ring)
    service = KeyRotationService(
        store=store, sealer=new_sealer, clock=FixedClock(T0), ids=SequentialIds()
    )
    report = service.rotate()
    assert (
        report.scanned,
        report.rotated,
        report.already_current,
        report.not_applicable,
        report.failed,
    ) == (4, 3, 0, 1, [])

    new_secrets = DbSecretStore(new_sealer)
    for i, tenant in enumerate(["a", "b", "a"]):
        record = store.get_connection(tenant, f"conn_{i}")
        assert record is not None and record.credential_ref is not None
        assert Sealer.key_id_of(record.credential_ref.locator) == "knew"
        assert new_secrets.get(
            tenant_id=tenant, connection_id=record.id, ref=record.credential_ref
        ) == {"api_key": f"k-conn_{i}"}
        if record.sealed_access_token:
            assert (
                new_sealer.open(
                    record.sealed_access_token,
                    tenant_id=tenant,
                    record_id=record.id,
                    purpose=ACCESS_TOKEN_PURPOSE,
                )
                == b"at-conn_1"
            )
        assert [e.action for e in store.list_audit(tenant, connection_id=record.id)] == [
            "credentials.rotated"
        ]

    second = service.rotate()
    assert (second.rotated, second.already_current) == (0, 3)
    store.close()


def test_unreadable_ciphertext_is_reported_not_dropped(tmp_path: Path) -> None:
    store = SqliteConnectionStore(tmp_path / "s.sqlite3")
    ring = Keyring.generate("k1")
    sealer = Sealer(ring)
    good = _connection("conn_ok", "a", DbSecretStore(sealer), sealer, token=False)
    other_ring_sealer = Sealer(Keyring.generate("k1"))  # same id, different key bytes
    bad = _connection(
        "conn_bad", "a", DbSecretStore(other_ring_sealer), other_ring_sealer, token=False
    )
    store.create_connection(good)
    store.create_connection(bad)
    kid, key = new_key_entry("k2")
    service = KeyRotationService(
        store=store,
        sealer=Sealer(ring.with_key(kid, key)),
        clock=FixedClock(T0),
        ids=SequentialIds(),
    )
    report = service.rotate()
    assert report.rotated == 1 and report.failed == ["conn_bad"]
    kept = store.get_connection("a", "conn_bad")
    assert kept is not None and kept.credential_ref == bad.credential_ref  # untouched
    assert isinstance(kept.credential_ref, CredentialRef)
    store.close()
