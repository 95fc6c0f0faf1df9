"""What the ``syncs`` and ``records`` functions do for a tenant: list a connection's syncs,
change a sync's settings (or write a sync of the tenant's own), start a run, list runs, and
read the synced records as changes. Every operation first reads the connection as the caller
(another tenant's, or an unknown one, is ``CONNECTION_NOT_FOUND``).

A catalog sync is off until the tenant enables it; a tenant's own sync is on once written.
Enabling a sync makes it due at once (its first run starts at the scheduler's next tick).

A tenant writes syncs of its own on the generic API connections only (``rest_api``,
``graphql_api``: the tenant describes an API the catalog does not know); a catalog
provider's syncs are the catalog's, which the tenant enables and schedules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from tether.catalog import Catalog
from tether.catalog.sync_definition import SyncDefinition, parse_frequency
from tether.connections.service import ConnectionService
from tether.domain.clock import Clock
from tether.domain.errors import Conflict, InvalidRequest
from tether.domain.models import Connection, Principal
from tether.domain.sync_runs import MAX_SYNCS, SyncRun, SyncSchedule
from tether.domain.synced_records import ChangePage
from tether.ports import RecordStore, SyncStateStore
from tether.sync.connection_syncs import NamedSync, connection_syncs, sync_named
from tether.sync.definitions import INVALID_SYNC, parse_definition
from tether.sync.runner import SyncRunner
from tether.sync.schedules import change_schedule

__all__ = [
    "CUSTOM_SYNC_NOT_SUPPORTED",
    "CUSTOM_SYNC_PROVIDERS",
    "SYNC_RUN_ACTIVE",
    "TOO_MANY_SYNCS",
    "SyncChange",
    "SyncService",
    "SyncState",
]

SYNC_RUN_ACTIVE = "SYNC_RUN_ACTIVE"
TOO_MANY_SYNCS = "TOO_MANY_SYNCS"
CUSTOM_SYNC_NOT_SUPPORTED = "CUSTOM_SYNC_NOT_SUPPORTED"
# The catalog entries whose connections take a tenant's own sync definitions.
CUSTOM_SYNC_PROVIDERS = frozenset({"rest_api", "graphql_api"})


@dataclass(frozen=True, slots=True)
class SyncChange:
    """A ``PUT``: the fields the caller sent (``None``: left as they are); ``definition``
    only for a sync of the tenant's own."""

    enabled: bool | None = None
    frequency: str | None = None
    definition: dict[str, object] | None = None


@dataclass(frozen=True, slots=True)
class SyncState:
    """A sync as the API shows it: its definition and schedule, and its run going, if any."""

    sync: NamedSync
    active_run: SyncRun | None

    @property
    def enabled(self) -> bool:
        schedule = self.sync.schedule
        return schedule.enabled if schedule is not None else False

    @property
    def status(self) -> str:
        """``running``, ``paused``, ``disabled`` or ``scheduled``."""
        schedule = self.sync.schedule
        if self.active_run is not None:
            return "running"
        if schedule is not None and schedule.paused_reason is not None:
            return "paused"
        return "scheduled" if self.enabled else "disabled"


def _field_error(field: str, problem: str) -> InvalidRequest:
    return InvalidRequest(
        f"The sync is invalid: {field}: {problem}",
        code=INVALID_SYNC,
        details={"errors": [{"field": field, "problem": problem}]},
    )


def _custom_sync_refused() -> InvalidRequest:
    problem = (
        "syncs of the tenant's own are for rest_api and graphql_api connections; "
        "this provider's syncs are the catalog's (set enabled and frequency)"
    )
    return InvalidRequest(
        f"A sync definition is not accepted on this connection: {problem}",
        code=CUSTOM_SYNC_NOT_SUPPORTED,
        details={"errors": [{"field": "definition", "problem": problem}]},
    )


