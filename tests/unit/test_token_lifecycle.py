"""The token lifecycle on real parts (SQLite store, database secret store, sealer, token
storage in a temp folder) against a scripted token endpoint: one refresh per connection,
rotation, failures, scheduling, sweep, revocation and the crash window."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.recording_queue import RecordingQueue
from tether.adapters.db_secrets import DbSecretStore, MemoryRetiredVersions
from tether.adapters.sqlite import SqliteConnectionStore
from tether.connections.events import ConnectionEvent, event_id
from tether.crypto import Keyring, Sealer
from tether.domain.clock import FixedClock, iso_utc
from tether.domain.errors import BackendUnavailable, Conflict, TetherError
from tether.domain.ids import SequentialIds
from tether.domain.models import AuditAction, AuditEvent, Connection, CredentialRef
from tether.domain.status import ConnectionStatus
from tether.oauth.lifecycle import (
    REFRESH_FAILED_CODE,
    ReauthRequired,
    RefreshEndpoint,
    TokenLifecycle,
)
from tether.oauth.model import OAuthClient, TokenEndpointError, TokenSet
from tether.oauth.refresh_policy import RefreshPolicy, refresh_task_name
from tether.oauth.token_storage import TokenStorage

T0 = datetime(2026, 6, 1, tzinfo=UTC)
TENANT = "t1"
OLD_ACCESS = "access-token-initial-0000"
OLD_REFRESH = "refresh-token-initial-0000"


# -- fakes -----------------------------------------------------------------------------------
class ScriptedEndpoint:
    """A provider's token endpoint: issues numbered tokens, rotates refresh tokens with reuse
    detection when asked (a used refresh token is dead), or plays scripted failures."""

    def __init__(self, clock: FixedClock, *, rotate: bool = False, lifetime: int = 3600) -> None:
        self.clock = clock
        self.rotate = rotate
        self.lifetime = lifetime
        self.delay = 0.0
        self.calls = 0
        self.seen: list[str] = []
        self.valid = {OLD_REFRESH}
        self.script: list[TokenEndpointError] = []
        self.omit_refresh_token = False
        self.on_answer: Callable[[], None] | None = None
        self.revoked: list[tuple[str, str | None]] = []
        self.revoke_error: TokenEndpointError | None = None
        self._lock = threading.Lock()

    def refresh(
        self,
        client: OAuthClient,
        *,
        refresh_token: str,
        scopes: Sequence[str] | None = None,
        now: datetime,
    ) -> TokenSet:
        with self._lock:
            self.calls += 1
            n = self.calls
            self.seen.append(refresh_token)
            scripted = self.script.pop(0) if self.script else None
        if self.delay:
            time.sleep(self.delay)
        if scripted is not None:
            raise scripted
        with self._lock:
            if refresh_token not in self.valid:
                raise TokenEndpointError(
                    "the provider refused the grant", error="invalid_grant", retryable=False
                )
            new_refresh = None
            if self.rotate:
                self.valid.discard(refresh_token)
                new_refresh = f"refresh-token-rotated-{n:04d}"
                self.valid.add(new_refresh)
            elif not self.omit_refresh_token:
                new_refresh = refresh_token
        tokens = TokenSet(
            access_token=f"access-token-issued-{n:04d}",
            expires_at=now + timedelta(seconds=self.lifetime),
            refresh_token=new_refresh,
        )
        if self.on_answer is not None:
            self.on_answer()
        return tokens

    def revoke(
        self, client: OAuthClient, *, token: str, token_type_hint: str | None = None
    ) -> None:
        if self.revoke_error is not None:
            raise self.revoke_error
        self.revoked.append((token, token_type_hint))


class FlakyStore:
    """The real store, with the next ``update_connection`` calls failing on demand."""

    def __init__(self, inner: SqliteConnectionStore) -> None:
        self.inner = inner
        self.fail_updates: list[BaseException] = []
        self.on_release: Callable[[], None] | None = None

    def update_connection(
        self, connection: Connection, *, expected_version: int, audit: Sequence[AuditEvent] = ()
    ) -> Connection:
        if self.fail_updates:
            raise self.fail_updates.pop(0)
        return self.inner.update_connection(
            connection, expected_version=expected_version, audit=audit
        )

    def release_lease(self, name: str, owner: str) -> None:
        if self.on_release is not None:
            self.on_release()
        self.inner.release_lease(name, owner)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class CountingSecrets:
    backend = "db"

    def __init__(self, inner: DbSecretStore) -> None:
        self.inner = inner
        self.puts = 0

    def put(self, **kwargs: Any) -> CredentialRef:
        self.puts += 1
        return self.inner.put(**kwargs)

    def get(self, **kwargs: Any) -> dict[str, Any]:
        return self.inner.get(**kwargs)

    def retire(self, **kwargs: Any) -> None:
        self.inner.retire(**kwargs)

    def delete(self, **kwargs: Any) -> None:
        self.inner.delete(**kwargs)


CLIENT = OAuthClient(
    client_id="client-1",
    client_secret="client-secret-1",
    authorization_url="https://provider.example/authorize",
    token_url="https://provider.example/token",
    revocation_url="https://provider.example/revoke",
)


@dataclass
class World:
    store: FlakyStore
    secrets: CountingSecrets
    tokens: TokenStorage
    clock: FixedClock
    endpoint: ScriptedEndpoint
    tasks: RecordingQueue
    policy: RefreshPolicy = field(default_factory=RefreshPolicy)
    client: OAuthClient = CLIENT
    ids: SequentialIds = field(default_factory=SequentialIds)

    def lifecycle(self, **overrides: Any) -> TokenLifecycle:
        options: dict[str, Any] = {
            "store": self.store,
            "secrets": self.secrets,
            "token_storage": self.tokens,
            "endpoint": self.endpoint,
            "client_for": lambda _c: self.client,
            "policy_for": lambda _c: self.policy,
            "tasks": lambda: self.tasks,
            "clock": self.clock,
            "ids": self.ids,
            "retry_budget": 3,
            "poll_seconds": 0.005,
            "wait_seconds": 5.0,
        }
        options.update(overrides)
        return TokenLifecycle(**options)

    def connection(
        self,
        connection_id: str = "conn_1",
        *,
        expires_in: float = 3600,
        issued_ago: float = 0,
        status: ConnectionStatus = ConnectionStatus.ACTIVE,
        auth_mode: str = "oauth2",
        payload: dict[str, Any] | None = None,
    ) -> Connection:
        now = self.clock.now()
        ref = self.secrets.inner.put(
            tenant_id=TENANT,
            connection_id=connection_id,
            provider="acme",
            payload={"refresh_token": OLD_REFRESH} if payload is None else payload,
        )
        record = Connection(
            id=connection_id,
            tenant_id=TENANT,
            provider="acme",
            auth_mode=auth_mode,
            display_name="Acme",
            status=status,
            credential_ref=ref,
            sealed_access_token=self.tokens.seal_access_token(
                tenant_id=TENANT, connection_id=connection_id, token=OLD_ACCESS
            ),
            token_expires_at=now + timedelta(seconds=expires_in),
            token_refreshed_at=now - timedelta(seconds=issued_ago),
            created_at=now,
            updated_at=now,
            created_by="u1",
        )
        self.store.create_connection(record)
        return record

    def record(self, connection_id: str = "conn_1") -> Connection:
        found = self.store.get_connection(TENANT, connection_id)
        assert found is not None
        return found

    def refresh_token(self, connection_id: str = "conn_1") -> str:
        record = self.record(connection_id)
        assert record.credential_ref is not None
        payload = self.secrets.get(
            tenant_id=TENANT, connection_id=connection_id, ref=record.credential_ref
        )
        return str(payload["refresh_token"])

    def audit(self, action: AuditAction, connection_id: str = "conn_1") -> list[Any]:
        return [
            e
            for e in self.store.list_audit(TENANT, connection_id=connection_id)
            if e.action == action.value
        ]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    sealer = Sealer(Keyring.generate("klife"))
    inner = SqliteConnectionStore(tmp_path / "store.db")
    store = FlakyStore(inner)
    secrets = CountingSecrets(DbSecretStore(sealer, retired=MemoryRetiredVersions()))
    clock = FixedClock(T0)
    tokens = TokenStorage(store=store, secrets=secrets, sealer=sealer, clock=clock)
    yield World(
        store=store,
        secrets=secrets,
        tokens=tokens,
        clock=clock,
        endpoint=ScriptedEndpoint(clock),
        tasks=RecordingQueue(),
    )
    inner.close()


def _all_audit_text(world: World) -> str:
    return " ".join(e.model_dump_json() for e in world.store.list_audit(TENANT))


# -- reads -------------------------------------------------------------------------------------
def test_the_endpoint_fake_satisfies_the_protocol(world):
    assert isinstance(world.endpoint, RefreshEndpoint)


def test_a_valid_token_is_returned_without_a_call_or_a_write(world):
    connection = world.connection(expires_in=3600)
    assert world.lifecycle().access_token(connection) == OLD_ACCESS
    assert world.endpoint.calls == 0
    assert world.record().version == connection.version
    assert world.store.list_audit(TENANT) == []
    assert world.tasks.tasks == []


def test_an_expired_token_is_refreshed_once(world):
    connection = world.connection(expires_in=-10, issued_ago=3600)
    world.clock.advance(5)
    token = world.lifecycle().access_token(connection)
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
    assert "access-token" not in _all_audit_text(world)
    assert "refresh-token" not in _all_audit_text(world)
    # Reading again uses the stored token.
    assert world.lifecycle().access_token(record) == token
    assert world.endpoint.calls == 1


def test_a_token_inside_the_margin_is_refreshed(world):
    connection = world.connection(expires_in=200, issued_ago=3400)
    assert world.lifecycle().access_token(connection) == "access-token-issued-0001"


def test_the_margin_is_capped_for_a_short_lived_token(world):
    connection = world.connection(expires_in=60)  # margin 300 s, capped at 30 s
    lifecycle = world.lifecycle()
    world.clock.advance(29)
    assert lifecycle.access_token(connection) == OLD_ACCESS
    assert world.endpoint.calls == 0
    world.clock.advance(2)
    assert lifecycle.access_token(connection) == "access-token-issued-0001"
    assert world.endpoint.calls == 1


def together(calls: list[Callable[[], Any]]) -> list[Future[Any]]:
    """Run ``calls`` at once (each on its own thread, released by one barrier)."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        start.wait()
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:  # waits for all on exit
        return [pool.submit(run, call) for call in calls]


