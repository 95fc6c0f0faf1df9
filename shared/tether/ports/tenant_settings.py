"""A tenant's one settings record (notify URL, signing secrets). Its contract suite is
``tests/contract/test_tenant_settings_contract.py``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from tether.domain.models import AuditEvent, Page, TenantSettings

__all__ = ["TenantSettingsRepository"]


@runtime_checkable
class TenantSettingsRepository(Protocol):
    def get_tenant_settings(self, tenant_id: str) -> TenantSettings | None:
        """The tenant's record as last stored; ``None`` when it has none. One that no longer
        decodes is :class:`~tether.domain.errors.RecordUnreadable`."""
        ...

    def put_tenant_settings(
        self,
        settings: TenantSettings,
        *,
        expected_version: int | None,
        audit: Sequence[AuditEvent] = (),
    ) -> TenantSettings:
        """Compare-and-set of the tenant's one settings record. ``expected_version=None``
        creates it with ``version = 1``; otherwise writes ``version = expected_version + 1``
        only if the stored record still has ``expected_version``. Either way a mismatch (it
        exists already, is missing, or changed) is
        :class:`~tether.domain.errors.VersionConflict`: re-read and decide again; of racing
        writers exactly one wins. Returns what was stored.

        ``audit`` commits in the same atomic write, as for
        :meth:`~tether.ports.ConnectionRepository.update_connection`: entries of another
        tenant are :class:`~tether.domain.errors.InvalidRequest`, an entry id already used is
        :class:`~tether.domain.errors.Conflict`, and either way nothing is written."""
        ...

    def scan_tenant_settings(
        self, *, cursor: str | None = None, limit: int = 200
    ) -> Page[TenantSettings]:
        """Every tenant's settings record, in a fixed order of the backend's choosing;
        ``cursor`` (opaque) continues a previous page. For key rotation. Records that no
        longer decode are named in ``Page.unreadable``. A ``limit`` below 1 is
        :class:`~tether.domain.errors.InvalidRequest`."""
        ...
