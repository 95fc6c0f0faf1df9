"""The token refresh on real parts against a scripted token endpoint: reads, one refresh per
connection, rotation, scheduling, the refresh task, the sweep and the crash window."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.concurrency import together
from tests.support.token_world import (
    OLD_ACCESS,
    OLD_REFRESH,
    T0,
    TENANT,
    ScriptedEndpoint,
    World,
    all_audit_text,
    make_world,
    unavailable,
)
from tether.domain.errors import BackendUnavailable, Conflict, TetherError
from tether.domain.models import AuditAction
from tether.domain.status import ConnectionStatus
from tether.oauth.model import TokenEndpointError
from tether.oauth.refresh import RefreshEndpoint
from tether.oauth.refresh_failures import ReauthRequired
from tether.oauth.refresh_policy import RefreshPolicy, refresh_task_name


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from make_world(tmp_path)


# -- reads -------------------------------------------------------------------------------------
def test_the_endpoint_fake_satisfies_the_protocol(world):
    assert isinstance(world.endpoint, RefreshEndpoint)


def test_a_valid_token_is_returned_without_a_call_or_a_write(world):
    connection = world.connection(expires_in=3600)
    assert world.refresher().access_token(connection) == OLD_ACCESS
    assert world.endpoint.calls == 0
    assert world.record().version == connection.version
    assert world.store.list_audit(TENANT) == []
    assert world.tasks.tasks == []


def test_an_expired_token_is_refreshed_once(world):
    connection = world.connection(expires_in=-10, issued_ago=3600)
    world.clock.advance(5)
    token = world.refresher().access_token(connection)
    assert token == "access-token-issued-0001"
    assert world.endpoint.calls == 1 and world.endpoint.seen == [OLD_REFRESH]
    record = world.record()
    assert record.version == connection.version + 1  # one write: tokens and bookkeeping
    assert record.token_refreshed_at == world.clock.now()
    assert record.token_expires_at == world.clock.now() + timedelta(hours=1)
    assert record.refresh_failures == 0 and record.status == ConnectionStatus.ACTIVE
    [audit] = world.audit(AuditAction.TOKEN_REFRESHED)
    assert audit.detail["rotated"] is False
    assert audit.detail["expires_at"] == record.token_expires_at.isoformat()
    assert "access-token" not in all_audit_text(world)
    assert "refresh-token" not in all_audit_text(world)
    # Reading again uses the stored token.
    assert world.refresher().access_token(record) == token
    assert world.endpoint.calls == 1


def test_a_token_inside_the_margin_is_refreshed(world):
    connection = world.connection(expires_in=200, issued_ago=3400)
    assert world.refresher().access_token(connection) == "access-token-issued-0001"


def test_the_margin_is_capped_for_a_short_lived_token(world):
    connection = world.connection(expires_in=60)  # margin 300 s, capped at 30 s
    refresher = world.refresher()
    world.clock.advance(29)
    assert refresher.access_token(connection) == OLD_ACCESS
    assert world.endpoint.calls == 0
    world.clock.advance(2)
    assert refresher.access_token(connection) == "access-token-issued-0001"
    assert world.endpoint.calls == 1


def test_twenty_threads_on_an_expired_token_make_one_call(world):
    connection = world.connection(expires_in=-1, issued_ago=3600)
    world.endpoint.delay = 0.1
    refresher = world.refresher()
    outcomes = together([lambda: refresher.access_token(connection)] * 20)
    assert [f.result() for f in outcomes] == ["access-token-issued-0001"] * 20
    assert world.endpoint.calls == 1
    assert len(world.audit(AuditAction.TOKEN_REFRESHED)) == 1


def test_two_instances_sharing_a_store_make_one_call(world):
    connection = world.connection(expires_in=-1, issued_ago=3600)
    world.endpoint.delay = 0.2
    a, b = world.refresher(owner="instance-a"), world.refresher(owner="instance-b")
    outcomes = together(
        [lambda: a.access_token(connection)] * 3 + [lambda: b.access_token(connection)] * 3
    )
    assert [f.result() for f in outcomes] == ["access-token-issued-0001"] * 6
    assert world.endpoint.calls == 1


def test_a_lease_held_elsewhere_is_waited_for_and_its_token_reused(world):
    connection = world.connection(expires_in=-1, issued_ago=3600)
    lease = f"refresh:{TENANT}:{connection.id}"
    assert world.store.acquire_lease(lease, "other", ttl_seconds=30, now=world.clock.now())
    polls: list[float] = []

    def other_instance_finishes(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 2:
            world.tokens.store_tokens(
                world.record(),
                access_token="access-token-from-other-instance",
                expires_at=world.clock.now() + timedelta(hours=1),
            )
            world.store.release_lease(lease, "other")

    token = world.refresher(sleep=other_instance_finishes).access_token(connection)
    assert token == "access-token-from-other-instance"
    assert world.endpoint.calls == 0
    assert polls[0] < polls[1]  # growing sleeps


def test_waiting_for_a_stuck_lease_is_bounded(world):
    connection = world.connection(expires_in=-1, issued_ago=3600)
    lease = f"refresh:{TENANT}:{connection.id}"
    world.store.acquire_lease(lease, "other", ttl_seconds=30, now=world.clock.now())
    with pytest.raises(BackendUnavailable) as raised:
        world.refresher(wait_seconds=0.05).access_token(connection)
    assert raised.value.code == "OAUTH_REFRESH_IN_PROGRESS" and raised.value.retryable
    assert world.endpoint.calls == 0


def test_an_expired_lease_of_a_dead_instance_is_taken_over(world):
    connection = world.connection(expires_in=-1, issued_ago=3600)
    lease = f"refresh:{TENANT}:{connection.id}"
    world.store.acquire_lease(lease, "dead", ttl_seconds=30, now=world.clock.now())
    world.clock.advance(31)
    assert world.refresher().access_token(connection) == "access-token-issued-0001"


# -- rotation ----------------------------------------------------------------------------------
def test_a_rotated_refresh_token_is_stored_before_the_lease_is_released(world):
    world.endpoint.rotate = True
    connection = world.connection(expires_in=-1, issued_ago=3600)
    at_release: list[str] = []
    world.store.on_release = lambda: at_release.append(world.refresh_token())
    token = world.refresher().access_token(connection)
    assert token == "access-token-issued-0001"
    assert at_release == ["refresh-token-rotated-0001"]
    assert world.refresh_token() == "refresh-token-rotated-0001"
    assert world.secrets.puts == 1
    [audit] = world.audit(AuditAction.TOKEN_REFRESHED)
    assert audit.detail["rotated"] is True
    # The next refresh presents the new refresh token.
    world.clock.advance(3600)
    world.refresher().access_token(world.record())
    assert world.endpoint.seen == [OLD_REFRESH, "refresh-token-rotated-0001"]


def test_a_response_without_a_refresh_token_keeps_the_stored_one(world):
    world.endpoint.omit_refresh_token = True
    connection = world.connection(expires_in=-1, issued_ago=3600)
    world.refresher().access_token(connection)
    assert world.refresh_token() == OLD_REFRESH
    assert world.record().credential_ref == connection.credential_ref
    assert world.secrets.puts == 0


def test_other_credential_fields_survive_a_rotation(world):
    world.endpoint.rotate = True
    connection = world.connection(
        expires_in=-1, payload={"refresh_token": OLD_REFRESH, "client_secret": "tenant-secret-1"}
    )
    world.refresher().access_token(connection)
    record = world.record()
    assert record.credential_ref is not None
    assert world.secrets.get(
        tenant_id=TENANT, connection_id="conn_1", ref=record.credential_ref
    ) == {
        "refresh_token": "refresh-token-rotated-0001",
        "client_secret": "tenant-secret-1",
    }


# -- scheduling --------------------------------------------------------------------------------
def test_a_refresh_schedules_the_next_one(world):
    connection = world.connection(expires_in=-1, issued_ago=3600)
    world.refresher().access_token(connection)
    due = world.clock.now() + timedelta(hours=1) - timedelta(seconds=300)
    [task] = world.tasks.of("refresh")
    assert task.name == refresh_task_name(connection.id, due)
    assert task.run_at == due
    assert task.payload == {
        "tenant_id": TENANT,
        "connection_id": connection.id,
        "name": task.name,
    }


def test_the_schedule_honours_keep_alive_for_long_tokens(world):
    world.policy = RefreshPolicy(margin_seconds=300, keep_alive_days=10)
    world.endpoint.lifetime = 30 * 86400
    connection = world.connection(expires_in=-1, issued_ago=3600)
    world.refresher().access_token(connection)
    [task] = world.tasks.of("refresh")
    assert task.run_at == world.clock.now() + timedelta(days=5)
    # At that time the task refreshes although the token is valid for 25 more days.
    world.clock.advance(5 * 86400)
    world.refresher().refresh_task(task.payload)
    assert world.endpoint.calls == 2


def test_a_due_time_beyond_the_queue_horizon_is_reached_in_hops(world):
    world.endpoint.lifetime = 365 * 86400
    connection = world.connection(expires_in=-1, issued_ago=3600)
    refresher = world.refresher()
    refresher.access_token(connection)
    [hop] = world.tasks.of("refresh")
    base, _, number = hop.name.rpartition("-hop")
    assert int(number) == 12  # 365 days in 29-day hops
    assert world.clock.now() < hop.run_at <= world.clock.now() + timedelta(days=29)
    # The early wake-up does not refresh; it schedules the next hop.
    world.clock.advance((hop.run_at - world.clock.now()).total_seconds())
    refresher.refresh_task(hop.payload)
    assert world.endpoint.calls == 1
    assert world.tasks.of("refresh")[-1].name == f"{base}-hop11"


def test_a_failing_queue_does_not_fail_the_refresh(world):
    connection = world.connection(expires_in=-1, issued_ago=3600)

    def down(*args: Any, **kwargs: Any) -> bool:
        raise BackendUnavailable("queue down")

    world.tasks.enqueue = down  # type: ignore[method-assign]
    assert world.refresher().access_token(connection) == "access-token-issued-0001"


# -- tasks ------------------------------------------------------------------------------------
def test_the_refresh_task_is_idempotent(world):
    connection = world.connection(expires_in=-1, issued_ago=3600)
    refresher = world.refresher()
    payload = {"tenant_id": TENANT, "connection_id": connection.id}
    refresher.refresh_task(payload)
    refresher.refresh_task(payload)
    assert world.endpoint.calls == 1
    refresher.refresh_task({**payload, "force": True})
    assert world.endpoint.calls == 2
    [first, second] = reversed(world.audit(AuditAction.TOKEN_REFRESHED))
    assert (first.detail["trigger"], second.detail["trigger"]) == ("task", "task")


def test_the_refresh_task_skips_what_it_cannot_refresh(world):
    world.connection("conn_gone", expires_in=-1)
    world.connection("conn_key", expires_in=-1, auth_mode="api_key")
    world.connection("conn_pending", expires_in=-1, status=ConnectionStatus.PENDING)
    refresher = world.refresher()
    for connection_id in ("conn_missing", "conn_key", "conn_pending"):
        refresher.refresh_task({"tenant_id": TENANT, "connection_id": connection_id})
    gone = world.record("conn_gone")
    world.store.update_connection(
        gone.model_copy(update={"deleted_at": T0, "status": ConnectionStatus.DISABLED}),
        expected_version=gone.version,
    )
    refresher.refresh_task({"tenant_id": TENANT, "connection_id": "conn_gone"})
    assert world.endpoint.calls == 0
    with pytest.raises(TetherError, match="tenant_id and connection_id"):
        refresher.refresh_task({"tenant_id": TENANT})


def test_the_refresh_task_raises_retryable_failures_and_ends_on_reauth(world):
    connection = world.connection(expires_in=-1, issued_ago=3600)
    payload = {"tenant_id": TENANT, "connection_id": connection.id}
    refresher = world.refresher()
    world.endpoint.script = [unavailable()]
    with pytest.raises(BackendUnavailable) as raised:
        refresher.refresh_task(payload)
    assert raised.value.retryable
    world.endpoint.valid.clear()
    refresher.refresh_task(payload)  # returns: permanent, recorded
    assert world.record().status == ConnectionStatus.NEEDS_REAUTH
    assert len(world.tasks.of("deliver")) == 1


def test_a_lost_needs_reauth_event_is_enqueued_by_the_task(world):
    world.endpoint.valid.clear()
    connection = world.connection(expires_in=-1, issued_ago=3600)
    calls = {"n": 0}
    real = world.tasks.enqueue

    def fail_first_deliver(kind: str, payload: Any, **kwargs: Any) -> bool:
        if kind == "deliver" and calls["n"] == 0:
            calls["n"] += 1
            raise BackendUnavailable("queue down")
        return real(kind, payload, **kwargs)

    world.tasks.enqueue = fail_first_deliver  # type: ignore[method-assign]
    world.refresher().refresh_task({"tenant_id": TENANT, "connection_id": connection.id})
    assert len(world.tasks.of("deliver")) == 1
    assert len(world.audit(AuditAction.NEEDS_REAUTH)) == 1


def test_force_refresh_calls_the_provider_for_a_fresh_token(world):
    connection = world.connection(expires_in=3600)
    stored = world.refresher().force_refresh(connection, actor="user-7")
    assert world.endpoint.calls == 1
    assert world.tokens.access_token(stored) == "access-token-issued-0001"
    [audit] = world.audit(AuditAction.TOKEN_REFRESHED)
    assert audit.actor == "user-7" and audit.detail["trigger"] == "forced"


def test_concurrent_forced_refreshes_share_one_new_token(world):
    connection = world.connection(expires_in=3600)
    world.endpoint.delay = 0.1
    refresher = world.refresher()
    outcomes = together([lambda: refresher.force_refresh(connection)] * 5)
    tokens = [world.tokens.access_token(f.result()) for f in outcomes]
    assert tokens == ["access-token-issued-0001"] * 5
    assert world.endpoint.calls == 1


def test_reads_refuse_connections_without_tokens(world):
    pending = world.connection("conn_p", status=ConnectionStatus.PENDING)
    key = world.connection("conn_k", auth_mode="api_key")
    refresher = world.refresher()
    with pytest.raises(Conflict) as raised:
        refresher.access_token(pending)
    assert raised.value.code == "CONNECTION_NOT_ACTIVE"
    with pytest.raises(TetherError) as raised_key:
        refresher.access_token(key)
    assert raised_key.value.code == "NOT_OAUTH_CONNECTION"


# -- sweep ------------------------------------------------------------------------------------
def test_the_sweep_enqueues_only_expiring_active_oauth_connections(world):
    due = world.connection("conn_due", expires_in=200, issued_ago=3400)
    world.connection("conn_later", expires_in=3600)
    world.connection("conn_reauth", expires_in=600, status=ConnectionStatus.NEEDS_REAUTH)
    world.connection("conn_error", expires_in=600, status=ConnectionStatus.ERROR)
    world.connection("conn_key", expires_in=600, auth_mode="api_key")
    deleted = world.connection("conn_deleted", expires_in=600)
    world.store.update_connection(
        deleted.model_copy(update={"deleted_at": T0, "status": ConnectionStatus.DISABLED}),
        expected_version=deleted.version,
    )
    # (A grace long enough that the overdue token's new task is not taken for a lost one.)
    refresher = world.refresher(
        sweep_window_seconds=900, sweep_page_size=2, repair_grace_seconds=600
    )
    report = refresher.schedule.sweep()
    assert (report.scanned, report.enqueued, report.skipped, report.already_scheduled) == (
        4,
        1,
        3,
        0,
    )
    assert report.pages == 2 and report.failed == 0
    [task] = world.tasks.of("refresh")
    expires = due.token_expires_at
    assert expires is not None
    assert task.name == refresh_task_name("conn_due", expires - timedelta(seconds=300))
    assert task.payload == {
        "tenant_id": TENANT,
        "connection_id": "conn_due",
        "name": task.name,
    }
    assert task.run_at == world.clock.now()  # already inside the margin
    again = refresher.schedule.sweep()
    assert (again.enqueued, again.already_scheduled, again.repaired) == (0, 1, 0)
    assert len(world.tasks.of("refresh")) == 1
    assert report.as_dict()["enqueued"] == 1


def test_the_sweep_repairs_an_overdue_token_whose_task_already_ran(world):
    """The scheduled task ran (or the queue gave it up) without leaving a fresh token: the
    sweep must not take its name for a pending refresh."""
    connection = world.connection("conn_lost", expires_in=200, issued_ago=3400)
    refresher = world.refresher(repair_grace_seconds=60)
    # the chain's task, gone without a refresh
    assert refresher.schedule.schedule_refresh(connection)
    report = refresher.schedule.sweep()
    assert (report.enqueued, report.already_scheduled, report.repaired) == (0, 0, 1)
    repair = world.tasks.of("refresh")[-1]
    assert repair.name.startswith(world.tasks.of("refresh")[0].name + "-sweep")
    assert repair.run_at == world.clock.now()
    refresher.refresh_task(repair.payload)
    assert world.endpoint.calls == 1
    # The new token has a task of its own; the next sweep finds it and adds nothing.
    again = refresher.schedule.sweep()
    assert (again.enqueued, again.repaired) == (0, 0)


def test_a_task_run_early_under_its_own_name_is_retried_not_lost(world):
    """An instance whose clock is behind the queue's runs the task before the token is due:
    re-arming would collide with the task's own name, so it asks the queue to retry."""
    connection = world.connection("conn_1", expires_in=3600, issued_ago=0)
    refresher = world.refresher()
    assert refresher.schedule.schedule_refresh(connection)
    [task] = world.tasks.of("refresh")
    with pytest.raises(BackendUnavailable) as raised:
        refresher.refresh_task(task.payload)
    assert raised.value.code == "REFRESH_NOT_DUE" and raised.value.retryable
    assert world.endpoint.calls == 0
    # A task of an older token re-arms the current one's schedule instead.
    stale = {**task.payload, "name": "refresh-conn_1-1"}
    refresher.refresh_task(stale)
    assert [t.name for t in world.tasks.of("refresh")] == [task.name]


