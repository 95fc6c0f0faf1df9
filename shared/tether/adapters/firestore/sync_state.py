"""Firestore :class:`~tether.ports.SyncStateStore`, under the connection's document
``tenants/<t>/connections/<c>``:

- ``sync_schedules/<name>``: the record, ``version``, and for the due scan ``schedulable``
  and ``next_run_at`` (a collection-group query over every tenant, served by the composite
  index (schedulable, next_run_at) of the indexes file);
- ``sync_runs/<run id>``: the record, ``id``, ``sync``, ``created_at`` (the recent runs of a
  sync: the composite index (sync, created_at desc, id desc)) and ``version``;
- ``sync_holds/<name>``: ``run_id`` of the sync's active run. :meth:`start_run` creates it
  and the run in one batch (``create()`` fails if a hold exists: of racing starts one
  commits); the save that finishes the run deletes it in the same batch.

Every change is a compare-and-set by ``update_time`` precondition, as in the rest of the
package. A run this instance wrote last is saved again without reading it first: the
``update_time`` its write returned is the precondition.
"""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from typing import Any, NamedTuple

from google.api_core import exceptions as gexc
from google.cloud.firestore_v1.base_query import FieldFilter
from google.cloud.firestore_v1.collection import CollectionReference
from google.cloud.firestore_v1.document import DocumentReference

from tether.adapters.firestore.documents import (
    DESC,
    SYNC_HOLDS,
    SYNC_RUNS,
    SYNC_SCHEDULES,
    FirestoreDatabase,
    Stale,
    aware,
    backend,
    decoded,
    stored_json,
)
from tether.adapters.firestore.paths import doc_id
from tether.adapters.record_decoding import decode_one
from tether.domain.errors import Conflict, InvalidRequest, NotFound, VersionConflict
from tether.domain.sync_runs import MAX_SYNCS, StartedRun, SyncRun, SyncSchedule
from tether.ttl_cache import TtlCache

__all__ = ["FirestoreSyncState"]


def _check_limit(limit: int) -> None:
    if limit < 1:
        raise InvalidRequest("limit must be at least 1")


class _Written(NamedTuple):
    """A run as this instance last wrote it: its version, whether active, and the document's
    ``update_time`` after that write."""

    version: int
    active: bool
    update_time: Any


