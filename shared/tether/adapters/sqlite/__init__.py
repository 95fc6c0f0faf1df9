"""The embedded record ports on one SQLite file (WAL): a repository per port over a shared
:class:`SqliteDatabase`, and :class:`SqliteConnectionStore`, all of them as one object."""

from tether.adapters.sqlite.audit import SqliteAuditLog
from tether.adapters.sqlite.connect_sessions import SqliteConnectSessions
from tether.adapters.sqlite.connections import SqliteConnections
from tether.adapters.sqlite.database import SqliteDatabase
from tether.adapters.sqlite.deliveries import SqliteDeliveries
from tether.adapters.sqlite.leases import SqliteLeases
from tether.adapters.sqlite.oauth_states import SqliteOAuthStates
from tether.adapters.sqlite.purge import SqlitePurge
from tether.adapters.sqlite.rate_buckets import SqliteRateBuckets
from tether.adapters.sqlite.records import SqliteRecords
from tether.adapters.sqlite.store import SqliteConnectionStore
from tether.adapters.sqlite.sync_state import SqliteSyncState
from tether.adapters.sqlite.tenant_settings import SqliteTenantSettings
from tether.adapters.sqlite.webhook_events import SqliteWebhookEvents

__all__ = [
    "SqliteAuditLog",
    "SqliteConnectSessions",
    "SqliteConnectionStore",
    "SqliteConnections",
    "SqliteDatabase",
    "SqliteDeliveries",
    "SqliteLeases",
    "SqliteOAuthStates",
    "SqlitePurge",
    "SqliteRateBuckets",
    "SqliteRecords",
    "SqliteSyncState",
    "SqliteTenantSettings",
    "SqliteWebhookEvents",
]