def test_the_sweep_task_is_retryable_when_enqueueing_failed(world):
    world.connection("conn_due", expires_in=600)

    def down(*args: Any, **kwargs: Any) -> bool:
        raise BackendUnavailable("queue down")

    world.tasks.enqueue = down  # type: ignore[method-assign]
    refresher = world.refresher()
    assert refresher.schedule.sweep().failed == 1
    with pytest.raises(BackendUnavailable):
        refresher.schedule.sweep_task({})


# -- the crash window --------------------------------------------------------------------------
class ProcessDied(BaseException):
    """Stands for the process dying: nothing in the service may catch it."""


def test_a_transient_store_failure_after_the_answer_is_retried_without_a_second_call(world):
    world.endpoint.rotate = True
    connection = world.connection(expires_in=-1, issued_ago=3600)
    world.endpoint.on_answer = lambda: world.store.fail_updates.append(
        BackendUnavailable("store blip")
    )
    token = world.refresher().access_token(connection)
    assert token == "access-token-issued-0001"
    assert world.endpoint.calls == 1
    assert world.refresh_token() == "refresh-token-rotated-0001"
    assert world.secrets.puts == 2  # the first version never landed; the second did
    assert len(world.audit(AuditAction.TOKEN_REFRESHED)) == 1


def test_a_concurrent_edit_after_the_answer_is_merged_not_lost(world):
    world.endpoint.rotate = True
    connection = world.connection(expires_in=-1, issued_ago=3600)

    def rename() -> None:
        current = world.record()
        world.store.inner.update_connection(
            current.model_copy(update={"display_name": "Renamed"}),
            expected_version=current.version,
        )

    world.endpoint.on_answer = rename
    world.refresher().access_token(connection)
    record = world.record()
    assert record.display_name == "Renamed"
    assert world.tokens.access_token(record) == "access-token-issued-0001"
    assert world.refresh_token() == "refresh-token-rotated-0001"
    assert world.endpoint.calls == 1


