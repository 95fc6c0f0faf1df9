"""Which sealed credential versions the "db" secret store has retired.

The db store's ciphertext lives on the connection record, so a superseded version stays
decryptable by whoever still holds its envelope: a reader that loaded the record before a
change, a copy of an old record. :class:`~tether.ports.SecretStore` promises that a retired
version, and every version of a deleted connection, can no longer be read; the db store keeps
that promise with tombstones kept next to the records (the embedded database, or Firestore).

A tombstone names the SHA-256 of the envelope (:func:`version_of`), never the envelope, or
:data:`ALL_VERSIONS` for a deleted connection; a connection's per-version tombstones fold into
that one when it is deleted. A version's tombstone also names the key that sealed it, and
lives as long as that key: once ``tether keys retire`` has removed the key from the keyring
nothing can open the envelope any more, and :meth:`RetiredVersions.forget_key` drops its
tombstones. Housekeeping drops the tombstones older than their retention
(``TETHER_RETENTION_SECRET_TOMBSTONES_DAYS``, :meth:`RetiredVersions.purge_retired`): by then
no reader still holds a record from before the change, and a retired envelope lives on only in
copies made outside Tether, which the keyring guards (retire its key to make them unreadable).
So they number at most the credential changes and deleted connections of one retention.
"""

from __future__ import annotations

import hashlib
import threading
from datetime import datetime
from typing import Protocol, runtime_checkable

from tether.domain.clock import Clock, SystemClock

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

    def retire(
        self, tenant_id: str, connection_id: str, version: str, *, key_id: str | None = None
    ) -> None:
        """Record ``version`` (or :data:`ALL_VERSIONS`) of the connection as retired, for
        good (``key_id``: the key that sealed it, see :meth:`forget_key`). Idempotent.
        Retiring :data:`ALL_VERSIONS` may drop the connection's other tombstones: it covers
        them."""
        ...

    def forget_key(self, key_id: str) -> int:
        """Drop the tombstones of versions sealed under ``key_id``, a key no longer in the
        keyring (nothing can open those envelopes now); returns how many. Tombstones of
        :data:`ALL_VERSIONS` are never dropped."""
        ...

    def purge_retired(self, before: datetime) -> int:
        """Drop every tombstone (:data:`ALL_VERSIONS` ones too) written at or before
        ``before``, of every tenant; returns how many. Housekeeping calls it with the
        tombstones' retention."""
        ...

    def is_retired(self, tenant_id: str, connection_id: str, version: str) -> bool:
        """``True`` when ``version`` or :data:`ALL_VERSIONS` of the connection is retired."""
        ...


class MemoryRetiredVersions:
    """Tombstones in this process's memory: for one process that owns its records (tests, a
    throwaway store); a deployment uses the store's own (SQLite or Firestore)."""

    def __init__(self, *, clock: Clock | None = None) -> None:
        self._lock = threading.Lock()
        self._clock: Clock = clock or SystemClock()
        # (tenant, connection, version) -> (sealing key id, retired at)
        self._retired: dict[tuple[str, str, str], tuple[str | None, datetime]] = {}

    def retire(
        self, tenant_id: str, connection_id: str, version: str, *, key_id: str | None = None
    ) -> None:
        with self._lock:
            if version == ALL_VERSIONS:
                self._retired = {
                    key: kept
                    for key, kept in self._retired.items()
                    if key[:2] != (tenant_id, connection_id)
                }
                key_id = None
            self._retired.setdefault(
                (tenant_id, connection_id, version), (key_id, self._clock.now())
            )

    def forget_key(self, key_id: str) -> int:
        with self._lock:
            gone = [key for key, (kid, _) in self._retired.items() if kid == key_id]
            for key in gone:
                del self._retired[key]
            return len(gone)

    def purge_retired(self, before: datetime) -> int:
        with self._lock:
            gone = [key for key, (_, at) in self._retired.items() if at <= before]
            for key in gone:
                del self._retired[key]
            return len(gone)

    def is_retired(self, tenant_id: str, connection_id: str, version: str) -> bool:
        with self._lock:
            return (tenant_id, connection_id, version) in self._retired or (
                tenant_id,
                connection_id,
                ALL_VERSIONS,
            ) in self._retired
