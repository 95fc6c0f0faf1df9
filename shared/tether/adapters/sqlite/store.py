"""Every record port over one SQLite file, as one object (:class:`SqliteConnectionStore`,
a :class:`~tether.ports.ConnectionStore`): what the composition root builds for
``TETHER_STORE=sqlite``.

The facade holds nothing of its own: it is the repositories of this package
(:mod:`.connections`, :mod:`.audit`, :mod:`.oauth_states`, :mod:`.connect_sessions`,
:mod:`.webhook_events`,
:mod:`.leases`, :mod:`.rate_buckets`, :mod:`.tenant_settings`, :mod:`.deliveries`,
:mod:`.records`, :mod:`.sync_state`, :mod:`.purge`) over one shared
:class:`~.database.SqliteDatabase`, so a change and its audit entries still commit in one
transaction.
"""

from __future__ import annotations

from pathlib import Path

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
from tether.adapters.sqlite.sync_state import SqliteSyncState
from tether.adapters.sqlite.tenant_settings import SqliteTenantSettings
from tether.adapters.sqlite.webhook_events import SqliteWebhookEvents
from tether.domain.retention import Retention

__all__ = ["SqliteConnectionStore"]


class SqliteConnectionStore(
    SqliteConnections,
    SqliteAuditLog,
    SqliteOAuthStates,
    SqliteConnectSessions,
    SqliteWebhookEvents,
    SqliteLeases,
    SqliteRateBuckets,
    SqliteTenantSettings,
    SqliteDeliveries,
    SqliteRecords,
    SqliteSyncState,
    SqlitePurge,
):
    """The file at ``path``; ``retention`` says how long deliveries and audit entries are
    kept (purged by :meth:`purge_expired`); the other records carry their own expiry. Each
    base class keeps its ``_database`` (and the purge its ``_retention``), set here once
    for all of them."""

    def __init__(
        self,
        path: Path | str,
        *,
        busy_timeout_ms: int = 10_000,
        retention: Retention | None = None,
    ) -> None:
        self._database = SqliteDatabase(path, busy_timeout_ms=busy_timeout_ms)
        self._retention = retention or Retention()

    @property
    def database(self) -> SqliteDatabase:
        """The shared file, to build a single repository over it."""
        return self._database

    def close(self) -> None:
        self._database.close()