def test_a_reconnect_during_a_refresh_is_not_undone_by_it(world):
    """The user reconnects (a new grant: perhaps another account, or fewer scopes) while a
    refresh of the old grant is at the provider: that answer belongs to the replaced grant
    and is not written over the new one; the reader gets the new grant's token."""
    world.endpoint.rotate = True
    connection = world.connection(expires_in=-1, issued_ago=3600)

    def reconnect() -> None:
        current = world.record()
        world.tokens.store_tokens(
            current,
            access_token="access-token-reconnected",
            expires_at=world.clock.now() + timedelta(hours=1),
            refresh_token="refresh-token-reconnected",
        )

    world.endpoint.on_answer = reconnect
    token = world.refresher().access_token(connection)
    record = world.record()
    assert world.tokens.access_token(record) == "access-token-reconnected"
    assert world.refresh_token() == "refresh-token-reconnected"
    assert token == "access-token-reconnected"
    assert world.endpoint.calls == 1
    assert world.audit(AuditAction.TOKEN_REFRESHED) == []


def test_a_token_dropped_during_a_refresh_stays_dropped(world):
    """A change that drops the stored token while a refresh is at the provider (its
    destination moved, so the grant waits for a reconnect) is not undone by the refresh:
    the old grant's tokens are not put back on the record."""
    connection = world.connection(expires_in=-1, issued_ago=3600)

    def move() -> None:
        current = world.record()
        ref = world.secrets.inner.put(
            tenant_id=TENANT, connection_id=current.id, provider="acme", payload={}
        )
        world.store.inner.update_connection(
            current.model_copy(
                update={
                    "status": ConnectionStatus.PENDING,
                    "credential_ref": ref,
                    "sealed_access_token": None,
                    "token_expires_at": None,
                    "token_refreshed_at": None,
                }
            ),
            expected_version=current.version,
        )

    world.endpoint.on_answer = move
    with pytest.raises(TetherError):
        world.refresher().access_token(connection)
    record = world.record()
    assert record.status == ConnectionStatus.PENDING
    assert record.sealed_access_token is None
    assert record.credential_ref is not None
    assert (
        world.secrets.get(tenant_id=TENANT, connection_id=record.id, ref=record.credential_ref)
        == {}
    )


