"""The record ports on Cloud Firestore (native mode): a repository per port over a shared
:class:`FirestoreDatabase`, and :class:`FirestoreConnectionStore`, all of them as one object.
Importing this package imports the Firestore client library: import it only where the
Firestore store is chosen."""

from tether.adapters.firestore.audit import FirestoreAuditLog
from tether.adapters.firestore.connect_sessions import FirestoreConnectSessions
from tether.adapters.firestore.connections import FirestoreConnections
from tether.adapters.firestore.deliveries import FirestoreDeliveries
from tether.adapters.firestore.documents import FirestoreDatabase, firestore_client
from tether.adapters.firestore.leases import FirestoreLeases
from tether.adapters.firestore.oauth_states import FirestoreOAuthStates
from tether.adapters.firestore.purge import FirestorePurge
from tether.adapters.firestore.rate_buckets import FirestoreRateBuckets
from tether.adapters.firestore.records import FirestoreRecords
from tether.adapters.firestore.store import FirestoreConnectionStore
from tether.adapters.firestore.sync_state import FirestoreSyncState
from tether.adapters.firestore.tenant_settings import FirestoreTenantSettings
from tether.adapters.firestore.webhook_events import FirestoreWebhookEvents

__all__ = [
    "FirestoreAuditLog",
    "FirestoreConnectSessions",
    "FirestoreConnectionStore",
    "FirestoreConnections",
    "FirestoreDatabase",
    "FirestoreDeliveries",
    "FirestoreLeases",
    "FirestoreOAuthStates",
    "FirestorePurge",
    "FirestoreRateBuckets",
    "FirestoreRecords",
    "FirestoreSyncState",
    "FirestoreTenantSettings",
    "FirestoreWebhookEvents",
    "firestore_client",
]