def test_twenty_threads_on_an_expired_token_make_one_call(world):
    connection = world.connection(expires_in=-1, issued_ago=3600)
    world.endpoint.delay = 0.1
    lifecycle = world.lifecycle()
    outcomes = together([lambda: lifecycle.access_token(connection)] * 20)
    assert [f.result() for f in outcomes] == ["access-token-issued-0001"] * 20
    assert world.endpoint.calls == 1
    assert len(world.audit(AuditAction.TOKEN_REFRESHED)) == 1


def test_two_instances_sharing_a_store_make_one_call(world):
    connection = world.connection(expires_in=-1, issued_ago=3600)
    world.endpoint.delay = 0.2
    a, b = world.lifecycle(owner="instance-a"), world.lifecycle(owner="instance-b")
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

    token = world.lifecycle(sleep=other_instance_finishes).access_token(connection)
    assert token == "access-token-from-other-instance"
    assert world.endpoint.calls == 0
    assert polls[0] < polls[1]  # growing sleeps


def test_waiting_for_a_stuck_lease_is_bounded(world):
    connection = world.connection(expires_in=-1, issued_ago=3600)
    lease = f"refresh:{TENANT}:{connection.id}"
    world.store.acquire_lease(lease, "other", ttl_seconds=30, now=world.clock.now())
    with pytest.raises(BackendUnavailable) as raised:
        world.lifecycle(wait_seconds=0.05).access_token(connection)
    assert raised.value.code == "OAUTH_REFRESH_IN_PROGRESS" and raised.value.retryable
    assert world.endpoint.calls == 0