def test_a_store_that_stays_down_fails_retryably_after_bounded_attempts(world):
    connection = world.connection(expires_in=-1, issued_ago=3600)
    world.endpoint.on_answer = lambda: world.store.fail_updates.extend(
        BackendUnavailable("store down") for _ in range(5)
    )
    with pytest.raises(BackendUnavailable) as raised:
        world.refresher(sleep=lambda _s: None).access_token(connection)
    assert raised.value.code == "OAUTH_REFRESH_NOT_SAVED"
    assert world.endpoint.calls == 1


def test_dying_between_the_answer_and_the_commit_loses_a_rotated_token_loudly(world):
    """The design's stated limit: a process death inside the commit window loses the rotated
    refresh token (the record keeps the old, now dead, one). The next refresh turns that into
    ``needs_reauth`` with one audit entry and one tenant event, never into a silent loop."""
    world.endpoint.rotate = True
    connection = world.connection(expires_in=-1, issued_ago=3600)
    world.endpoint.on_answer = lambda: world.store.fail_updates.append(ProcessDied())
    with pytest.raises(ProcessDied):
        world.refresher(owner="crashed").access_token(connection)
    assert world.endpoint.calls == 1
    record = world.record()
    assert record.version == connection.version  # nothing was committed
    assert record.sealed_access_token == connection.sealed_access_token
    assert world.refresh_token() == OLD_REFRESH  # which the provider has retired
    assert OLD_REFRESH not in world.endpoint.valid

    world.clock.advance(60)  # a restarted instance, after the dead one's lease expired
    with pytest.raises(ReauthRequired):
        world.refresher(owner="restarted").access_token(record)
    assert world.endpoint.seen == [OLD_REFRESH, OLD_REFRESH]
    record = world.record()
    assert record.status == ConnectionStatus.NEEDS_REAUTH
    assert len(world.audit(AuditAction.NEEDS_REAUTH)) == 1
    assert len(world.tasks.of("deliver")) == 1
    assert world.audit(AuditAction.TOKEN_REFRESHED) == []


def test_a_request_that_got_no_answer_loses_nothing(world):
    world.endpoint.rotate = True
    connection = world.connection(expires_in=-1, issued_ago=3600)
    world.endpoint.script = [
        TokenEndpointError("timed out", error="timeout", retryable=True)  # no answer
    ]
    with pytest.raises(BackendUnavailable):
        world.refresher().access_token(connection)
    assert world.refresher().access_token(world.record()) == "access-token-issued-0002"
    assert world.refresh_token() == "refresh-token-rotated-0002"


def test_an_endpoint_factory_is_built_only_when_a_refresh_needs_it(world):
    built: list[ScriptedEndpoint] = []

    def factory() -> ScriptedEndpoint:
        built.append(world.endpoint)
        return world.endpoint

    refresher = world.refresher(endpoint=factory)
    fresh = world.connection("conn_fresh", expires_in=3600)
    assert refresher.access_token(fresh) == OLD_ACCESS
    assert built == []
    expired = world.connection("conn_expired", expires_in=-1, issued_ago=3600)
    assert refresher.access_token(expired) == "access-token-issued-0001"
    refresher.access_token(world.connection("conn_other", expires_in=-1, issued_ago=3600))
    assert len(built) == 1
