"""Which sealed credential versions the "db" secret store has retired.

The db store's ciphertext lives on the connection record, so a superseded version stays
decryptable by whoever still holds its envelope: a reader that loaded the record before a
change, a copy of an old record. :class:`~tether.ports.SecretStore` promises that a retired
version, and every version of a deleted connection, can no longer be read; the db store keeps
that promise with tombstones kept next to the records (the embedded database, or Firestore).

A tombstone names the SHA-256 of the envelope (:func:`version_of`), never the envelope, or
:data:`ALL_VERSIONS` for a deleted connection; a connection's per-version tombstones fold into
that one when it is deleted, so they number at most one per credential change of a live
connection.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Protocol, runtime_checkable

__all__ = ["ALL_VERSIONS", "MemoryRetiredVersions", "RetiredVersions", "version_of"]

ALL_VERSIONS = "*"
"""The tombstone of a deleted connection: every version of it, past and future."""


def version_of(envelope: str) -> str:
    """The tombstone key of one sealed version: not the ciphertext itself (it is secret
    material), but nothing else hashes to it."""
    return hashlib.sha256(envelope.encode()).hexdigest()


@runtime_checkable
class RetiredVersions(Protocol):
    """Tombstones of retired credential versions, shared by every instance of a deployment."""

    def retire(self, tenant_id: str, connection_id: str, version: str) -> None:
        """Record ``version`` (or :data:`ALL_VERSIONS`) of the connection as retired, for
        good. Idempotent. Retiring :data:`ALL_VERSIONS` may drop the connection's other
        tombstones: it covers them."""
        ...

    def is_retired(self, tenant_id: str, connection_id: str, version: str) -> bool:
        """``True`` when ``version`` or :data:`ALL_VERSIONS` of the connection is retired."""
        ...


class MemoryRetiredVersions:
    """Tombstones in this process's memory: for one process that owns its records (tests, a
    throwaway store); a deployment uses the store's own (SQLite or Firestore)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._retired: set[tuple[str, str, str]] = set()

    def retire(self, tenant_id: str, connection_id: str, version: str) -> None:
        with self._lock:
            if version == ALL_VERSIONS:
                self._retired = {
                    key for key in self._retired if key[:2] != (tenant_id, connection_id)
                }
            self._retired.add((tenant_id, connection_id, version))

    def is_retired(self, tenant_id: str, connection_id: str, version: str) -> bool:
        with self._lock:
            return bool(
                {(tenant_id, connection_id, version), (tenant_id, connection_id, ALL_VERSIONS)}
                & self._retired
            )
