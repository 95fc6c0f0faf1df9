"""SecretStore that keeps the sealed payload inside the reference.

The envelope (AES-256-GCM under a per-tenant HKDF key, AAD bound to tenant, connection and
purpose) *is* the ``CredentialRef.locator``, so it lives on the connection record wherever that
record is stored. Copying it to another tenant's or connection's record makes it undecryptable.
There is nothing to delete beyond the record: clearing the reference destroys the credential.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tether.crypto import Sealer
from tether.crypto.purposes import CREDENTIALS_PURPOSE
from tether.domain.errors import CryptoError
from tether.domain.models import CredentialRef

__all__ = ["CREDENTIALS_PURPOSE", "DbSecretStore"]


class DbSecretStore:
    backend = "db"

    def __init__(self, sealer: Sealer) -> None:
        self._sealer = sealer

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
        return self._sealer.open_json(
            ref.locator, tenant_id=tenant_id, record_id=connection_id, purpose=CREDENTIALS_PURPOSE
        )

    def retire(self, *, tenant_id: str, connection_id: str, ref: CredentialRef) -> None:
        # The ciphertext lives only on the record: once no record holds it, it is gone.
        return None

    def delete(self, *, tenant_id: str, connection_id: str, ref: CredentialRef | None) -> None:
        # The ciphertext lives only on the record; the caller clears the reference.
        return None

    def reseal(self, *, tenant_id: str, connection_id: str, ref: CredentialRef) -> CredentialRef:
        """Re-encrypt under the keyring's primary key (``tether keys rotate``)."""
        envelope = self._sealer.reseal(
            ref.locator, tenant_id=tenant_id, record_id=connection_id, purpose=CREDENTIALS_PURPOSE
        )
        return CredentialRef(backend="db", locator=envelope, key_id=Sealer.key_id_of(envelope))
