"""Firestore :class:`~tether.ports.OAuthStateRepository`: ``oauth_states/<state hash>``, consumed
and replaced with an ``update_time`` precondition."""

from __future__ import annotations

from datetime import datetime

from google.api_core import exceptions as gexc
from google.cloud.firestore_v1.document import DocumentReference

from tether.adapters.firestore.documents import (
    DOCUMENT_NAME,
    OAUTH_STATES,
    FirestoreDatabase,
    Stale,
    aware,
    backend,
    decoded,
    stored_json,
)
from tether.adapters.firestore.paths import doc_id
from tether.adapters.record_decoding import decode_one
from tether.domain.errors import Conflict, InvalidRequest
from tether.domain.models import OAuthState, Page

__all__ = ["FirestoreOAuthStates"]


class FirestoreOAuthStates:
    """Single use by an ``update_time`` precondition on the consume."""

    def __init__(self, database: FirestoreDatabase) -> None:
        self._database = database

    def _state_ref(self, state_hash: str) -> DocumentReference:
        return self._database.client.collection(OAUTH_STATES).document(doc_id(state_hash))

    def create_oauth_state(self, state: OAuthState) -> None:
        ref = self._state_ref(state.state_hash)
        fields = {"record": state.model_dump_json(), "expires_at": aware(state.expires_at)}
        with backend():
            try:
                ref.create(self._database.checked(ref, fields))
            except gexc.AlreadyExists:
                raise Conflict("this OAuth state already exists") from None

    def consume_oauth_state(self, state_hash: str, *, now: datetime) -> OAuthState | None:
        ref = self._state_ref(state_hash)

        def attempt() -> OAuthState | None:
            snapshot = ref.get(field_paths=["record"])
            if not snapshot.exists:
                return None
            # the hash of a single-use state, shortened: enough to find it, no more
            before = decode_one(OAuthState, stored_json(snapshot), record_id=state_hash[:16])
            if before.used_at is not None:
                return before
            used = before.model_copy(update={"used_at": now})
            try:
                ref.update(
                    {"record": used.model_dump_json()},
                    option=self._database.unchanged_since(snapshot),
                )
            except (gexc.FailedPrecondition, gexc.NotFound):
                raise Stale from None
            return before

        with backend():
            return self._database.optimistic(attempt)

    def scan_oauth_states(self, *, cursor: str | None = None, limit: int = 200) -> Page[OAuthState]:
        """By document name; the cursor is the last state's hash."""
        if limit < 1:
            raise InvalidRequest("limit must be at least 1")
        query = self._database.client.collection(OAUTH_STATES).order_by(DOCUMENT_NAME)
        if cursor is not None:
            query = query.start_after({DOCUMENT_NAME: self._state_ref(cursor)})
        query = query.select(["record"]).limit(limit + 1)
        with backend():
            snapshots = list(query.stream())
        page = decoded(OAuthState, snapshots[:limit])
        # the document id is the hash itself (hex, a safe id), readable record or not
        next_cursor = snapshots[limit - 1].id if len(snapshots) > limit else None
        return Page(items=page.items, next_cursor=next_cursor, unreadable=page.unreadable)

    def replace_oauth_state(self, state: OAuthState, *, expected: OAuthState) -> bool:
        """Read, compare, then update on the ``update_time`` read: a consume in between fails
        the precondition, and the state is left as the consume wrote it."""
        if state.state_hash != expected.state_hash:
            raise ValueError("a state can only replace the state of the same hash")
        ref = self._state_ref(state.state_hash)
        fields = self._database.checked(
            ref, {"record": state.model_dump_json(), "expires_at": aware(state.expires_at)}
        )
        with backend():
            snapshot = ref.get(field_paths=["record"])
            if not snapshot.exists:
                return False
            stored = decode_one(OAuthState, stored_json(snapshot), record_id=state.state_hash)
            if stored != expected or stored.used_at is not None:
                return False
            try:
                ref.update(fields, option=self._database.unchanged_since(snapshot))
            except (gexc.FailedPrecondition, gexc.NotFound):
                return False
        return True