def test_an_expired_lease_of_a_dead_instance_is_taken_over(world):
    connection = world.connection(expires_in=-1, issued_ago=3600)
    lease = f"refresh:{TENANT}:{connection.id}"
    world.store.acquire_lease(lease, "dead", ttl_seconds=30, now=world.clock.now())
    world.clock.advance(31)
    assert world.lifecycle().access_token(connection) == "access-token-issued-0001"


# -- rotation ----------------------------------------------------------------------------------
def test_a_rotated_refresh_token_is_stored_before_the_lease_is_released(world):
    world.endpoint.rotate = True
    connection = world.connection(expires_in=-1, issued_ago=3600)
    at_release: list[str] = []
    world.store.on_release = lambda: at_release.append(world.refresh_token())
    token = world.lifecycle().access_token(connection)
    assert token == "access-token-issued-0001"
    assert at_release == ["refresh-token-rotated-0001"]
    assert world.refresh_token() == "refresh-token-rotated-0001"
    assert world.secrets.puts == 1
    [audit] = world.audit(AuditAction.TOKEN_REFRESHED)
    assert audit.detail["rotated"] is True
    # The next refresh presents the new refresh token.
    world.clock.advance(3600)
    world.lifecycle().access_token(world.record())
    assert world.endpoint.seen == [OLD_REFRESH, "refresh-token-rotated-0001"]


