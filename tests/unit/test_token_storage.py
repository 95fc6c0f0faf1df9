"""Token storage: access tokens sealed on the record, the secret store written only when the
refresh token rotated, and never a window in which the valid refresh token is lost."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tether.adapters.db_secrets import DbSecretStore, MemoryRetiredVersions
from tether.adapters.sqlite import SqliteConnectionStore
from tether.crypto import Keyring, Sealer
from tether.domain.clock import FixedClock
from tether.domain.errors import BackendUnavailable, VersionConflict
from tether.domain.models import Connection, CredentialRef
from tether.oauth.token_storage import TokenStorage

T0 = datetime(2026, 6, 1, tzinfo=UTC)


class CountingSecrets:
    """A real DbSecretStore that counts writes and can be told to fail the record write."""

    backend = "db"

    def __init__(self, inner: DbSecretStore) -> None:
        self.inner = inner
        self.puts = 0
        self.retired: list[str] = []

    def put(self, **kwargs: Any) -> CredentialRef:
        self.puts += 1
        return self.inner.put(**kwargs)

    def get(self, **kwargs: Any) -> dict[str, Any]:
        return self.inner.get(**kwargs)

    def retire(self, *, tenant_id: str, connection_id: str, ref: CredentialRef) -> None:
        self.retired.append(ref.locator)

    def delete(self, **kwargs: Any) -> None:
        self.inner.delete(**kwargs)


@pytest.fixture
def parts(tmp_path: Path):
    sealer = Sealer(Keyring.generate("ktok"))
    store = SqliteConnectionStore(tmp_path / "s.db")
    secrets = CountingSecrets(DbSecretStore(sealer, retired=MemoryRetiredVersions()))
    tokens = TokenStorage(store=store, secrets=secrets, sealer=sealer, clock=FixedClock(T0))
    ref = secrets.put(
        tenant_id="t1",
        connection_id="conn_1",
        provider="hubspot",
        payload={"refresh_token": "rt-one-1234567890"},
    )
    secrets.puts = 0
    connection = Connection(
        id="conn_1",
        tenant_id="t1",
        provider="hubspot",
        auth_mode="oauth2",
        display_name="HubSpot",
        credential_ref=ref,
        created_at=T0,
        updated_at=T0,
        created_by="u1",
    )
    store.create_connection(connection)
    yield store, secrets, tokens, connection
    store.close()


def _payload(store: SqliteConnectionStore, secrets: CountingSecrets) -> Mapping[str, Any]:
    record = store.get_connection("t1", "conn_1")
    assert record is not None and record.credential_ref is not None
    return secrets.get(tenant_id="t1", connection_id="conn_1", ref=record.credential_ref)


def test_a_refresh_without_rotation_writes_no_secret(parts):
    _store, secrets, tokens, connection = parts
    stored = tokens.store_tokens(
        connection,
        access_token="at-fresh-0001",
        expires_at=T0 + timedelta(hours=1),
        refresh_token="rt-one-1234567890",
    )
    assert secrets.puts == 0
    assert stored.version == connection.version + 1
    assert stored.token_expires_at == T0 + timedelta(hours=1)
    assert "at-fresh-0001" not in stored.model_dump_json()
    assert tokens.access_token(stored) == "at-fresh-0001"
    assert stored.credential_ref == connection.credential_ref


def test_a_rotated_refresh_token_is_stored_then_the_old_version_retired(parts):
    store, secrets, tokens, connection = parts
    stored = tokens.store_tokens(
        connection,
        access_token="at-fresh-0002",
        expires_at=T0 + timedelta(hours=1),
        refresh_token="rt-two-1234567890",
    )
    assert secrets.puts == 1
    assert _payload(store, secrets) == {"refresh_token": "rt-two-1234567890"}
    assert connection.credential_ref is not None
    assert secrets.retired == [connection.credential_ref.locator]
    assert stored.credential_ref != connection.credential_ref


def test_a_lost_race_retires_the_new_version_and_keeps_the_old_token(parts):
    store, secrets, tokens, connection = parts
    # Someone else wrote the record first.
    store.update_connection(connection, expected_version=connection.version)
    with pytest.raises(VersionConflict):
        tokens.store_tokens(
            connection,
            access_token="at-late",
            expires_at=T0 + timedelta(hours=1),
            refresh_token="rt-three-1234567890",
        )
    assert secrets.puts == 1 and len(secrets.retired) == 1
    assert secrets.retired[0] != connection.credential_ref.locator
    assert _payload(store, secrets) == {"refresh_token": "rt-one-1234567890"}


def test_a_failed_secret_write_changes_nothing(parts):
    store, secrets, tokens, connection = parts

    def down(**kwargs: Any) -> CredentialRef:
        raise BackendUnavailable("secret backend down")

    secrets.put = down  # type: ignore[method-assign]
    with pytest.raises(BackendUnavailable):
        tokens.store_tokens(
            connection,
            access_token="at-x",
            expires_at=T0 + timedelta(hours=1),
            refresh_token="rt-four-1234567890",
        )
    record = store.get_connection("t1", "conn_1")
    assert record is not None and record.version == connection.version
    assert record.sealed_access_token is None
