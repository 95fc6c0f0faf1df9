"""`tether keys rotate` at the service level: every kind of sealed value, counts per kind,
failures reported and skipped, compare-and-set against concurrent writers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tether.adapters.db_secrets import DbSecretStore, MemoryRetiredVersions
from tether.adapters.sqlite import SqliteConnectionStore
from tether.connections.key_rotation import KeyRotationService, RotationReport
from tether.crypto import Keyring, Sealer, new_key_entry
from tether.crypto.purposes import ACCESS_TOKEN_PURPOSE, OAUTH_STATE_PURPOSE
from tether.delivery.settings import NotifySettingsService
from tether.domain.clock import FixedClock
from tether.domain.ids import RandomIds, SequentialIds
from tether.domain.models import (
    Connection,
    CredentialRef,
    NotifySecret,
    OAuthState,
    Principal,
    TenantSettings,
)
from tether.http.guard import EgressGuard

T0 = datetime(2026, 5, 1, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteConnectionStore]:
    backend = SqliteConnectionStore(tmp_path / "s.sqlite3")
    yield backend
    backend.close()


def _connection(
    cid: str, tenant: str, sealer: Sealer, *, payload: bool = True, token: bool = False
) -> Connection:
    ref = (
        DbSecretStore(sealer, retired=MemoryRetiredVersions()).put(
            tenant_id=tenant, connection_id=cid, provider="stripe", payload={"api_key": f"k-{cid}"}
        )
        if payload
        else None
    )
    sealed_token = (
        sealer.seal(
            b"at-" + cid.encode(), tenant_id=tenant, record_id=cid, purpose=ACCESS_TOKEN_PURPOSE
        )
        if token
        else None
    )
    return Connection(
        id=cid,
        tenant_id=tenant,
        provider="stripe",
        auth_mode="api_key",
        display_name=cid,
        credential_ref=ref,
        sealed_access_token=sealed_token,
        created_at=T0,
        updated_at=T0,
        created_by="u",
    )


def _state(state_hash: str, tenant: str, sealer: Sealer, **extra: Any) -> OAuthState:
    sealed = sealer.seal_json(
        {"verifier": f"v-{state_hash}", "credentials": {}},
        tenant_id=tenant,
        record_id=state_hash,
        purpose=OAUTH_STATE_PURPOSE,
    )
    fields: dict[str, Any] = {
        "state_hash": state_hash,
        "tenant_id": tenant,
        "user_id": "u",
        "provider": "demo",
        "redirect_uri": "https://tether.example/oauth_callback/",
        "created_at": T0,
        "expires_at": T0 + timedelta(minutes=10),
        "data": {"sealed": sealed, "return_to": "https://app.example/"},
    }
    return OAuthState.model_validate({**fields, **extra})


def _notify(store: Any, sealer: Sealer) -> NotifySettingsService:
    return NotifySettingsService(
        store=store,
        sealer=sealer,
        clock=FixedClock(T0),
        ids=RandomIds(),
        guard=EgressGuard.from_text(None),
    )


def _rotation(store: Any, sealer: Sealer) -> KeyRotationService:
    return KeyRotationService(store=store, sealer=sealer, clock=FixedClock(T0), ids=SequentialIds())


def _counts(report: RotationReport) -> dict[str, tuple[int, int, int, int]]:
    return {
        kind: (c.resealed, c.already_current, c.skipped, c.failed)
        for kind, c in report.kinds.items()
    }


def _rotated_ring(old: Keyring, key_id: str = "knew") -> Keyring:
    return old.with_key(*new_key_entry(key_id), primary=True)


def test_rotate_reseals_every_kind_and_nothing_needs_the_old_key(
    store: SqliteConnectionStore,
) -> None:
    old = Keyring.generate("kold")
    sealer = Sealer(old)
    store.create_connection(_connection("conn_a", "a", sealer, token=True))
    store.create_connection(_connection("conn_b", "b", sealer))
    store.create_connection(_connection("conn_p", "a", sealer, payload=False))  # nothing sealed
    store.create_connection(
        _connection("conn_sm", "b", sealer, payload=False, token=True).model_copy(
            update={
                "credential_ref": CredentialRef(
                    backend="secret_manager", locator="projects/p/secrets/s/versions/1"
                )
            }
        )
    )
    notify = _notify(store, sealer)
    first = notify.rotate_secret(Principal(tenant_id="a", user_id="u"))
    second = notify.rotate_secret(Principal(tenant_id="a", user_id="u"))  # both still signing
    store.create_oauth_state(_state("s_pending", "a", sealer))
    store.create_oauth_state(_state("s_used", "a", sealer, used_at=T0))
    store.create_oauth_state(_state("s_expired", "b", sealer, expires_at=T0))

    new_ring = _rotated_ring(old)
    report = _rotation(store, Sealer(new_ring)).rotate()
    assert report.primary_key_id == "knew" and report.failures == []
    assert _counts(report) == {
        "credential_payloads": (2, 0, 1, 0),
        "access_tokens": (2, 0, 0, 0),
        "notify_secrets": (2, 0, 0, 0),
        "oauth_states": (1, 0, 2, 0),
    }

    assert _rotation(store, Sealer(new_ring)).key_usage() == {
        "credential_payloads": {"knew": 2},
        "access_tokens": {"knew": 2},
        "notify_secrets": {"knew": 2},
        "oauth_states": {"knew": 1},  # used and expired states are never opened again
    }

    # The old key leaves the keyring: everything still opens.
    only_new = Sealer(new_ring.without_key("kold"))
    for cid, tenant in (("conn_a", "a"), ("conn_b", "b")):
        record = store.get_connection(tenant, cid)
        assert record is not None and record.credential_ref is not None
        assert record.credential_ref.key_id == "knew"
        assert DbSecretStore(only_new, retired=MemoryRetiredVersions()).get(
            tenant_id=tenant, connection_id=cid, ref=record.credential_ref
        ) == {"api_key": f"k-{cid}"}
    for cid, tenant in (("conn_a", "a"), ("conn_sm", "b")):
        record = store.get_connection(tenant, cid)
        assert record is not None and record.sealed_access_token is not None
        assert (
            only_new.open(
                record.sealed_access_token,
                tenant_id=tenant,
                record_id=cid,
                purpose=ACCESS_TOKEN_PURPOSE,
            )
            == b"at-" + cid.encode()
        )
    assert _notify(store, only_new).signing_secrets("a") == [second, first]
    (pending,) = [s for s in store.scan_oauth_states().items if s.state_hash == "s_pending"]
    assert only_new.open_json(
        pending.data["sealed"], tenant_id="a", record_id="s_pending", purpose=OAUTH_STATE_PURPOSE
    ) == {"verifier": "v-s_pending", "credentials": {}}
    assert pending.data["return_to"] == "https://app.example/"  # the rest of the state kept
    consumed = store.consume_oauth_state("s_pending", now=T0)
    assert consumed is not None and consumed.used_at is None  # still single use

    audit = {e.action for e in store.list_audit("a")}
    assert {"credentials.rotated", "notify.secrets_resealed"} <= audit

    again = _rotation(store, Sealer(new_ring)).rotate()
    assert _counts(again) == {
        "credential_payloads": (0, 2, 1, 0),
        "access_tokens": (0, 2, 0, 0),
        "notify_secrets": (0, 2, 0, 0),
        "oauth_states": (0, 0, 3, 0),
    }


def test_unreadable_values_are_reported_by_id_and_the_rest_is_resealed(
    store: SqliteConnectionStore,
) -> None:
    ring = Keyring.generate("k1")
    sealer = Sealer(ring)
    impostor = Sealer(Keyring.generate("k1"))  # same id, other key bytes
    gone = Sealer(Keyring.generate("kgone"))  # a key no longer in the keyring
    store.create_connection(_connection("conn_bad", "a", impostor, token=True))
    store.create_connection(_connection("conn_ok", "a", sealer, token=True))
    store.create_connection(
        _connection("conn_mixed", "a", sealer).model_copy(
            update={"sealed_access_token": "not an envelope"}
        )
    )
    good = NotifySecret(
        id="whs_good",
        sealed=sealer.seal(
            b"whsec_good", tenant_id="a", record_id="whs_good", purpose="notify_secret"
        ),
        created_at=T0,
    )
    bad = NotifySecret(
        id="whs_bad",
        sealed=gone.seal(b"whsec_bad", tenant_id="a", record_id="whs_bad", purpose="notify_secret"),
        created_at=T0 - timedelta(hours=1),
        expires_at=T0 + timedelta(hours=1),
    )
    store.put_tenant_settings(
        TenantSettings(tenant_id="a", notify_secrets=[good, bad], updated_at=T0),
        expected_version=None,
    )
    store.create_oauth_state(_state("s_gone", "a", gone))
    store.create_oauth_state(_state("s_ok", "a", sealer))

    report = _rotation(store, Sealer(_rotated_ring(ring, "k2"))).rotate()
    assert sorted((f.kind, f.id, f.code) for f in report.failures) == [
        ("access_tokens", "conn_bad", "DECRYPTION_FAILED"),
        ("access_tokens", "conn_mixed", "MALFORMED_CIPHERTEXT"),
        ("credential_payloads", "conn_bad", "DECRYPTION_FAILED"),
        ("notify_secrets", "a/whs_bad", "UNKNOWN_KEY_ID"),
        ("oauth_states", "a/s_gone", "UNKNOWN_KEY_ID"),
    ]
    assert _counts(report) == {
        "credential_payloads": (2, 0, 0, 1),
        "access_tokens": (1, 0, 0, 2),
        "notify_secrets": (1, 0, 0, 1),
        "oauth_states": (1, 0, 0, 1),
    }
    kept = store.get_connection("a", "conn_bad")
    assert kept is not None and kept.version == 1  # untouched
    mixed = store.get_connection("a", "conn_mixed")
    assert mixed is not None and mixed.credential_ref is not None
    assert mixed.credential_ref.key_id == "k2"  # its payload resealed all the same
    settings = store.get_tenant_settings("a")
    assert settings is not None
    assert [Sealer.key_id_of(s.sealed) for s in settings.notify_secrets] == ["k2", "kgone"]
    rendered = str(report.as_dict())
    assert "whsec_" not in rendered and "k-conn" not in rendered


class RacingStore:
    """The real store; the first write of each record loses to a concurrent writer, whose
    change is really made first."""

    def __init__(self, inner: SqliteConnectionStore) -> None:
        self.inner = inner
        self.raced: set[str] = set()

    def update_connection(
        self, connection: Connection, *, expected_version: int, audit: Any = ()
    ) -> Connection:
        if connection.id not in self.raced:
            self.raced.add(connection.id)
            current = self.inner.get_connection(connection.tenant_id, connection.id)
            assert current is not None
            self.inner.update_connection(
                current.model_copy(update={"display_name": "renamed meanwhile"}),
                expected_version=current.version,
            )
        return self.inner.update_connection(
            connection, expected_version=expected_version, audit=audit
        )

    def put_tenant_settings(
        self, settings: TenantSettings, *, expected_version: int | None, audit: Any = ()
    ) -> TenantSettings:
        if settings.tenant_id not in self.raced:
            self.raced.add(settings.tenant_id)
            current = self.inner.get_tenant_settings(settings.tenant_id)
            assert current is not None
            self.inner.put_tenant_settings(
                current.model_copy(update={"notify_url": "https://new.example/hook"}),
                expected_version=current.version,
            )
        return self.inner.put_tenant_settings(
            settings, expected_version=expected_version, audit=audit
        )

    def replace_oauth_state(self, state: OAuthState, *, expected: OAuthState) -> bool:
        self.inner.consume_oauth_state(state.state_hash, now=T0)  # the callback came first
        return self.inner.replace_oauth_state(state, expected=expected)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_concurrent_writers_are_never_overwritten(store: SqliteConnectionStore) -> None:
    ring = Keyring.generate("k1")
    sealer = Sealer(ring)
    store.create_connection(_connection("conn_a", "a", sealer, token=True))
    _notify(store, sealer).rotate_secret(Principal(tenant_id="a", user_id="u"))
    store.create_oauth_state(_state("s_racing", "a", sealer))

    report = _rotation(RacingStore(store), Sealer(_rotated_ring(ring, "k2"))).rotate()
    assert report.failures == []
    assert _counts(report) == {
        "credential_payloads": (1, 0, 0, 0),
        "access_tokens": (1, 0, 0, 0),
        "notify_secrets": (1, 0, 0, 0),
        "oauth_states": (0, 0, 1, 0),  # completed meanwhile: never opened again
    }
    record = store.get_connection("a", "conn_a")
    assert record is not None and record.display_name == "renamed meanwhile"
    assert record.credential_ref is not None and record.credential_ref.key_id == "k2"
    settings = store.get_tenant_settings("a")
    assert settings is not None and settings.notify_url == "https://new.example/hook"
    assert Sealer.key_id_of(settings.notify_secrets[0].sealed) == "k2"
    (state,) = store.scan_oauth_states().items
    assert state.used_at == T0 and Sealer.key_id_of(state.data["sealed"]) == "k1"
