"""``tether keys rotate``: re-encrypt every sealed value under the keyring's primary key.

Walks every record of every tenant (deleted ones hold nothing sealed), reseals the DB-held
credential payload and the sealed access token when their key id is not the primary's, and
writes each record back with compare-and-set so a concurrent change is retried, never lost.
Credentials held by Secret Manager are encrypted by Google, not by the keyring, and are counted
apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tether.adapters.db_secrets.store import CREDENTIALS_PURPOSE
from tether.crypto import Sealer
from tether.domain.clock import Clock
from tether.domain.errors import CryptoError, VersionConflict
from tether.domain.ids import IdGenerator
from tether.domain.models import AuditAction, AuditEvent, Connection, CredentialRef
from tether.ports import ConnectionStore

__all__ = ["ACCESS_TOKEN_PURPOSE", "KeyRotationService", "RotationReport"]

ACCESS_TOKEN_PURPOSE = "access_token"  # noqa: S105 - an AAD label, not a secret
_CAS_ATTEMPTS = 5


@dataclass
class RotationReport:
    scanned: int = 0
    rotated: int = 0
    already_current: int = 0
    not_applicable: int = 0
    failed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "scanned": self.scanned,
            "rotated": self.rotated,
            "already_current": self.already_current,
            "not_applicable": self.not_applicable,
            "failed": len(self.failed),
            "failed_ids": self.failed,
        }


class KeyRotationService:
    def __init__(
        self, *, store: ConnectionStore, sealer: Sealer, clock: Clock, ids: IdGenerator
    ) -> None:
        self._store = store
        self._sealer = sealer
        self._clock = clock
        self._ids = ids

    def rotate(self) -> RotationReport:
        report = RotationReport()
        cursor: str | None = None
        while True:
            page = self._store.scan_connections(cursor=cursor)
            for connection in page.items:
                report.scanned += 1
                self._rotate_one(connection, report)
            if page.next_cursor is None:
                return report
            cursor = page.next_cursor

    def _rotate_one(self, connection: Connection, report: RotationReport) -> None:
        current: Connection | None = connection
        for _ in range(_CAS_ATTEMPTS):
            if current is None:
                return
            try:
                changed = self._resealed(current)
            except CryptoError:
                report.failed.append(current.id)
                return
            if changed is None:
                sealed_here = (
                    current.credential_ref is not None and current.credential_ref.backend == "db"
                ) or current.sealed_access_token is not None
                if sealed_here:
                    report.already_current += 1
                else:
                    report.not_applicable += 1
                return
            rotated = AuditEvent(
                id=self._ids.new("aud"),
                tenant_id=current.tenant_id,
                connection_id=current.id,
                action=AuditAction.CREDENTIALS_ROTATED.value,
                actor="system:keys-rotate",
                at=self._clock.now(),
                detail={"key_id": self._sealer.primary_key_id},
            )
            try:
                self._store.update_connection(
                    changed, expected_version=current.version, audit=[rotated]
                )
            except VersionConflict:
                current = self._store.get_connection(
                    connection.tenant_id, connection.id, include_deleted=True
                )
                continue
            report.rotated += 1
            return
        report.failed.append(connection.id)

    def _resealed(self, connection: Connection) -> Connection | None:
        updates: dict[str, object] = {}
        ref = connection.credential_ref
        if ref is not None and ref.backend == "db" and self._sealer.needs_rotation(ref.locator):
            envelope = self._sealer.reseal(
                ref.locator,
                tenant_id=connection.tenant_id,
                record_id=connection.id,
                purpose=CREDENTIALS_PURPOSE,
            )
            updates["credential_ref"] = CredentialRef(
                backend="db", locator=envelope, key_id=Sealer.key_id_of(envelope)
            )
        token = connection.sealed_access_token
        if token is not None and self._sealer.needs_rotation(token):
            updates["sealed_access_token"] = self._sealer.reseal(
                token,
                tenant_id=connection.tenant_id,
                record_id=connection.id,
                purpose=ACCESS_TOKEN_PURPOSE,
            )
        if not updates:
            return None
        return connection.model_copy(update=updates)
