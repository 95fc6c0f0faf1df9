"""Tenant notify settings: the URL rules, secret rotation with overlap, secrets sealed at rest
and never shown twice. Real SQLite store, real sealer, a guard with a fixed resolver."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.concurrency import together
from tether.adapters.sqlite import SqliteConnectionStore
from tether.crypto import Keyring, Sealer
from tether.delivery.settings import (
    MAX_NOTIFY_SECRETS,
    NOTIFY_SECRET_PURPOSE,
    NotifySettingsService,
)
from tether.domain.clock import FixedClock
from tether.domain.errors import InvalidRequest
from tether.domain.ids import RandomIds
from tether.domain.models import Principal
from tether.http.guard import EgressGuard

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ALICE = Principal(tenant_id="t-alice", user_id="u1")
BOB = Principal(tenant_id="t-bob", user_id="u2")

_DNS = {
    "hooks.example.com": ["93.184.215.34"],
    "localhost": ["127.0.0.1"],
    "receiver.local": ["10.9.9.9"],  # private, but allowlisted with its port
    "internal.example.com": ["10.0.0.8"],
    "mixed.example.com": ["93.184.215.34", "192.168.1.4"],
    "rebind.example.com": ["::ffff:169.254.169.254"],
}


def _resolve(host: str, port: int) -> list[str]:
    return list(_DNS.get(host, []))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteConnectionStore]:
    backend = SqliteConnectionStore(tmp_path / "store.sqlite3")
    yield backend
    backend.close()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def sealer() -> Sealer:
    return Sealer(Keyring.generate("knotify"))


@pytest.fixture
def service(
    store: SqliteConnectionStore, sealer: Sealer, clock: FixedClock
) -> NotifySettingsService:
    guard = EgressGuard(["127.0.0.1:8025", "receiver.local:9000"], resolver=_resolve)
    return NotifySettingsService(store, sealer, clock, RandomIds(), guard)


# -- the notify URL ----------------------------------------------------------------------------
def test_a_fresh_tenant_has_nothing(service: NotifySettingsService) -> None:
    view = service.get(ALICE)
    assert view.notify_url is None and view.secrets == () and view.version is None
    assert view.as_dict() == {
        "notify_url": None,
        "secrets": [],
        "version": None,
        "updated_at": None,
    }


def test_https_url_is_set_cleared_and_tenant_scoped(
    service: NotifySettingsService, store: SqliteConnectionStore
) -> None:
    view = service.set_notify_url(ALICE, "https://hooks.example.com/tether?src=1")
    assert view.notify_url == "https://hooks.example.com/tether?src=1" and view.version == 1
    assert service.get(BOB).notify_url is None
    assert service.notify_url(ALICE.tenant_id) == "https://hooks.example.com/tether?src=1"
    cleared = service.set_notify_url(ALICE, None)
    assert cleared.notify_url is None and cleared.version == 2
    actions = [e.action for e in store.list_audit(ALICE.tenant_id)]
    assert actions == ["notify.url_updated", "notify.url_updated"]


@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.5/hook",
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://metadata.google.internal/computeMetadata/v1",
        "https://internal.example.com/hook",
        "https://mixed.example.com/hook",  # one private address is enough
        "https://rebind.example.com/hook",
        "https://[::1]/hook",
        "https://2130706433/hook",  # 127.0.0.1 spelled as a number
        "http://127.0.0.1:8026/hook",  # loopback, but not the allowlisted port
    ],
)
def test_private_and_internal_targets_are_blocked(service: NotifySettingsService, url: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        service.set_notify_url(ALICE, url)
    assert refused.value.code == "BLOCKED_DESTINATION"
    assert refused.value.http_status == 400
    assert "TETHER_EGRESS_ALLOWLIST" in refused.value.message  # says what to do locally
    assert service.get(ALICE).notify_url is None


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/hook",  # plain http to a public host: refused
        "ftp://hooks.example.com/hook",
        "hooks.example.com/hook",
        "https://user:pw@hooks.example.com/hook",
        "https://hooks.example.com/hook#frag",
        "https://hooks.example.com/a b",
        "https://" + "a" * 2100 + ".example.com/",
        "",
    ],
)
def test_malformed_or_plain_http_urls_are_refused(service: NotifySettingsService, url: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        service.set_notify_url(ALICE, url)
    assert refused.value.code in {"INVALID_NOTIFY_URL", "BLOCKED_DESTINATION"}
    assert refused.value.http_status == 400


def test_plain_http_only_to_an_allowlisted_host_and_port(service: NotifySettingsService) -> None:
    assert service.set_notify_url(ALICE, "http://127.0.0.1:8025/hook").notify_url
    assert service.set_notify_url(ALICE, "http://receiver.local:9000/hook").notify_url
    with pytest.raises(InvalidRequest) as refused:
        service.set_notify_url(ALICE, "http://hooks.example.com/hook")
    assert refused.value.code == "INVALID_NOTIFY_URL"


def test_an_unresolvable_host_is_refused(service: NotifySettingsService) -> None:
    with pytest.raises(InvalidRequest) as refused:
        service.set_notify_url(ALICE, "https://nowhere.example.com/hook")
    assert refused.value.code == "NOTIFY_URL_UNRESOLVABLE"


# -- secrets -----------------------------------------------------------------------------------
def _decoded(secret: str) -> bytes:
    assert secret.startswith("whsec_")
    return base64.b64decode(secret.removeprefix("whsec_"), validate=True)


def test_rotate_returns_a_fresh_secret_once_and_keeps_it_sealed(
    service: NotifySettingsService,
    store: SqliteConnectionStore,
    sealer: Sealer,
    tmp_path: Path,
) -> None:
    secret = service.rotate_secret(ALICE)
    assert len(_decoded(secret)) >= 24
    view = service.get(ALICE)
    assert len(view.secrets) == 1 and view.secrets[0].current
    assert secret not in repr(view) and secret not in str(view.as_dict())
    stored = store.get_tenant_settings(ALICE.tenant_id)
    assert stored is not None
    assert secret not in stored.model_dump_json() and secret not in repr(stored)
    sealed = stored.notify_secrets[0]
    assert sealed.id == view.secrets[0].id
    opened = sealer.open(
        sealed.sealed, tenant_id=ALICE.tenant_id, record_id=sealed.id, purpose=NOTIFY_SECRET_PURPOSE
    )
    assert opened.decode() == secret
    store.close()
    for file in tmp_path.glob("store.sqlite3*"):
        assert secret.encode() not in file.read_bytes()
        assert secret.removeprefix("whsec_").encode() not in file.read_bytes()


def test_signing_secrets_are_the_current_one_then_those_in_overlap(
    service: NotifySettingsService, clock: FixedClock
) -> None:
    first = service.rotate_secret(ALICE)
    clock.advance(60)
    second = service.rotate_secret(ALICE, overlap_hours=24)
    assert second != first
    assert service.signing_secrets(ALICE.tenant_id) == [second, first]
    view = service.get(ALICE)
    assert [s.current for s in view.secrets] == [True, False]
    assert view.secrets[1].expires_at == clock.now() + timedelta(hours=24)

    clock.advance(23 * 3600)
    third = service.rotate_secret(ALICE, overlap_hours=48)
    # the first keeps its earlier expiry: a rotation never extends an overlap
    assert service.signing_secrets(ALICE.tenant_id) == [third, second, first]
    expiries = [s.expires_at for s in service.get(ALICE).secrets]
    assert expiries == [
        None,
        clock.now() + timedelta(hours=48),
        T0 + timedelta(seconds=60, hours=24),
    ]

    clock.advance(3600)  # the first one's overlap is over
    assert service.signing_secrets(ALICE.tenant_id) == [third, second]
    clock.advance(48 * 3600)
    assert service.signing_secrets(ALICE.tenant_id) == [third]
    fourth = service.rotate_secret(ALICE)
    stored = service.get(ALICE).secrets
    assert [s.current for s in stored] == [True, False]  # expired ones are dropped
    assert service.signing_secrets(ALICE.tenant_id) == [fourth, third]


def test_rotation_without_overlap_retires_the_old_secret_at_once(
    service: NotifySettingsService,
) -> None:
    service.rotate_secret(ALICE)
    fresh = service.rotate_secret(ALICE, overlap_hours=0)
    assert service.signing_secrets(ALICE.tenant_id) == [fresh]
    assert len(service.get(ALICE).secrets) == 1


@pytest.mark.parametrize("overlap", [-1, 24 * 30 + 1, True, 1.5])
def test_overlap_is_bounded(service: NotifySettingsService, overlap: object) -> None:
    with pytest.raises(InvalidRequest) as refused:
        service.rotate_secret(ALICE, overlap_hours=overlap)  # type: ignore[arg-type]
    assert refused.value.code == "INVALID_OVERLAP"


def test_many_rotations_keep_a_bounded_number_of_secrets(service: NotifySettingsService) -> None:
    made = [service.rotate_secret(ALICE) for _ in range(MAX_NOTIFY_SECRETS + 3)]
    signing = service.signing_secrets(ALICE.tenant_id)
    assert signing == list(reversed(made))[:MAX_NOTIFY_SECRETS]


def test_first_signing_secret_is_created_once_even_under_a_race(
    service: NotifySettingsService,
) -> None:
    service.set_notify_url(ALICE, "https://hooks.example.com/x")

    def sign() -> list[str]:
        return service.signing_secrets(ALICE.tenant_id)

    results = [f.result() for f in together([sign] * 6)]
    assert len(results) == 6 and all(r == results[0] for r in results)
    assert len(results[0]) == 1
    view = service.get(ALICE)
    assert len(view.secrets) == 1 and view.notify_url == "https://hooks.example.com/x"
    assert service.get(BOB).secrets == ()


def test_secrets_are_bound_to_their_tenant(
    service: NotifySettingsService, store: SqliteConnectionStore
) -> None:
    service.rotate_secret(ALICE)
    alice = store.get_tenant_settings(ALICE.tenant_id)
    assert alice is not None
    # Alice's sealed secret copied into Bob's record does not open for Bob
    store.put_tenant_settings(
        alice.model_copy(update={"tenant_id": BOB.tenant_id}), expected_version=None
    )
    from tether.domain.errors import CryptoError

    with pytest.raises(CryptoError):
        service.signing_secrets(BOB.tenant_id)


def test_secret_never_reaches_logs_views_or_audit(
    service: NotifySettingsService,
    store: SqliteConnectionStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    service.set_notify_url(ALICE, "https://hooks.example.com/x")
    secret = service.rotate_secret(ALICE, overlap_hours=2)
    signing = service.signing_secrets(BOB.tenant_id)  # created on first use
    everything = [secret, *signing]
    texts = [caplog.text, str(service.get(ALICE).as_dict()), str(service.get(BOB).as_dict())]
    texts += [e.model_dump_json() for e in store.list_audit(ALICE.tenant_id)]
    texts += [r.getMessage() for r in caplog.records]
    for value in everything:
        body = value.removeprefix("whsec_")
        assert all(body not in text for text in texts)
    rotated = store.list_audit(ALICE.tenant_id)[0]
    assert rotated.action == "notify.secret_rotated"
    assert rotated.detail == {"secret_id": service.get(ALICE).secrets[0].id, "overlap_hours": 2}