def test_a_response_without_a_refresh_token_keeps_the_stored_one(world):
    world.endpoint.omit_refresh_token = True
    connection = world.connection(expires_in=-1, issued_ago=3600)
    world.lifecycle().access_token(connection)
    assert world.refresh_token() == OLD_REFRESH
    assert world.record().credential_ref == connection.credential_ref
    assert world.secrets.puts == 0


def test_other_credential_fields_survive_a_rotation(world):
    world.endpoint.rotate = True
    connection = world.connection(
        expires_in=-1, payload={"refresh_token": OLD_REFRESH, "client_secret": "tenant-secret-1"}
    )
    world.lifecycle().access_token(connection)
    record = world.record()
    assert record.credential_ref is not None
    assert world.secrets.get(
        tenant_id=TENANT, connection_id="conn_1", ref=record.credential_ref
    ) == {
        "refresh_token": "refresh-token-rotated-0001",
        "client_secret": "tenant-secret-1",
    }


# -- failures ----------------------------------------------------------------------------------
def test_invalid_grant_moves_to_needs_reauth_once(world):
    world.endpoint.valid.clear()
    connection = world.connection(expires_in=-1, issued_ago=3600)
    lifecycle = world.lifecycle()
    with pytest.raises(ReauthRequired) as raised:
        lifecycle.access_token(connection)
    assert raised.value.code == "CONNECTION_NEEDS_REAUTH" and not raised.value.retryable
    record = world.record()
    assert record.status == ConnectionStatus.NEEDS_REAUTH
    assert record.status_detail is not None
    assert record.status_detail.code == "OAUTH_INVALID_GRANT"
    assert record.status_detail.at == world.clock.now()
    [audit] = world.audit(AuditAction.NEEDS_REAUTH)
    assert audit.detail["reason"] == "invalid_grant"
    [task] = world.tasks.of("deliver")
    event = task.payload["event"]
    assert task.name == f"deliver-{event['id']}"
    assert event["id"] == event_id(ConnectionEvent.NEEDS_REAUTH, record)
    assert event["type"] == "connection.needs_reauth"
    assert (event["tenant_id"], event["connection_id"], event["provider"]) == (
        TENANT,
        connection.id,
        "acme",
    )
    assert event["occurred_at"] == iso_utc(world.clock.now())
    assert event["data"] == {
        "reason": "invalid_grant",
        "status": "needs_reauth",
        "display_name": record.display_name,
    }
    # Nothing calls the provider again: reads, stale copies, tasks, forced refreshes.
    for attempt in (
        lambda: lifecycle.access_token(record),
        lambda: lifecycle.access_token(connection),
        lambda: lifecycle.force_refresh(record),
    ):
        with pytest.raises(ReauthRequired):
            attempt()
    lifecycle.refresh_task({"tenant_id": TENANT, "connection_id": connection.id})
    assert world.endpoint.calls == 1
    assert len(world.audit(AuditAction.NEEDS_REAUTH)) == 1
    assert len(world.tasks.of("deliver")) == 1


def test_an_expired_token_without_a_refresh_token_needs_reauth(world):
    connection = world.connection(expires_in=-1, payload={})
    with pytest.raises(ReauthRequired):
        world.lifecycle().access_token(connection)
    assert world.endpoint.calls == 0
    record = world.record()
    assert record.status == ConnectionStatus.NEEDS_REAUTH
    assert record.status_detail is not None
    assert record.status_detail.code == "OAUTH_NO_REFRESH_TOKEN"
    assert world.tasks.of("deliver")[0].payload["event"]["data"]["reason"] == ("no_refresh_token")


