"""The interfaces every backend implements. Services depend on these and nothing else, each
on the narrow port(s) it uses.

One port per aggregate or capability, each in its own module with one contract test suite in
``tests/contract/`` that every adapter passes: the embedded adapters always, the GCP adapters
against emulators.

==============================  =========================================================
:class:`ConnectionRepository`   connection records, their scans and lookups
:class:`AuditLog`               the audit trail (changes write theirs with the change)
:class:`OAuthStateRepository`   single-use OAuth states
:class:`ConnectSessionRepository` end users' short-lived browser sessions
:class:`WebhookEventRepository` inbound webhook events, deduplicated
:class:`LeaseStore`             named leases across instances
:class:`RateBuckets`            token buckets of the shared outbound rate limit
:class:`TenantSettingsRepository` a tenant's settings record
:class:`DeliveryRepository`     events delivered to tenants
:class:`RecordStore`            synced records, read back as changes
:class:`SyncStateStore`         syncs' schedules and runs
:class:`ExpiredRecordPurge`     housekeeping of all of the above
:class:`ConnectionStore`        all of the above over one backend (the composition root's)
:class:`SecretStore`            credential payloads
:class:`TaskQueue`              deferred work
:class:`IdempotencyKeys`        idempotency keys of action runs
==============================  =========================================================
"""

from tether.ports.audit import AuditLog
from tether.ports.connect_sessions import ConnectSessionRepository
from tether.ports.connection_store import ConnectionStore
from tether.ports.connections import ConnectionRepository
from tether.ports.deliveries import DeliveryRepository
from tether.ports.idempotency import IdempotencyKeys
from tether.ports.leases import LeaseStore
from tether.ports.oauth_states import OAuthStateRepository
from tether.ports.purge import ExpiredRecordPurge
from tether.ports.rate_buckets import RateBuckets
from tether.ports.records import RecordStore
from tether.ports.secret_store import SecretStore
from tether.ports.sync_state import SyncStateStore
from tether.ports.task_queue import TaskHandler, TaskQueue
from tether.ports.tenant_settings import TenantSettingsRepository
from tether.ports.webhook_events import WebhookEventRepository

__all__ = [
    "AuditLog",
    "ConnectSessionRepository",
    "ConnectionRepository",
    "ConnectionStore",
    "DeliveryRepository",
    "ExpiredRecordPurge",
    "IdempotencyKeys",
    "LeaseStore",
    "OAuthStateRepository",
    "RateBuckets",
    "RecordStore",
    "SecretStore",
    "SyncStateStore",
    "TaskHandler",
    "TaskQueue",
    "TenantSettingsRepository",
    "WebhookEventRepository",
]
