"""ConnectionStore on Cloud Firestore (native mode). Importing this package imports the
Firestore client library: import it only where the Firestore store is chosen."""

from tether.adapters.firestore.store import FirestoreConnectionStore, firestore_client

__all__ = ["FirestoreConnectionStore", "firestore_client"]
