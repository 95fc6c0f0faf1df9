"""SecretStore that keeps the sealed payload inside the reference.

The envelope (AES-256-GCM under a per-tenant HKDF key, AAD bound to tenant, connection and
purpose) *is* the ``CredentialRef.locator``, so it lives on the connection record wherever that
record is stored. Copying it to another tenant's or connection's record makes it undecryptable.

Retiring a version or deleting a connection's credentials leaves a tombstone
(:mod:`.retired_versions`) that :meth:`DbSecretStore.get` checks before it decrypts, so a
retired envelope still held somewhere reads as gone, as it would from Secret Manager.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from tether.adapters.db_secrets.retired_versions import (
    ALL_VERSIONS,
    RetiredVersions,
    version_of,
)
from tether.crypto import Sealer
from tether.crypto.purposes import CREDENTIALS_PURPOSE
from tether.domain.errors import CryptoError, NotFound
from tether.domain.models import CredentialRef

__all__ = ["CREDENTIALS_PURPOSE", "DbSecretStore"]


class DbSecretStore:
    backend = "db"

    def __init__(self, sealer: Sealer, *, retired: RetiredVersions) -> None:
        self._sealer = sealer
        self._retired = retired

    def put(
        self,
        *,
        tenant_id: str,
        connection_id: str,
        provider: str,
        payload: Mapping[str, Any],
    ) -> CredentialRef:
        envelope = self._sealer.seal_json(
            payload, tenant_id=tenant_id, record_id=connection_id, purpose=CREDENTIALS_PURPOSE
        )
        return CredentialRef(backend="db", locator=envelope, key_id=Sealer.key_id_of(envelope))

    def get(self, *, tenant_id: str, connection_id: str, ref: CredentialRef) -> dict[str, Any]:
        if ref.backend != "db":
            raise CryptoError("this credential is not held by the database secret store")
        if self._retired.is_retired(tenant_id, connection_id, version_of(ref.locator)):
            raise NotFound("the credentials are no longer available", code="CREDENTIALS_GONE")
        return self._sealer.open_json(
            ref.locator, tenant_id=tenant_id, record_id=connection_id, purpose=CREDENTIALS_PURPOSE
        )

    def retire(self, *, tenant_id: str, connection_id: str, ref: CredentialRef) -> None:
        if ref.backend != "db":
            raise CryptoError("this credential is not held by the database secret store")
        self._retired.retire(
            tenant_id, connection_id, version_of(ref.locator), key_id=Sealer.key_id_of(ref.locator)
        )

    def delete(self, *, tenant_id: str, connection_id: str, ref: CredentialRef | None) -> None:
        self._retired.retire(tenant_id, connection_id, ALL_VERSIONS)

    def forget_key(self, key_id: str) -> int:
        """After ``tether keys retire`` removed ``key_id``: drop the tombstones of versions
        sealed under it (nothing opens them now); returns how many."""
        return self._retired.forget_key(key_id)

    def purge_tombstones(self, older_than: datetime) -> int:
        """Housekeeping: drop the tombstones written at or before ``older_than`` (their
        retention is over); returns how many."""
        return self._retired.purge_retired(older_than)

    def close(self) -> None:
        """Close the tombstones' connections, when they hold any."""
        close = getattr(self._retired, "close", None)
        if close is not None:
            close()

    def reseal(self, *, tenant_id: str, connection_id: str, ref: CredentialRef) -> CredentialRef:
        """Re-encrypt under the keyring's primary key (``tether keys rotate``)."""
        envelope = self._sealer.reseal(
            ref.locator, tenant_id=tenant_id, record_id=connection_id, purpose=CREDENTIALS_PURPOSE
        )
        return CredentialRef(backend="db", locator=envelope, key_id=Sealer.key_id_of(envelope))