def test_a_valid_token_without_a_refresh_token_is_served_until_it_expires(world):
    connection = world.connection(expires_in=100, payload={})
    lifecycle = world.lifecycle()
    assert lifecycle.access_token(connection) == OLD_ACCESS
    with pytest.raises(Conflict) as raised:
        lifecycle.force_refresh(connection)
    assert raised.value.code == "OAUTH_NO_REFRESH_TOKEN"
    assert world.record().status == ConnectionStatus.ACTIVE


def _unavailable() -> TokenEndpointError:
    return TokenEndpointError(
        "the provider answered 503", error="server_error", retryable=True, provider_status=503
    )


def test_retryable_failures_count_and_end_in_error_after_the_budget(world):
    connection = world.connection(expires_in=-1, issued_ago=3600)
    world.endpoint.script = [_unavailable(), _unavailable(), _unavailable()]
    lifecycle = world.lifecycle()  # retry budget 3
    for expected in (1, 2):
        with pytest.raises(BackendUnavailable) as raised:
            lifecycle.access_token(connection)
        assert raised.value.code == REFRESH_FAILED_CODE and raised.value.retryable
        assert raised.value.details["failures"] == expected
        record = world.record()
        assert record.status == ConnectionStatus.ACTIVE
        assert record.refresh_failures == expected
    with pytest.raises(BackendUnavailable):
        lifecycle.access_token(connection)
    record = world.record()
    assert record.status == ConnectionStatus.ERROR and record.refresh_failures == 3
    assert record.status_detail is not None and record.status_detail.code == REFRESH_FAILED_CODE
    failures = world.audit(AuditAction.TOKEN_REFRESH_FAILED)
    assert [e.detail["failures"] for e in reversed(failures)] == [1, 2, 3]
    assert all(e.detail["error"] == "server_error" for e in failures)
    assert world.tasks.of("deliver") == []
    # The provider recovers: the connection is active again, the count reset.
    assert lifecycle.access_token(record) == "access-token-issued-0004"
    record = world.record()
    assert record.status == ConnectionStatus.ACTIVE
    assert record.refresh_failures == 0 and record.status_detail is None
    [refreshed] = world.audit(AuditAction.TOKEN_REFRESHED)
    assert refreshed.detail["recovered_from"] == "error"


def test_a_failed_refresh_still_serves_an_unexpired_token(world):
    connection = world.connection(expires_in=100, issued_ago=3500)  # inside the margin
    world.endpoint.script = [_unavailable()]
    assert world.lifecycle().access_token(connection) == OLD_ACCESS
    assert world.endpoint.calls == 1
    assert world.record().refresh_failures == 1


def test_an_invalid_client_is_an_error_at_once_and_not_retryable(world):
    connection = world.connection(expires_in=-1, issued_ago=3600)
    world.endpoint.script = [
        TokenEndpointError("client authentication failed", error="invalid_client", retryable=False)
    ]
    with pytest.raises(TetherError) as raised:
        world.lifecycle().access_token(connection)
    assert raised.value.code == REFRESH_FAILED_CODE and not raised.value.retryable
    record = world.record()
    assert record.status == ConnectionStatus.ERROR
    assert record.status_detail is not None
    assert record.status_detail.code == "OAUTH_INVALID_CLIENT"


def test_failures_of_followers_are_shared_not_repeated(world):
    connection = world.connection(expires_in=-1, issued_ago=3600)
    world.endpoint.script = [_unavailable()]
    world.endpoint.delay = 0.1
    lifecycle = world.lifecycle()
    outcomes = together([lambda: lifecycle.access_token(connection)] * 10)
    errors = [f.exception() for f in outcomes]
    assert all(isinstance(e, BackendUnavailable) for e in errors)
    assert world.endpoint.calls == 1
    assert world.record().refresh_failures == 1


# -- scheduling --------------------------------------------------------------------------------
def test_a_refresh_schedules_the_next_one(world):
    connection = world.connection(expires_in=-1, issued_ago=3600)
    world.lifecycle().access_token(connection)
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
    world.lifecycle().access_token(connection)
    [task] = world.tasks.of("refresh")
    assert task.run_at == world.clock.now() + timedelta(days=5)
    # At that time the task refreshes although the token is valid for 25 more days.
    world.clock.advance(5 * 86400)
    world.lifecycle().refresh_task(task.payload)
    assert world.endpoint.calls == 2


