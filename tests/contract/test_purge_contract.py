"""The ExpiredRecordPurge contract: every backend passes all of it. The purge crosses every
other port of its backend, so these tests use them all over one backend."""

from __future__ import annotations

from datetime import timedelta

from tests.contract.records import (
    DAY,
    T0,
    _delivery,
    _drain,
    _entry,
    _event,
    _state,
)
from tether.domain.models import (
    DeliveryStatus,
)
from tether.domain.retention import Retention
from tether.ports import (
    AuditLog,
    DeliveryRepository,
    ExpiredRecordPurge,
    LeaseStore,
    OAuthStateRepository,
    RateBuckets,
    WebhookEventRepository,
)


def test_purge_expired_removes_only_expired(
    oauth_states: OAuthStateRepository,
    webhook_events: WebhookEventRepository,
    purge: ExpiredRecordPurge,
) -> None:
    oauth_states.create_oauth_state(_state("old", expires_in=10))
    oauth_states.create_oauth_state(_state("new", expires_in=1000))
    webhook_events.create_webhook_event(_event("old", expires_in=10))
    webhook_events.create_webhook_event(_event("new", expires_in=1000))
    removed = purge.purge_expired(now=T0 + timedelta(seconds=60))
    assert removed == 2
    assert oauth_states.consume_oauth_state("old", now=T0) is None
    assert oauth_states.consume_oauth_state("new", now=T0) is not None
    assert webhook_events.get_webhook_event("stripe", "old") is None
    assert webhook_events.get_webhook_event("stripe", "new") is not None


def test_housekeeping_purges_what_outlived_its_retention_and_keeps_the_rest(
    oauth_states: OAuthStateRepository,
    webhook_events: WebhookEventRepository,
    leases: LeaseStore,
    deliveries: DeliveryRepository,
    audit_log: AuditLog,
    purge: ExpiredRecordPurge,
) -> None:
    """Default :class:`Retention`: deliveries 30 days, audit entries 365 days; states, events
    and leases by their own expiry. ``now`` is T0; "old" is just past, "fresh" just short."""
    retention = Retention()
    # OAuth states: a used one and an unused one past their expiry, a live one
    oauth_states.create_oauth_state(_state("used", expires_in=-60))
    oauth_states.consume_oauth_state("used", now=T0 - timedelta(seconds=90))
    oauth_states.create_oauth_state(_state("unused", expires_in=-1))
    oauth_states.create_oauth_state(_state("live", expires_in=600))
    # webhook events: expired yesterday, expiring tomorrow
    webhook_events.create_webhook_event(_event("old", expires_in=-86_400))
    webhook_events.create_webhook_event(_event("fresh", expires_in=86_400))
    # leases
    leases.acquire_lease("old", "a", ttl_seconds=10, now=T0 - timedelta(seconds=60))
    leases.acquire_lease("held", "a", ttl_seconds=600, now=T0)
    # deliveries, by creation, of two tenants
    old_at = -int((retention.deliveries + timedelta(minutes=1)) / timedelta(minutes=1))
    fresh_at = -int((retention.deliveries - timedelta(minutes=1)) / timedelta(minutes=1))
    deliveries.record_delivery(
        _delivery("dlv_old", minutes=old_at, status=DeliveryStatus.DELIVERED)
    )
    deliveries.record_delivery(
        _delivery("dlv_old2", "t2", minutes=old_at, status=DeliveryStatus.DEAD)
    )
    deliveries.record_delivery(_delivery("dlv_fresh", minutes=fresh_at))
    # audit entries, by time, of two tenants
    for event_id, tenant, age in (
        ("aud_old", "t1", retention.audit + DAY),
        ("aud_old2", "t2", retention.audit + DAY),
        ("aud_fresh", "t1", retention.audit - DAY),
    ):
        audit_log.append_audit(_entry(event_id, tenant).model_copy(update={"at": T0 - age}))

    assert purge.purge_expired(now=T0) == 8

    assert oauth_states.consume_oauth_state("used", now=T0) is None
    assert oauth_states.consume_oauth_state("unused", now=T0) is None
    assert oauth_states.consume_oauth_state("live", now=T0) is not None
    assert webhook_events.get_webhook_event("stripe", "old") is None
    assert webhook_events.get_webhook_event("stripe", "fresh") is not None
    assert leases.acquire_lease("old", "b", ttl_seconds=10, now=T0) is not None
    assert leases.acquire_lease("held", "b", ttl_seconds=10, now=T0) is None
    assert [d.id for d in deliveries.list_deliveries("t1")] == ["dlv_fresh"]
    assert deliveries.list_deliveries("t2") == []
    assert [e.id for e in audit_log.list_audit("t1")] == ["aud_fresh"]
    assert audit_log.list_audit("t2") == []
    # idempotent: a second run in a row finds nothing more
    leases.release_lease("old", "b")
    assert purge.purge_expired(now=T0) == 0


def test_an_idle_rate_bucket_may_be_purged_once_full_again(
    purge: ExpiredRecordPurge, rate_buckets: RateBuckets
) -> None:
    """A bucket drained at T0 refills one token a second up to 3: full again at T0 + 3 s.
    Purging before that changes nothing; after it, the bucket grants a full burst again."""
    assert _drain(rate_buckets, "rk_idle", per_minute=60, burst=3, now=T0) == 3
    second = T0 + timedelta(seconds=1)
    purge.purge_expired(now=second)
    assert _drain(rate_buckets, "rk_idle", per_minute=60, burst=3, now=second) == 1, (
        "kept: one refilled"
    )
    later = T0 + timedelta(seconds=30)
    purge.purge_expired(now=later)
    assert _drain(rate_buckets, "rk_idle", per_minute=60, burst=3, now=later) == 3


def test_a_lease_taken_again_after_its_expiry_is_kept(
    leases: LeaseStore, purge: ExpiredRecordPurge
) -> None:
    assert leases.acquire_lease("refresh:again", "a", ttl_seconds=10, now=T0) is not None
    later = T0 + timedelta(seconds=30)
    assert leases.acquire_lease("refresh:again", "b", ttl_seconds=600, now=later) is not None
    assert purge.purge_expired(now=later) == 0
    assert leases.acquire_lease("refresh:again", "c", ttl_seconds=10, now=later) is None
