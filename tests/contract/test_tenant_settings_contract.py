"""The TenantSettingsRepository contract: every backend passes all of it."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

import pytest

from tests.contract.records import (
    T0,
    _entry,
    _settings,
)
from tests.support.concurrency import together
from tether.domain.errors import Conflict, VersionConflict
from tether.domain.models import (
    NotifySecret,
    TenantSettings,
)
from tether.ports import (
    AuditLog,
    TenantSettingsRepository,
)


def test_tenant_settings_commit_their_audit_entries_with_them(
    tenant_settings: TenantSettingsRepository, audit_log: AuditLog
) -> None:
    settings = TenantSettings(tenant_id="t1", notify_url="https://a.example/hook", updated_at=T0)
    first = tenant_settings.put_tenant_settings(
        settings, expected_version=None, audit=[_entry("aud_s1", connection_id=None)]
    )
    audit_log.append_audit(_entry("aud_taken", connection_id=None))
    changed = first.model_copy(update={"notify_url": "https://b.example/hook"})
    with pytest.raises(Conflict):
        tenant_settings.put_tenant_settings(
            changed, expected_version=1, audit=[_entry("aud_taken", connection_id=None)]
        )
    assert tenant_settings.get_tenant_settings("t1") == first
    with pytest.raises(VersionConflict):
        tenant_settings.put_tenant_settings(
            changed, expected_version=5, audit=[_entry("aud_lost", connection_id=None)]
        )
    tenant_settings.put_tenant_settings(
        changed, expected_version=1, audit=[_entry("aud_s2", connection_id=None)]
    )
    stored = tenant_settings.get_tenant_settings("t1")
    assert stored is not None and stored.notify_url == "https://b.example/hook"
    assert {e.id for e in audit_log.list_audit("t1")} == {"aud_s1", "aud_taken", "aud_s2"}


def test_tenant_settings_round_trip_every_field(tenant_settings: TenantSettingsRepository) -> None:
    assert tenant_settings.get_tenant_settings("t1") is None
    original = _settings(
        notify_url="https://hooks.example.com/tether?x=1",
        notify_secrets=[
            NotifySecret(id="whs_new", sealed="tg1.k1.nonce.body", created_at=T0),
            NotifySecret(
                id="whs_old",
                sealed="tg1.k1.nonce2.body2",
                created_at=T0 - timedelta(days=3),
                expires_at=T0 + timedelta(hours=24),
            ),
        ],
        updated_at=T0 + timedelta(microseconds=7),
    )
    stored = tenant_settings.put_tenant_settings(original, expected_version=None)
    assert stored.version == 1
    assert (
        tenant_settings.get_tenant_settings("t1")
        == stored
        == original.model_copy(update={"version": 1})
    )
    assert "tg1.k1" not in repr(stored)  # sealed secrets stay out of reprs


def test_tenant_settings_are_compare_and_set(tenant_settings: TenantSettingsRepository) -> None:
    with pytest.raises(VersionConflict):  # nothing to update yet
        tenant_settings.put_tenant_settings(_settings(), expected_version=1)
    first = tenant_settings.put_tenant_settings(
        _settings(notify_url="https://a.example"), expected_version=None
    )
    with pytest.raises(VersionConflict):  # a second create: it exists
        tenant_settings.put_tenant_settings(
            _settings(notify_url="https://b.example"), expected_version=None
        )
    second = tenant_settings.put_tenant_settings(
        first.model_copy(update={"notify_url": "https://c.example"}), expected_version=1
    )
    assert second.version == 2
    with pytest.raises(VersionConflict):  # stale
        tenant_settings.put_tenant_settings(
            first.model_copy(update={"notify_url": "https://d.example"}), expected_version=1
        )
    again = tenant_settings.get_tenant_settings("t1")
    assert again is not None and again.notify_url == "https://c.example" and again.version == 2


def test_tenant_settings_are_per_tenant(tenant_settings: TenantSettingsRepository) -> None:
    tenant_settings.put_tenant_settings(
        _settings("t1", notify_url="https://one.example"), expected_version=None
    )
    assert tenant_settings.get_tenant_settings("t2") is None
    with pytest.raises(VersionConflict):
        tenant_settings.put_tenant_settings(_settings("t2"), expected_version=1)
    tenant_settings.put_tenant_settings(
        _settings("t2", notify_url="https://two.example"), expected_version=None
    )
    one, two = tenant_settings.get_tenant_settings("t1"), tenant_settings.get_tenant_settings("t2")
    assert one is not None and one.notify_url == "https://one.example"
    assert two is not None and two.notify_url == "https://two.example"
    # tenant ids Firestore cannot use as document ids are kept apart too
    tenant_settings.put_tenant_settings(
        _settings("a/b", notify_url="https://ab.example"), expected_version=None
    )
    ab = tenant_settings.get_tenant_settings("a/b")
    assert ab is not None and ab.notify_url == "https://ab.example"


@pytest.mark.parametrize("expected", [None, 1])
def test_tenant_settings_concurrent_writes_have_one_winner(
    tenant_settings: TenantSettingsRepository, expected: int | None
) -> None:
    if expected is not None:
        tenant_settings.put_tenant_settings(_settings(), expected_version=None)

    def attempt(name: str) -> bool:
        try:
            tenant_settings.put_tenant_settings(
                _settings(notify_url=f"https://{name}.example"), expected_version=expected
            )
        except VersionConflict:
            return False
        return True

    names = [f"w{i}" for i in range(8)]
    won = [f.result() for f in together([partial(attempt, name) for name in names])]
    wins = [name for name, ok in zip(names, won, strict=True) if ok]
    losses = [name for name, ok in zip(names, won, strict=True) if not ok]
    assert len(wins) == 1 and len(losses) == 7
    final = tenant_settings.get_tenant_settings("t1")
    assert final is not None and final.notify_url == f"https://{wins[0]}.example"
    assert final.version == (1 if expected is None else 2)