def test_a_due_time_beyond_the_queue_horizon_is_reached_in_hops(world):
    world.endpoint.lifetime = 365 * 86400
    connection = world.connection(expires_in=-1, issued_ago=3600)
    lifecycle = world.lifecycle()
    lifecycle.access_token(connection)
    [hop] = world.tasks.of("refresh")
    base, _, number = hop.name.rpartition("-hop")
    assert int(number) == 12  # 365 days in 29-day hops
    assert world.clock.now() < hop.run_at <= world.clock.now() + timedelta(days=29)
    # The early wake-up does not refresh; it schedules the next hop.
    world.clock.advance((hop.run_at - world.clock.now()).total_seconds())
    lifecycle.refresh_task(hop.payload)
    assert world.endpoint.calls == 1
    assert world.tasks.of("refresh")[-1].name == f"{base}-hop11"


def test_a_failing_queue_does_not_fail_the_refresh(world):
    connection = world.connection(expires_in=-1, issued_ago=3600)

    def down(*args: Any, **kwargs: Any) -> bool:
        raise BackendUnavailable("queue down")

    world.tasks.enqueue = down  # type: ignore[method-assign]
    assert world.lifecycle().access_token(connection) == "access-token-issued-0001"


# -- tasks ------------------------------------------------------------------------------------
def test_the_refresh_task_is_idempotent(world):
    connection = world.connection(expires_in=-1, issued_ago=3600)
    lifecycle = world.lifecycle()
    payload = {"tenant_id": TENANT, "connection_id": connection.id}
    lifecycle.refresh_task(payload)
    lifecycle.refresh_task(payload)
    assert world.endpoint.calls == 1
    lifecycle.refresh_task({**payload, "force": True})
    assert world.endpoint.calls == 2
    [first, second] = reversed(world.audit(AuditAction.TOKEN_REFRESHED))
    assert (first.detail["trigger"], second.detail["trigger"]) == ("task", "task")


def test_the_refresh_task_skips_what_it_cannot_refresh(world):
    world.connection("conn_gone", expires_in=-1)
    world.connection("conn_key", expires_in=-1, auth_mode="api_key")
    world.connection("conn_pending", expires_in=-1, status=ConnectionStatus.PENDING)
    lifecycle = world.lifecycle()
    for connection_id in ("conn_missing", "conn_key", "conn_pending"):
        lifecycle.refresh_task({"tenant_id": TENANT, "connection_id": connection_id})
    gone = world.record("conn_gone")
    world.store.update_connection(
        gone.model_copy(update={"deleted_at": T0, "status": ConnectionStatus.DISABLED}),
        expected_version=gone.version,
    )
    lifecycle.refresh_task({"tenant_id": TENANT, "connection_id": "conn_gone"})
    assert world.endpoint.calls == 0
    with pytest.raises(TetherError, match="tenant_id and connection_id"):
        lifecycle.refresh_task({"tenant_id": TENANT})


def test_the_refresh_task_raises_retryable_failures_and_ends_on_reauth(world):
    connection = world.connection(expires_in=-1, issued_ago=3600)
    payload = {"tenant_id": TENANT, "connection_id": connection.id}
    lifecycle = world.lifecycle()
    world.endpoint.script = [_unavailable()]
    with pytest.raises(BackendUnavailable) as raised:
        lifecycle.refresh_task(payload)
    assert raised.value.retryable
    world.endpoint.valid.clear()
    lifecycle.refresh_task(payload)  # returns: permanent, recorded
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
    world.lifecycle().refresh_task({"tenant_id": TENANT, "connection_id": connection.id})
    assert len(world.tasks.of("deliver")) == 1
    assert len(world.audit(AuditAction.NEEDS_REAUTH)) == 1


def test_force_refresh_calls_the_provider_for_a_fresh_token(world):
    connection = world.connection(expires_in=3600)
    stored = world.lifecycle().force_refresh(connection, actor="user-7")
    assert world.endpoint.calls == 1
    assert world.tokens.access_token(stored) == "access-token-issued-0001"
    [audit] = world.audit(AuditAction.TOKEN_REFRESHED)
    assert audit.actor == "user-7" and audit.detail["trigger"] == "forced"


