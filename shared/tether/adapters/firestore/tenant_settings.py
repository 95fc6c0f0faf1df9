"""Firestore :class:`~tether.ports.TenantSettingsRepository`: ``tenants/<t>/settings/current``,
written in one batch with its audit entries (:class:`AuditedWrites`)."""

from __future__ import annotations

from collections.abc import Sequence

from google.api_core import exceptions as gexc
from google.cloud.firestore_v1.collection import CollectionReference
from google.cloud.firestore_v1.document import DocumentReference

from tether.adapters.audited_writes import entries_of
from tether.adapters.firestore.audit import AuditedWrites
from tether.adapters.firestore.documents import (
    SETTINGS,
    SETTINGS_DOCUMENT,
    backend,
)
from tether.domain.errors import VersionConflict
from tether.domain.models import AuditEvent, Page, TenantSettings

__all__ = ["FirestoreTenantSettings"]


class FirestoreTenantSettings(AuditedWrites):
    """``retention``: how long the audit entries its changes write are kept."""

    def _settings_ref(self, tenant_id: str) -> DocumentReference:
        settings: CollectionReference = self._database.tenant(tenant_id).collection(SETTINGS)
        return settings.document(SETTINGS_DOCUMENT)

    def get_tenant_settings(self, tenant_id: str) -> TenantSettings | None:
        ref = self._settings_ref(tenant_id)
        settings = self._database.read_record(TenantSettings, ref, tenant_id)
        return settings if settings is not None and settings.tenant_id == tenant_id else None

    def put_tenant_settings(
        self,
        settings: TenantSettings,
        *,
        expected_version: int | None,
        audit: Sequence[AuditEvent] = (),
    ) -> TenantSettings:
        """See :meth:`~tether.ports.TenantSettingsRepository.put_tenant_settings`: ``create()``
        for the first record, else an update on the ``update_time`` read with the version; one batch
        with the audit entries."""
        version = 1 if expected_version is None else expected_version + 1
        stored = settings.model_copy(update={"version": version})
        ref = self._settings_ref(stored.tenant_id)
        fields = self._database.checked(
            ref, {"record": stored.model_dump_json(), "version": version}
        )
        entries = self._audit_writes(entries_of(stored.tenant_id, audit))
        stale = VersionConflict("the tenant settings were changed by someone else; re-read them")
        with backend():
            batch = self._database.client.batch()
            if expected_version is None:
                batch.create(ref, fields)
            else:
                current = ref.get(field_paths=["version"])
                if not current.exists or current.get("version") != expected_version:
                    raise stale
                batch.update(ref, fields, option=self._database.unchanged_since(current))
            for audit_ref, audit_fields in entries:
                batch.create(audit_ref, audit_fields)
            try:
                batch.commit()
            except (gexc.FailedPrecondition, gexc.NotFound):
                raise stale from None
            except gexc.AlreadyExists:
                raise self._audit_clash(entries) or stale from None
        return stored

    def scan_tenant_settings(
        self, *, cursor: str | None = None, limit: int = 200
    ) -> Page[TenantSettings]:
        return self._database.scan_tenant_group(
            TenantSettings, SETTINGS, cursor=cursor, limit=limit
        )
