"""The world the token refresh and revocation tests share: real parts (SQLite store,
database secret store, sealer, token storage in a temp folder) and a scripted token endpoint
standing in for the provider."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.support.recording_queue import RecordingQueue
from tether.adapters.db_secrets import DbSecretStore, MemoryRetiredVersions
from tether.adapters.sqlite import SqliteConnectionStore
from tether.crypto import Keyring, Sealer
from tether.domain.clock import FixedClock
from tether.domain.ids import SequentialIds
from tether.domain.models import AuditAction, AuditEvent, Connection, CredentialRef
from tether.domain.status import ConnectionStatus
from tether.oauth.model import OAuthClient, TokenEndpointError, TokenSet
from tether.oauth.refresh import TokenRefresh
from tether.oauth.refresh_policy import RefreshPolicy
from tether.oauth.revocation import TokenRevocation
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

    def refresher(self, **overrides: Any) -> TokenRefresh:
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
        return TokenRefresh(**options)

    def revocation(self, **overrides: Any) -> TokenRevocation:
        options: dict[str, Any] = {
            "store": self.store,
            "secrets": self.secrets,
            "token_storage": self.tokens,
            "endpoint": lambda: self.endpoint,
            "client_for": lambda _c: self.client,
            "clock": self.clock,
            "ids": self.ids,
        }
        options.update(overrides)
        return TokenRevocation(**options)

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


def make_world(tmp_path: Path) -> Iterator[World]:
    """A world in ``tmp_path`` (a fixture's body: the store is closed after the test)."""
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


def all_audit_text(world: World) -> str:
    return " ".join(e.model_dump_json() for e in world.store.list_audit(TENANT))


def unavailable() -> TokenEndpointError:
    return TokenEndpointError(
        "the provider answered 503", error="server_error", retryable=True, provider_status=503
    )