def test_concurrent_forced_refreshes_share_one_new_token(world):
    connection = world.connection(expires_in=3600)
    world.endpoint.delay = 0.1
    lifecycle = world.lifecycle()
    outcomes = together([lambda: lifecycle.force_refresh(connection)] * 5)
    tokens = [world.tokens.access_token(f.result()) for f in outcomes]
    assert tokens == ["access-token-issued-0001"] * 5
    assert world.endpoint.calls == 1


def test_reads_refuse_connections_without_tokens(world):
    pending = world.connection("conn_p", status=ConnectionStatus.PENDING)
    key = world.connection("conn_k", auth_mode="api_key")
    lifecycle = world.lifecycle()
    with pytest.raises(Conflict) as raised:
        lifecycle.access_token(pending)
    assert raised.value.code == "CONNECTION_NOT_ACTIVE"
    with pytest.raises(TetherError) as raised_key:
        lifecycle.access_token(key)
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
    lifecycle = world.lifecycle(
        sweep_window_seconds=900, sweep_page_size=2, repair_grace_seconds=600
    )
    report = lifecycle.schedule.sweep()
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
    again = lifecycle.schedule.sweep()
    assert (again.enqueued, again.already_scheduled, again.repaired) == (0, 1, 0)
    assert len(world.tasks.of("refresh")) == 1
    assert report.as_dict()["enqueued"] == 1


def test_the_sweep_repairs_an_overdue_token_whose_task_already_ran(world):
    """The scheduled task ran (or the queue gave it up) without leaving a fresh token: the
    sweep must not take its name for a pending refresh."""
    connection = world.connection("conn_lost", expires_in=200, issued_ago=3400)
    lifecycle = world.lifecycle(repair_grace_seconds=60)
    # the chain's task, gone without a refresh
    assert lifecycle.schedule.schedule_refresh(connection)
    report = lifecycle.schedule.sweep()
    assert (report.enqueued, report.already_scheduled, report.repaired) == (0, 0, 1)
    repair = world.tasks.of("refresh")[-1]
    assert repair.name.startswith(world.tasks.of("refresh")[0].name + "-sweep")
    assert repair.run_at == world.clock.now()
    lifecycle.refresh_task(repair.payload)
    assert world.endpoint.calls == 1
    # The new token has a task of its own; the next sweep finds it and adds nothing.
    again = lifecycle.schedule.sweep()
    assert (again.enqueued, again.repaired) == (0, 0)


def test_a_task_run_early_under_its_own_name_is_retried_not_lost(world):
    """An instance whose clock is behind the queue's runs the task before the token is due:
    re-arming would collide with the task's own name, so it asks the queue to retry."""
    connection = world.connection("conn_1", expires_in=3600, issued_ago=0)
    lifecycle = world.lifecycle()
    assert lifecycle.schedule.schedule_refresh(connection)
    [task] = world.tasks.of("refresh")
    with pytest.raises(BackendUnavailable) as raised:
        lifecycle.refresh_task(task.payload)
    assert raised.value.code == "REFRESH_NOT_DUE" and raised.value.retryable
    assert world.endpoint.calls == 0
    # A task of an older token re-arms the current one's schedule instead.
    stale = {**task.payload, "name": "refresh-conn_1-1"}
    lifecycle.refresh_task(stale)
    assert [t.name for t in world.tasks.of("refresh")] == [task.name]


def test_the_sweep_task_is_retryable_when_enqueueing_failed(world):
    world.connection("conn_due", expires_in=600)

    def down(*args: Any, **kwargs: Any) -> bool:
        raise BackendUnavailable("queue down")

    world.tasks.enqueue = down  # type: ignore[method-assign]
    lifecycle = world.lifecycle()
    assert lifecycle.schedule.sweep().failed == 1
    with pytest.raises(BackendUnavailable):
        lifecycle.schedule.sweep_task({})


# -- revoke -----------------------------------------------------------------------------------
def test_revoke_revokes_both_tokens_and_audits(world):
    connection = world.connection(expires_in=600)
    world.lifecycle().revoke(connection, actor="user-1")
    assert world.endpoint.revoked == [
        (OLD_REFRESH, "refresh_token"),
        (OLD_ACCESS, "access_token"),
    ]
    [audit] = world.audit(AuditAction.TOKEN_REVOKED)
    assert audit.detail == {"tokens": ["refresh_token", "access_token"]}
    assert audit.actor == "user-1"