class FirestoreSyncState:
    def __init__(self, database: FirestoreDatabase) -> None:
        self._database = database

    @cached_property
    def _written(self) -> TtlCache[str, _Written]:
        """The runs this instance wrote last, so that a task's next save of its run need not
        read it first (a run is saved a few times a task: claimed, checkpoints, ended). Made on
        first use: the store facade sets up its bases without calling their constructors."""
        return TtlCache(ttl=3600.0, size=1024)

    def _collection(self, tenant_id: str, connection_id: str, name: str) -> CollectionReference:
        collection: CollectionReference = self._database.connection(
            tenant_id, connection_id
        ).collection(name)
        return collection

    def _sync_ref(self, tenant_id: str, connection_id: str, name: str) -> DocumentReference:
        return self._collection(tenant_id, connection_id, SYNC_SCHEDULES).document(doc_id(name))

    def _run_ref(self, tenant_id: str, connection_id: str, run_id: str) -> DocumentReference:
        return self._collection(tenant_id, connection_id, SYNC_RUNS).document(doc_id(run_id))

    def _hold_ref(self, tenant_id: str, connection_id: str, sync: str) -> DocumentReference:
        return self._collection(tenant_id, connection_id, SYNC_HOLDS).document(doc_id(sync))

    # -- schedules ----------------------------------------------------------------------------
    def get_sync(self, tenant_id: str, connection_id: str, name: str) -> SyncSchedule | None:
        ref = self._sync_ref(tenant_id, connection_id, name)
        sync = self._database.read_record(SyncSchedule, ref, name)
        if sync is None or (sync.tenant_id, sync.connection_id, sync.name) != (
            tenant_id,
            connection_id,
            name,
        ):
            return None
        return sync

    def list_syncs(self, tenant_id: str, connection_id: str) -> list[SyncSchedule]:
        query = (
            self._collection(tenant_id, connection_id, SYNC_SCHEDULES)
            .select(["record"])
            .limit(MAX_SYNCS)
        )
        with backend():
            snapshots = list(query.stream())
        syncs = decoded(SyncSchedule, snapshots).items
        return sorted(
            (s for s in syncs if (s.tenant_id, s.connection_id) == (tenant_id, connection_id)),
            key=lambda s: s.name,
        )

    def put_sync(self, sync: SyncSchedule, *, expected_version: int | None) -> SyncSchedule:
        version = 1 if expected_version is None else expected_version + 1
        stored = sync.model_copy(update={"version": version})
        ref = self._sync_ref(sync.tenant_id, sync.connection_id, sync.name)
        fields = self._database.checked(
            ref,
            {
                "record": stored.model_dump_json(),
                "version": version,
                "schedulable": stored.schedulable,
                "next_run_at": aware(stored.next_run_at) if stored.next_run_at else None,
            },
        )
        stale = VersionConflict("the sync changed meanwhile; read it again")
        with backend():
            try:
                if expected_version is None:
                    ref.create(fields)
                    return stored
                current = ref.get(field_paths=["version"])
                if not current.exists or current.get("version") != expected_version:
                    raise stale
                ref.update(fields, option=self._database.unchanged_since(current))
            except (gexc.AlreadyExists, gexc.FailedPrecondition, gexc.NotFound):
                raise stale from None
        return stored

    def list_due_syncs(self, *, now: datetime, limit: int = 100) -> list[SyncSchedule]:
        _check_limit(limit)
        query = (
            self._database.client.collection_group(SYNC_SCHEDULES)
            .where(filter=FieldFilter("schedulable", "==", True))
            .where(filter=FieldFilter("next_run_at", "<=", aware(now)))
            .order_by("next_run_at")
            .select(["record"])
            .limit(limit)
        )
        with backend():
            snapshots = list(query.stream())
        return decoded(SyncSchedule, snapshots).items

    # -- runs ---------------------------------------------------------------------------------
    def _run_fields(self, run: SyncRun) -> dict[str, Any]:
        ref = self._run_ref(run.tenant_id, run.connection_id, run.id)
        return self._database.checked(
            ref,
            {
                "record": run.model_dump_json(),
                "id": run.id,
                "sync": run.sync,
                "created_at": aware(run.created_at),
                "version": run.version,
            },
        )

    def start_run(self, run: SyncRun) -> StartedRun:
        if not run.active or run.version != 1:
            raise InvalidRequest("a new run is queued or running, at version 1")
        hold = self._hold_ref(run.tenant_id, run.connection_id, run.sync)
        ref = self._run_ref(run.tenant_id, run.connection_id, run.id)
        fields = self._run_fields(run)

        def attempt() -> StartedRun:
            batch = self._database.client.batch()
            batch.create(hold, {"run_id": run.id})
            batch.create(ref, fields)
            try:
                results = batch.commit()
            except gexc.AlreadyExists:
                pass
            else:
                self._remember(ref, run, results[1].update_time)
                return StartedRun(started=True, run=run)
            active = self.active_run(run.tenant_id, run.connection_id, run.sync)
            if active is not None:
                return StartedRun(started=False, run=active)
            if ref.get(field_paths=["id"]).exists:
                raise Conflict("a run with this id exists already")
            raise Stale  # the hold went meanwhile: try again

        with backend():
            return self._database.optimistic(attempt)

    def get_run(self, tenant_id: str, connection_id: str, run_id: str) -> SyncRun | None:
        ref = self._run_ref(tenant_id, connection_id, run_id)
        run = self._database.read_record(SyncRun, ref, run_id)
        if run is None or (run.tenant_id, run.connection_id, run.id) != (
            tenant_id,
            connection_id,
            run_id,
        ):
            return None
        return run

    def active_run(self, tenant_id: str, connection_id: str, sync: str) -> SyncRun | None:
        with backend():
            hold = self._hold_ref(tenant_id, connection_id, sync).get()
        if not hold.exists:
            return None
        run = self.get_run(tenant_id, connection_id, str(hold.get("run_id")))
        return run if run is not None and run.active else None

    def save_run(self, run: SyncRun, *, expected_version: int) -> SyncRun:
        stored = run.model_copy(update={"version": expected_version + 1})
        ref = self._run_ref(run.tenant_id, run.connection_id, run.id)
        hold = self._hold_ref(run.tenant_id, run.connection_id, run.sync)
        fields = self._run_fields(stored)

        def attempt() -> SyncRun:
            known = self._written.get(ref.path)
            if known is not None and known.version == expected_version:
                # This instance wrote that version last: its update_time stands in for a read
                # (anyone's write since changes it, and the commit then fails as stale).
                was_active = known.active
                option = self._database.client.write_option(last_update_time=known.update_time)
            else:
                current = ref.get()
                if not current.exists:
                    raise NotFound("no such run")
                if current.get("version") != expected_version:
                    raise VersionConflict("the run changed meanwhile; read it again")
                was_active = decode_one(SyncRun, stored_json(current), record_id=run.id).active
                option = self._database.unchanged_since(current)
            if not was_active and run.active:
                raise InvalidRequest("a finished run cannot become active again")
            batch = self._database.client.batch()
            batch.update(ref, fields, option=option)
            if was_active and not run.active:
                held = hold.get()
                if held.exists and held.get("run_id") == run.id:
                    batch.delete(hold, option=self._database.unchanged_since(held))
            try:
                results = batch.commit()
            except (gexc.FailedPrecondition, gexc.NotFound):
                self._written.discard(ref.path)
                raise Stale from None
            self._remember(ref, stored, results[0].update_time)
            return stored

        with backend():
            return self._database.optimistic(attempt)

    def _remember(self, ref: DocumentReference, run: SyncRun, update_time: Any) -> None:
        self._written.put(
            ref.path, _Written(version=run.version, active=run.active, update_time=update_time)
        )

    def list_runs(
        self, tenant_id: str, connection_id: str, sync: str, *, limit: int = 20
    ) -> list[SyncRun]:
        _check_limit(limit)
        query = (
            self._collection(tenant_id, connection_id, SYNC_RUNS)
            .where(filter=FieldFilter("sync", "==", sync))
            .order_by("created_at", direction=DESC)
            .order_by("id", direction=DESC)
            .select(["record"])
            .limit(limit)
        )
        with backend():
            snapshots = list(query.stream())
        return decoded(SyncRun, snapshots).items

    def delete_connection_syncs(
        self, tenant_id: str, connection_id: str, *, limit: int = 500
    ) -> int:
        _check_limit(limit)
        removed = 0
        with backend():
            holds = self._collection(tenant_id, connection_id, SYNC_HOLDS)
            for snapshot in holds.select([]).limit(100).stream():
                snapshot.reference.delete()
            for name in (SYNC_RUNS, SYNC_SCHEDULES):
                want = min(limit - removed, 400)
                collection = self._collection(tenant_id, connection_id, name)
                snapshots = list(collection.select([]).limit(want).stream())
                if snapshots:
                    batch = self._database.client.batch()
                    for snapshot in snapshots:
                        batch.delete(snapshot.reference)
                    batch.commit()
                removed += len(snapshots)
                if removed >= limit:
                    break
        return removed
