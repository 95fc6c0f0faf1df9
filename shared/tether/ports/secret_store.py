"""Durable credential payloads of connections. Its contract suite is
``tests/contract/test_secret_store_contract.py``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from tether.domain.models import CredentialRef

__all__ = ["SecretStore"]


@runtime_checkable
class SecretStore(Protocol):
    """Durable credential payloads (API keys, client secrets, refresh tokens) of connections.

    A change is three steps so that a failure at any point leaves the record and the secret
    consistent: :meth:`put` a new version (others untouched), write the record that points at
    it, then :meth:`retire` the superseded version, or retire the new one if the record could
    not be written.
    """

    backend: str

    def put(
        self,
        *,
        tenant_id: str,
        connection_id: str,
        provider: str,
        payload: Mapping[str, Any],
    ) -> CredentialRef:
        """Store ``payload`` as a new version and return the reference to keep on the record.
        Raises (a retryable :class:`~tether.domain.errors.BackendUnavailable` when the
        backend failed) with nothing stored."""
        ...

    def get(self, *, tenant_id: str, connection_id: str, ref: CredentialRef) -> dict[str, Any]:
        """The payload ``ref`` names. :class:`~tether.domain.errors.NotFound` when that version
        is gone or retired (re-read the record: it may point at a newer one)."""
        ...

    def retire(self, *, tenant_id: str, connection_id: str, ref: CredentialRef) -> None:
        """Make one version unreadable for good (superseded, or written for a record that
        never landed). Idempotent."""
        ...

    def delete(self, *, tenant_id: str, connection_id: str, ref: CredentialRef | None) -> None:
        """Destroy every version of the connection's credentials: from then on :meth:`get`
        of any of them is :class:`~tether.domain.errors.NotFound`. Idempotent."""
        ...