def test_a_failed_revocation_is_audited_and_not_raised(world):
    connection = world.connection(expires_in=600)
    world.endpoint.revoke_error = TokenEndpointError(
        "the provider answered 503", error="server_error", retryable=True
    )
    world.lifecycle().revoke(connection)
    [audit] = world.audit(AuditAction.TOKEN_REVOCATION_FAILED)
    assert audit.detail["reason"] == "server_error"
    assert audit.detail["failed"] == ["refresh_token", "access_token"]
    assert world.audit(AuditAction.TOKEN_REVOKED) == []
    assert OLD_REFRESH not in _all_audit_text(world)


def test_revoke_does_nothing_without_a_revocation_endpoint(world):
    connection = world.connection(expires_in=600)
    world.client = OAuthClient(
        client_id="c", client_secret=None, authorization_url="https://a", token_url="https://t"
    )
    world.lifecycle().revoke(connection)
    assert world.endpoint.revoked == [] and world.store.list_audit(TENANT) == []


def test_a_revocation_that_cannot_even_start_is_audited(world):
    connection = world.connection(expires_in=600)

    def no_client(_c: Connection) -> OAuthClient:
        raise TetherError("no OAuth client configured", code="OAUTH_CLIENT_NOT_CONFIGURED")

    world.lifecycle(client_for=no_client).revoke(connection)
    [audit] = world.audit(AuditAction.TOKEN_REVOCATION_FAILED)
    assert audit.detail["reason"] == "oauth_client_not_configured"


# -- the crash window --------------------------------------------------------------------------
class ProcessDied(BaseException):
    """Stands for the process dying: nothing in the service may catch it."""


def test_a_transient_store_failure_after_the_answer_is_retried_without_a_second_call(world):
    world.endpoint.rotate = True
    connection = world.connection(expires_in=-1, issued_ago=3600)
    world.endpoint.on_answer = lambda: world.store.fail_updates.append(
        BackendUnavailable("store blip")
    )
    token = world.lifecycle().access_token(connection)
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
    world.lifecycle().access_token(connection)
    record = world.record()
    assert record.display_name == "Renamed"
    assert world.tokens.access_token(record) == "access-token-issued-0001"
    assert world.refresh_token() == "refresh-token-rotated-0001"
    assert world.endpoint.calls == 1


def test_a_store_that_stays_down_fails_retryably_after_bounded_attempts(world):
    connection = world.connection(expires_in=-1, issued_ago=3600)
    world.endpoint.on_answer = lambda: world.store.fail_updates.extend(
        BackendUnavailable("store down") for _ in range(5)
    )
    with pytest.raises(BackendUnavailable) as raised:
        world.lifecycle(sleep=lambda _s: None).access_token(connection)
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
        world.lifecycle(owner="crashed").access_token(connection)
    assert world.endpoint.calls == 1
    record = world.record()
    assert record.version == connection.version  # nothing was committed
    assert record.sealed_access_token == connection.sealed_access_token
    assert world.refresh_token() == OLD_REFRESH  # which the provider has retired
    assert OLD_REFRESH not in world.endpoint.valid

    world.clock.advance(60)  # a restarted instance, after the dead one's lease expired
    with pytest.raises(ReauthRequired):
        world.lifecycle(owner="restarted").access_token(record)
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
        world.lifecycle().access_token(connection)
    assert world.lifecycle().access_token(world.record()) == "access-token-issued-0002"
    assert world.refresh_token() == "refresh-token-rotated-0002"


def test_an_endpoint_factory_is_built_only_when_a_refresh_needs_it(world):
    built: list[ScriptedEndpoint] = []

    def factory() -> ScriptedEndpoint:
        built.append(world.endpoint)
        return world.endpoint

    lifecycle = world.lifecycle(endpoint=factory)
    fresh = world.connection("conn_fresh", expires_in=3600)
    assert lifecycle.access_token(fresh) == OLD_ACCESS
    assert built == []
    expired = world.connection("conn_expired", expires_in=-1, issued_ago=3600)
    assert lifecycle.access_token(expired) == "access-token-issued-0001"
    lifecycle.access_token(world.connection("conn_other", expires_in=-1, issued_ago=3600))
    assert len(built) == 1