class SyncService:
    def __init__(
        self,
        *,
        state: SyncStateStore,
        records: RecordStore,
        runner: SyncRunner,
        connections: ConnectionService,
        catalog: Callable[[], Catalog],
        clock: Clock,
    ) -> None:
        self._state = state
        self._records = records
        self._runner = runner
        self._connections = connections
        self._catalog = catalog
        self._clock = clock

    def _sync(self, connection: Connection, name: str) -> NamedSync:
        schedule = self._state.get_sync(connection.tenant_id, connection.id, name)
        return sync_named(self._catalog().get(connection.provider), name, schedule)

    def _state_of(self, connection: Connection, named: NamedSync) -> SyncState:
        active = self._state.active_run(connection.tenant_id, connection.id, named.name)
        return SyncState(named, active)

    def list_syncs(self, principal: Principal, connection_id: str) -> list[SyncState]:
        connection = self._connections.get(principal, connection_id)
        provider = self._catalog().get(connection.provider)
        schedules = self._state.list_syncs(connection.tenant_id, connection.id)
        return [
            self._state_of(connection, named) for named in connection_syncs(provider, schedules)
        ]

    def get_sync(self, principal: Principal, connection_id: str, name: str) -> SyncState:
        connection = self._connections.get(principal, connection_id)
        return self._state_of(connection, self._sync(connection, name))

    def put_sync(
        self, principal: Principal, connection_id: str, name: str, change: SyncChange
    ) -> SyncState:
        connection = self._connections.get(principal, connection_id)
        provider = self._catalog().get(connection.provider)
        catalog_sync = provider.validated_syncs.get(name)
        written: SyncDefinition | None = None
        if change.definition is not None:
            if catalog_sync is not None:
                raise _field_error("definition", "a catalog sync's definition cannot be changed")
            if connection.provider not in CUSTOM_SYNC_PROVIDERS:
                raise _custom_sync_refused()
            written = parse_definition(change.definition, name=name)
        elif catalog_sync is None:
            stored = self._state.get_sync(connection.tenant_id, connection.id, name)
            if stored is None or stored.definition is None:
                raise _field_error("definition", "required for a sync the catalog does not define")
        if change.frequency is not None:
            try:
                parse_frequency(change.frequency)
            except ValueError as exc:
                raise _field_error("frequency", str(exc)) from None
        now = self._clock.now()
        existing = self._state.get_sync(connection.tenant_id, connection.id, name)
        if existing is None:
            self._check_room(connection)
        # A new sync of the tenant's own runs; a catalog sync waits until it is enabled.
        enabled = change.enabled
        if enabled is None and existing is None:
            enabled = catalog_sync is None

        def apply(schedule: SyncSchedule, moment: datetime = now) -> None:
            if written is not None:
                schedule.definition = written.model_dump(mode="json", exclude_none=True)
            if change.frequency is not None:
                schedule.frequency = change.frequency
            if enabled is not None:
                schedule.enabled = enabled
            if not schedule.enabled:
                schedule.next_run_at = None
            elif schedule.next_run_at is None:
                schedule.next_run_at = moment

        change_schedule(self._state, connection.tenant_id, connection.id, name, apply, now=now)
        return self._state_of(connection, self._sync(connection, name))

    def _check_room(self, connection: Connection) -> None:
        """``TOO_MANY_SYNCS`` (409) when the connection holds ``MAX_SYNCS`` already: a listing
        shows that many, and a sync past them would run unseen."""
        if len(self._state.list_syncs(connection.tenant_id, connection.id)) >= MAX_SYNCS:
            raise Conflict(
                f"this connection holds {MAX_SYNCS} syncs, the most it may: change one of "
                "them instead",
                code=TOO_MANY_SYNCS,
            )

    def start_run(
        self, principal: Principal, connection_id: str, name: str, *, full: bool
    ) -> SyncRun:
        """Start a run now; ``SYNC_RUN_ACTIVE`` (409, ``details.run_id``) when one is going."""
        connection = self._connections.get(principal, connection_id)
        named = self._sync(connection, name)
        started = self._runner.start(connection, named, full=full)
        if not started.started:
            self._runner.revive(started.run)  # a run whose task was lost goes on
            raise Conflict(
                "a run of this sync is already going",
                code=SYNC_RUN_ACTIVE,
                details={"run_id": started.run.id},
            )
        return started.run

    def list_runs(
        self, principal: Principal, connection_id: str, name: str, *, limit: int = 20
    ) -> list[SyncRun]:
        connection = self._connections.get(principal, connection_id)
        self._sync(connection, name)
        return self._state.list_runs(connection.tenant_id, connection.id, name, limit=limit)

    def read_records(
        self,
        principal: Principal,
        connection_id: str,
        model: str,
        *,
        cursor: str | None,
        modified_after: datetime | None,
        limit: int,
    ) -> ChangePage:
        connection = self._connections.get(principal, connection_id)
        return self._records.read_changes(
            connection.tenant_id,
            connection.id,
            model,
            cursor=cursor,
            modified_after=modified_after,
            limit=limit,
        )
