"""Where OAuth tokens live: the access token sealed on the record, the refresh token with the
durable credential payload.

Access tokens change on every refresh; writing them to Secret Manager would spend its write
quota (about 600 per minute per project) on data that expires within the hour. So an access
token is sealed (AES-256-GCM, AAD bound to tenant, connection and purpose) onto the connection
record with its expiry, and the :class:`~tether.ports.SecretStore` is written only when the
provider rotated the refresh token: a refresh of a provider that does not rotate costs no
secret write at all.

When the refresh token did rotate, the new payload is stored *first*, the record pointing at it
is written next, and only then is the old version retired, so that no failure in between can
lose the refresh token that is still valid. The refresh (:mod:`tether.oauth.refresh`: leases,
retries, scheduling) builds on this.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from tether.connections.credential_reads import REFRESH_TOKEN_FIELD
from tether.connections.service import retire_quietly
from tether.crypto import Sealer
from tether.crypto.purposes import ACCESS_TOKEN_PURPOSE
from tether.domain.clock import Clock
from tether.domain.errors import InvalidRequest
from tether.domain.models import AuditEvent, Connection, CredentialRef
from tether.logs import register_secret
from tether.ports import ConnectionRepository, SecretStore

__all__ = ["TokenStorage"]


class TokenStorage:
    def __init__(
        self, *, store: ConnectionRepository, secrets: SecretStore, sealer: Sealer, clock: Clock
    ) -> None:
        self._store = store
        self._secrets = secrets
        self._sealer = sealer
        self._clock = clock

    def seal_access_token(self, *, tenant_id: str, connection_id: str, token: str) -> str:
        """The envelope of ``token`` for the record of ``connection_id``."""
        register_secret(token)
        return self._sealer.seal(
            token.encode(),
            tenant_id=tenant_id,
            record_id=connection_id,
            purpose=ACCESS_TOKEN_PURPOSE,
        )

    def access_token(self, connection: Connection) -> str | None:
        """The stored access token, or ``None`` when there is none."""
        if connection.sealed_access_token is None:
            return None
        token = self._sealer.open(
            connection.sealed_access_token,
            tenant_id=connection.tenant_id,
            record_id=connection.id,
            purpose=ACCESS_TOKEN_PURPOSE,
        ).decode()
        register_secret(token)
        return token

    def unexpired_access_token(self, connection: Connection) -> str | None:
        """The stored access token unless it is known to have expired."""
        expires_at = connection.token_expires_at
        if expires_at is not None and expires_at <= self._clock.now():
            return None
        return self.access_token(connection)

    def store_tokens(
        self,
        connection: Connection,
        *,
        access_token: str,
        expires_at: datetime,
        refresh_token: str | None = None,
        credentials: dict[str, Any] | None = None,
        audit: Sequence[AuditEvent] = (),
    ) -> Connection:
        """Write a fresh token set onto ``connection`` (compare-and-set on its version: a
        ``VersionConflict`` means someone else changed it; re-read and decide again).

        ``credentials`` is the current durable payload when the caller has it (it just used
        the refresh token); otherwise it is read when a rotated refresh token must be saved.
        ``audit`` commits with the record (never a token value in it).
        """
        if not access_token:
            raise InvalidRequest("the provider returned no access token")
        if expires_at.tzinfo is None:
            raise InvalidRequest("token expiry must carry a time zone")
        changed = connection.model_copy(deep=True)
        changed.sealed_access_token = self.seal_access_token(
            tenant_id=connection.tenant_id, connection_id=connection.id, token=access_token
        )
        changed.token_expires_at = expires_at
        changed.updated_at = self._clock.now()

        new_ref: CredentialRef | None = None
        if refresh_token:
            register_secret(refresh_token)
            current = credentials if credentials is not None else self._payload(connection)
            if current.get(REFRESH_TOKEN_FIELD) != refresh_token:
                payload = {**current, REFRESH_TOKEN_FIELD: refresh_token}
                new_ref = self._secrets.put(
                    tenant_id=connection.tenant_id,
                    connection_id=connection.id,
                    provider=connection.provider,
                    payload=payload,
                )
                changed.credential_ref = new_ref
        try:
            stored = self._store.update_connection(
                changed, expected_version=connection.version, audit=audit
            )
        except BaseException:
            # The new version never became current (VersionConflict included).
            retire_quietly(self._secrets, connection.tenant_id, connection.id, new_ref)
            raise
        if new_ref is not None:
            retire_quietly(
                self._secrets, connection.tenant_id, connection.id, connection.credential_ref
            )
        return stored

    def _payload(self, connection: Connection) -> dict[str, Any]:
        if connection.credential_ref is None:
            return {}
        return self._secrets.get(
            tenant_id=connection.tenant_id,
            connection_id=connection.id,
            ref=connection.credential_ref,
        )
