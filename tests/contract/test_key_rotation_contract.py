"""What key rotation needs of every store: scans of tenant settings and OAuth states, and a
compare-and-set swap of a pending state. Then rotation itself over every store and secret
backend: everything sealed in the store is resealed and opens once the old key is gone."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

from tests.support.pages import every_page, walk
from tether.adapters.db_secrets import DbSecretStore, MemoryRetiredVersions
from tether.connections.key_rotation import KeyRotationService
from tether.crypto import Keyring, Sealer, new_key_entry
from tether.crypto.purposes import ACCESS_TOKEN_PURPOSE, OAUTH_STATE_PURPOSE
from tether.delivery.settings import NotifySettingsService
from tether.domain.clock import FixedClock
from tether.domain.errors import InvalidRequest
from tether.domain.ids import RandomIds
from tether.domain.models import Connection, OAuthState, Principal, TenantSettings
from tether.http.guard import EgressGuard
from tether.ports import (
    ConnectionStore,
    OAuthStateRepository,
    SecretStore,
    TenantSettingsRepository,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _state(state_hash: str, **extra: object) -> OAuthState:
    fields: dict[str, object] = {
        "state_hash": state_hash,
        "tenant_id": "t1",
        "user_id": "u1",
        "provider": "demo",
        "redirect_uri": "https://tether.example/oauth_callback/",
        "created_at": T0,
        "expires_at": T0 + timedelta(minutes=10),
        "data": {"sealed": "tg1.k1.before", "return_to": "https://app.example/"},
    }
    fields.update(extra)
    return OAuthState.model_validate(fields)


def _resealed(state: OAuthState) -> OAuthState:
    return state.model_copy(update={"data": {**state.data, "sealed": "tg1.k2.after"}})


# -- scans --------------------------------------------------------------------------------------
def test_scan_tenant_settings_walks_every_tenant_in_pages(
    tenant_settings: TenantSettingsRepository,
) -> None:
    tenants = ["t1", "t2", "a/b", "t3", "..", "t5"]
    for tenant in tenants:
        tenant_settings.put_tenant_settings(
            TenantSettings(
                tenant_id=tenant, notify_url=f"https://{len(tenant)}.example", updated_at=T0
            ),
            expected_version=None,
        )
    pages = every_page(partial(tenant_settings.scan_tenant_settings, limit=2))
    assert all(len(page.items) <= 2 for page in pages)
    assert sorted(s.tenant_id for page in pages for s in page.items) == sorted(tenants)
    assert tenant_settings.scan_tenant_settings(limit=100).items[0].version == 1


def test_scan_oauth_states_includes_used_and_expired_ones(
    oauth_states: OAuthStateRepository,
) -> None:
    hashes = [f"h{i:02d}" for i in range(5)]
    for state_hash in hashes:
        oauth_states.create_oauth_state(_state(state_hash, expires_at=T0 + timedelta(seconds=1)))
    oauth_states.consume_oauth_state("h01", now=T0)
    seen, _ = walk(partial(oauth_states.scan_oauth_states, limit=2))
    assert sorted(s.state_hash for s in seen) == hashes
    assert [s.state_hash for s in seen if s.used_at is not None] == ["h01"]


def test_scans_need_a_positive_limit(
    tenant_settings: TenantSettingsRepository, oauth_states: OAuthStateRepository
) -> None:
    with pytest.raises(InvalidRequest):
        tenant_settings.scan_tenant_settings(limit=0)
    with pytest.raises(InvalidRequest):
        oauth_states.scan_oauth_states(limit=0)


# -- replacing a pending state ------------------------------------------------------------------
def test_replace_oauth_state_swaps_a_pending_state(oauth_states: OAuthStateRepository) -> None:
    original = _state("h1")
    oauth_states.create_oauth_state(original)
    assert oauth_states.replace_oauth_state(_resealed(original), expected=original)
    consumed = oauth_states.consume_oauth_state("h1", now=T0)
    assert consumed == _resealed(original)


def test_replace_oauth_state_refuses_a_used_changed_or_missing_state(
    oauth_states: OAuthStateRepository,
) -> None:
    used = _state("used")
    oauth_states.create_oauth_state(used)
    oauth_states.consume_oauth_state("used", now=T0)
    assert not oauth_states.replace_oauth_state(_resealed(used), expected=used)
    after = oauth_states.consume_oauth_state("used", now=T0)
    assert after is not None and after.used_at == T0 and after.data == used.data

    changed = _state("changed")
    oauth_states.create_oauth_state(changed)
    stale = changed.model_copy(update={"data": {"sealed": "tg1.k0.older"}})
    assert not oauth_states.replace_oauth_state(_resealed(changed), expected=stale)

    assert not oauth_states.replace_oauth_state(
        _resealed(_state("missing")), expected=_state("missing")
    )
    with pytest.raises(ValueError, match="same hash"):
        oauth_states.replace_oauth_state(_state("other"), expected=changed)


def _consume_after(
    oauth_states: OAuthStateRepository,
    state_hash: str,
    barrier: threading.Barrier,
    out: list[OAuthState | None],
) -> None:
    barrier.wait()
    out.append(oauth_states.consume_oauth_state(state_hash, now=T0))


def test_replace_racing_a_consume_never_undoes_it(oauth_states: OAuthStateRepository) -> None:
    for n in range(5):
        original = _state(f"race{n}")
        oauth_states.create_oauth_state(original)
        barrier = threading.Barrier(2)
        consumed: list[OAuthState | None] = []
        thread = threading.Thread(
            target=_consume_after, args=(oauth_states, original.state_hash, barrier, consumed)
        )
        thread.start()
        barrier.wait()
        oauth_states.replace_oauth_state(_resealed(original), expected=original)
        thread.join()
        assert consumed[0] is not None and consumed[0].used_at is None
        assert consumed[0].data["sealed"] in {"tg1.k1.before", "tg1.k2.after"}
        replay = oauth_states.consume_oauth_state(original.state_hash, now=T0)
        assert replay is not None and replay.used_at == T0  # still single use


# -- rotation over every backend ----------------------------------------------------------------
@pytest.fixture(params=["db", "secret_manager"])
def secrets_and_sealer(request: pytest.FixtureRequest) -> Iterator[tuple[SecretStore, Sealer]]:
    sealer = Sealer(Keyring.generate("kold"))
    if request.param == "db":
        yield DbSecretStore(sealer, retired=MemoryRetiredVersions()), sealer
    else:
        from tether.adapters.secret_manager import SecretManagerSecretStore
        from tether.adapters.secret_manager.client import secret_manager_client

        client = secret_manager_client(request.getfixturevalue("secret_manager_emulator"))
        project = f"rotate-{uuid.uuid4().hex[:8]}"
        yield SecretManagerSecretStore(client, project=project, cache_seconds=0), sealer
        client.transport.close()


def test_rotation_reseals_what_the_store_holds_on_every_backend(
    store: ConnectionStore, secrets_and_sealer: tuple[SecretStore, Sealer]
) -> None:
    secrets, sealer = secrets_and_sealer
    ref = secrets.put(
        tenant_id="t1", connection_id="conn_1", provider="demo", payload={"refresh_token": "r1"}
    )
    store.create_connection(
        Connection(
            id="conn_1",
            tenant_id="t1",
            provider="demo",
            auth_mode="oauth2",
            display_name="demo",
            credential_ref=ref,
            sealed_access_token=sealer.seal(
                b"at1", tenant_id="t1", record_id="conn_1", purpose=ACCESS_TOKEN_PURPOSE
            ),
            created_at=T0,
            updated_at=T0,
            created_by="u1",
        )
    )
    notify = NotifySettingsService(
        store=store,
        sealer=sealer,
        clock=FixedClock(T0),
        ids=RandomIds(),
        guard=EgressGuard.from_text(None),
    )
    signing = notify.rotate_secret(Principal(tenant_id="t1", user_id="u1"))
    verifier = {"verifier": "v" * 43, "credentials": {}}
    store.create_oauth_state(
        _state(
            "pending",
            data={
                "sealed": sealer.seal_json(
                    verifier, tenant_id="t1", record_id="pending", purpose=OAUTH_STATE_PURPOSE
                )
            },
        )
    )

    ring = sealer.keyring.with_key(*new_key_entry("knew"))
    report = KeyRotationService(
        store=store, sealer=Sealer(ring), clock=FixedClock(T0), ids=RandomIds()
    ).rotate()
    assert report.failures == []
    payloads = report.kinds["credential_payloads"]
    in_store = isinstance(secrets, DbSecretStore)
    assert (payloads.resealed, payloads.skipped) == ((1, 0) if in_store else (0, 1))
    assert report.kinds["access_tokens"].resealed == 1
    assert report.kinds["notify_secrets"].resealed == 1
    assert report.kinds["oauth_states"].resealed == 1

    only_new = Sealer(ring.without_key("kold"))
    record = store.get_connection("t1", "conn_1")
    assert record is not None and record.credential_ref is not None
    reader: SecretStore = (
        DbSecretStore(only_new, retired=MemoryRetiredVersions()) if in_store else secrets
    )
    assert reader.get(tenant_id="t1", connection_id="conn_1", ref=record.credential_ref) == {
        "refresh_token": "r1"
    }
    assert record.sealed_access_token is not None
    assert (
        only_new.open(
            record.sealed_access_token,
            tenant_id="t1",
            record_id="conn_1",
            purpose=ACCESS_TOKEN_PURPOSE,
        )
        == b"at1"
    )
    notify_now = NotifySettingsService(
        store=store,
        sealer=only_new,
        clock=FixedClock(T0),
        ids=RandomIds(),
        guard=EgressGuard.from_text(None),
    )
    assert notify_now.signing_secrets("t1") == [signing]
    state = store.consume_oauth_state("pending", now=T0)
    assert state is not None and state.used_at is None
    assert (
        only_new.open_json(
            state.data["sealed"], tenant_id="t1", record_id="pending", purpose=OAUTH_STATE_PURPOSE
        )
        == verifier
    )
