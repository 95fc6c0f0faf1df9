"""Every record port in one: what one backend (the SQLite file, the Firestore database)
provides, so the composition root can build one object and hand it to each capability,
which types it as the narrow port(s) it uses."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from tether.ports.audit import AuditLog
from tether.ports.connect_sessions import ConnectSessionRepository
from tether.ports.connections import ConnectionRepository
from tether.ports.deliveries import DeliveryRepository
from tether.ports.leases import LeaseStore
from tether.ports.oauth_states import OAuthStateRepository
from tether.ports.purge import ExpiredRecordPurge
from tether.ports.rate_buckets import RateBuckets
from tether.ports.records import RecordStore
from tether.ports.sync_state import SyncStateStore
from tether.ports.tenant_settings import TenantSettingsRepository
from tether.ports.webhook_events import WebhookEventRepository

__all__ = ["ConnectionStore"]


@runtime_checkable
class ConnectionStore(
    ConnectionRepository,
    AuditLog,
    OAuthStateRepository,
    WebhookEventRepository,
    LeaseStore,
    RateBuckets,
    TenantSettingsRepository,
    DeliveryRepository,
    RecordStore,
    SyncStateStore,
    ExpiredRecordPurge,
    ConnectSessionRepository,
    Protocol,
):
    """The record ports of one backend together. No capability depends on this whole: each
    names the ports it uses. Its promises are theirs; the ones across ports (a change and
    its audit entry in one write, the purge of every kind) hold because one backend serves
    them all."""
