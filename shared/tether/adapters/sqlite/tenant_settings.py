"""SQLite :class:`~tether.ports.TenantSettingsRepository`: the ``tenant_settings`` table;
audit entries of a write go in its transaction (:class:`AuditedWrites`)."""

from __future__ import annotations

from collections.abc import Sequence

from tether.adapters.audited_writes import entries_of
from tether.adapters.record_decoding import decode_one
from tether.adapters.sqlite.audit import AuditedWrites
from tether.adapters.sqlite.database import SqliteDatabase
from tether.domain.errors import VersionConflict
from tether.domain.models import AuditEvent, Page, TenantSettings

__all__ = ["SqliteTenantSettings"]


class SqliteTenantSettings(AuditedWrites):
    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database

    def get_tenant_settings(self, tenant_id: str) -> TenantSettings | None:
        row = (
            self._database.db()
            .execute("SELECT doc FROM tenant_settings WHERE tenant_id = ?", (tenant_id,))
            .fetchone()
        )
        return None if row is None else decode_one(TenantSettings, row[0], record_id=tenant_id)

    def put_tenant_settings(
        self,
        settings: TenantSettings,
        *,
        expected_version: int | None,
        audit: Sequence[AuditEvent] = (),
    ) -> TenantSettings:
        entries = entries_of(settings.tenant_id, audit)
        stale = VersionConflict("the tenant settings were changed by someone else; re-read them")
        version = 1 if expected_version is None else expected_version + 1
        stored = settings.model_copy(update={"version": version})
        with self._database.write() as db:
            if expected_version is None:
                cur = db.execute(
                    "INSERT INTO tenant_settings (tenant_id, version, doc) VALUES (?,?,?) "
                    "ON CONFLICT (tenant_id) DO NOTHING",
                    (stored.tenant_id, stored.version, stored.model_dump_json()),
                )
            else:
                cur = db.execute(
                    "UPDATE tenant_settings SET version = ?, doc = ? "
                    "WHERE tenant_id = ? AND version = ?",
                    (stored.version, stored.model_dump_json(), stored.tenant_id, expected_version),
                )
            if cur.rowcount != 1:
                raise stale
            self._insert_audit(db, entries)
        return stored

    def scan_tenant_settings(
        self, *, cursor: str | None = None, limit: int = 200
    ) -> Page[TenantSettings]:
        return self._database.scan(
            TenantSettings,
            "SELECT tenant_id, doc FROM tenant_settings WHERE tenant_id > ? "
            "ORDER BY tenant_id LIMIT ?",
            cursor=cursor,
            limit=limit,
        )
