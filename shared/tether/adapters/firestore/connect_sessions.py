"""Firestore :class:`~tether.ports.ConnectSessionRepository`: ``connect_sessions/<id>``, with
``tenant_id`` and ``expires_at`` beside the record (the purge's query and the TTL policy of
``infra/firestore.indexes.json``)."""

from __future__ import annotations

from datetime import datetime

from google.api_core import exceptions as gexc
from google.cloud.firestore_v1.document import DocumentReference

from tether.adapters.firestore.documents import (
    CONNECT_SESSIONS,
    FirestoreDatabase,
    Stale,
    aware,
    backend,
    stored_json,
)
from tether.adapters.firestore.paths import doc_id
from tether.adapters.record_decoding import decode_one
from tether.domain.errors import Conflict
from tether.domain.models import ConnectSession

__all__ = ["FirestoreConnectSessions"]


class FirestoreConnectSessions:
    """The revocation is a read-decide-write with an ``update_time`` precondition."""

    def __init__(self, database: FirestoreDatabase) -> None:
        self._database = database

    def _session_ref(self, session_id: str) -> DocumentReference:
        return self._database.client.collection(CONNECT_SESSIONS).document(doc_id(session_id))

    def create_connect_session(self, session: ConnectSession) -> None:
        ref = self._session_ref(session.id)
        fields = {
            "record": session.model_dump_json(),
            "tenant_id": session.tenant_id,
            "expires_at": aware(session.expires_at),
        }
        with backend():
            try:
                ref.create(self._database.checked(ref, fields))
            except gexc.AlreadyExists:
                raise Conflict("this connect session already exists") from None

    def get_connect_session(self, session_id: str) -> ConnectSession | None:
        return self._database.read_record(ConnectSession, self._session_ref(session_id), session_id)

    def revoke_connect_session(self, tenant_id: str, session_id: str, *, at: datetime) -> bool:
        ref = self._session_ref(session_id)

        def attempt() -> bool:
            snapshot = ref.get(field_paths=["record"])
            if not snapshot.exists:
                return False
            session = decode_one(ConnectSession, stored_json(snapshot), record_id=session_id)
            if session.tenant_id != tenant_id:
                return False
            if session.revoked_at is not None:
                return True
            revoked = session.model_copy(update={"revoked_at": at})
            try:
                ref.update(
                    {"record": revoked.model_dump_json()},
                    option=self._database.unchanged_since(snapshot),
                )
            except (gexc.FailedPrecondition, gexc.NotFound):
                raise Stale from None
            return True

        with backend():
            return self._database.optimistic(attempt)
