"""Refresh timing: the margin capped at half the lifetime, keep-alive, and schedule hops."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tether.catalog import load_catalog
from tether.catalog.schema import OAuth2Auth
from tether.domain.models import Connection
from tether.oauth.refresh_policy import (
    MAX_SCHEDULE_AHEAD,
    RefreshPolicy,
    catalog_refresh_policies,
    effective_margin,
    is_due,
    refresh_due_at,
    refresh_task_name,
    schedule_refresh_at,
)

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def test_the_margin_applies_to_a_long_lived_token():
    policy = RefreshPolicy(margin_seconds=300)
    expires = T0 + timedelta(hours=1)
    assert effective_margin(policy, issued_at=T0, expires_at=expires) == timedelta(seconds=300)
    assert refresh_due_at(policy, issued_at=T0, expires_at=expires) == expires - timedelta(
        seconds=300
    )


def test_the_margin_is_capped_at_half_the_lifetime():
    policy = RefreshPolicy(margin_seconds=300)
    expires = T0 + timedelta(seconds=60)
    assert effective_margin(policy, issued_at=T0, expires_at=expires) == timedelta(seconds=30)
    assert not is_due(policy, issued_at=T0, expires_at=expires, now=T0 + timedelta(seconds=29))
    assert is_due(policy, issued_at=T0, expires_at=expires, now=T0 + timedelta(seconds=30))


def test_without_an_issue_time_the_default_lifetime_is_assumed():
    policy = RefreshPolicy(margin_seconds=300, default_lifetime_seconds=120)
    expires = T0 + timedelta(hours=1)
    assert effective_margin(policy, issued_at=None, expires_at=expires) == timedelta(seconds=60)


def test_a_token_issued_after_its_expiry_gets_no_margin():
    policy = RefreshPolicy(margin_seconds=300)
    assert effective_margin(policy, issued_at=T0, expires_at=T0 - timedelta(1)) == timedelta(0)


def test_no_expiry_is_always_due():
    assert is_due(RefreshPolicy(), issued_at=None, expires_at=None, now=T0)


def test_keep_alive_refreshes_before_a_long_token_expires():
    policy = RefreshPolicy(margin_seconds=300, keep_alive_days=30)
    expires = T0 + timedelta(days=60)
    assert refresh_due_at(policy, issued_at=T0, expires_at=expires) == T0 + timedelta(days=15)


def test_keep_alive_changes_nothing_for_a_short_token():
    policy = RefreshPolicy(margin_seconds=300, keep_alive_days=30)
    expires = T0 + timedelta(hours=1)
    assert refresh_due_at(policy, issued_at=T0, expires_at=expires) == expires - timedelta(
        seconds=300
    )


def test_a_past_due_time_is_scheduled_now():
    slot = schedule_refresh_at(T0 - timedelta(minutes=5), now=T0)
    assert slot.run_at == T0 and slot.hop == 0


def test_a_due_time_within_the_horizon_is_scheduled_as_is():
    due = T0 + MAX_SCHEDULE_AHEAD
    slot = schedule_refresh_at(due, now=T0)
    assert slot.run_at == due and slot.hop == 0


@pytest.mark.parametrize("days", [30, 58, 59, 200, 365])
def test_a_far_due_time_is_reached_in_hops_on_a_fixed_grid(days: int):
    due = T0 + timedelta(days=days)
    slot = schedule_refresh_at(due, now=T0)
    assert slot.hop >= 1
    assert T0 < slot.run_at <= T0 + MAX_SCHEDULE_AHEAD
    assert slot.run_at == due - slot.hop * MAX_SCHEDULE_AHEAD
    # Waking at the hop leads, hop by hop, to the due time itself.
    later = schedule_refresh_at(due, now=slot.run_at)
    assert later.hop == slot.hop - 1
    assert later.run_at == due - later.hop * MAX_SCHEDULE_AHEAD


def test_task_names_are_derived_from_the_due_time_to_the_microsecond():
    due = T0 + timedelta(hours=1)
    micros = int(due.timestamp()) * 1_000_000
    assert refresh_task_name("conn_1", due) == f"refresh-conn_1-{micros}"
    assert refresh_task_name("conn_1", due, 2) == f"refresh-conn_1-{micros}-hop2"
    # Two token writes within one second get two names (whole seconds used to collide).
    later = due + timedelta(milliseconds=500)
    assert refresh_task_name("conn_1", later) == f"refresh-conn_1-{micros + 500_000}"


def test_policy_values_are_checked():
    with pytest.raises(ValueError, match="margin"):
        RefreshPolicy(margin_seconds=-1)
    with pytest.raises(ValueError, match="lifetime"):
        RefreshPolicy(default_lifetime_seconds=0)
    with pytest.raises(ValueError, match="keep_alive"):
        RefreshPolicy(keep_alive_days=0)


def _connection(provider: str) -> Connection:
    return Connection(
        id="conn_1",
        tenant_id="t1",
        provider=provider,
        auth_mode="oauth2",
        display_name="x",
        created_at=T0,
        updated_at=T0,
        created_by="u1",
    )


def test_catalog_policies_take_the_entry_and_fall_back_to_the_default_margin():
    catalog = load_catalog()
    policy_for = catalog_refresh_policies(lambda: catalog, default_margin_seconds=123)
    entries = [p for p in catalog if isinstance(p.auth, OAuth2Auth)]
    with_margin = next(p for p in entries if p.auth.refresh_margin_seconds is not None)  # type: ignore[union-attr]
    without = next(
        p
        for p in entries
        if p.auth.refresh_margin_seconds is None and p.auth.keep_alive_days  # type: ignore[union-attr]
    )
    auth = with_margin.auth
    assert isinstance(auth, OAuth2Auth)
    assert policy_for(_connection(with_margin.key)) == RefreshPolicy(
        margin_seconds=auth.refresh_margin_seconds or 0,
        default_lifetime_seconds=auth.default_token_lifetime_seconds,
        keep_alive_days=auth.keep_alive_days,
    )
    plain = policy_for(_connection(without.key))
    assert plain.margin_seconds == 123
    assert plain.keep_alive_days == without.auth.keep_alive_days  # type: ignore[union-attr]
    not_oauth = next(p for p in catalog if not isinstance(p.auth, OAuth2Auth))
    assert policy_for(_connection(not_oauth.key)) == RefreshPolicy(margin_seconds=123)
