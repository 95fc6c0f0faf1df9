"""A connection's syncs follow its lifecycle (a listener of
:class:`~tether.connections.events.ConnectionEvents`):

* ``connection.needs_reauth`` pauses every stored sync with ``paused_reason =
  needs_reauth`` (a run that meets the status pauses its sync too, see the runner);
* ``connection.reconnected`` / ``connection.recovered`` resume the syncs paused for that
  reason, due at once when enabled.

(A deleted connection's records and syncs go with it: ``connections.data_purge``.)
"""

from __future__ import annotations

from tether.connections.events import ConnectionEvent
from tether.domain.clock import Clock
from tether.domain.models import Connection
from tether.domain.sync_runs import SyncSchedule
from tether.ports import SyncStateStore
from tether.sync.schedules import change_schedule

__all__ = ["NEEDS_REAUTH", "SyncLifecycle"]

NEEDS_REAUTH = "needs_reauth"


class SyncLifecycle:
    def __init__(self, *, state: SyncStateStore, clock: Clock) -> None:
        self._state = state
        self._clock = clock

    def follow(self, event: ConnectionEvent, connection: Connection) -> None:
        """The listener of connection events."""
        if event == ConnectionEvent.NEEDS_REAUTH:
            self.pause(connection)
        elif event in (ConnectionEvent.RECONNECTED, ConnectionEvent.RECOVERED):
            self.resume(connection)

    def pause(self, connection: Connection) -> None:
        """Pause every stored sync of ``connection`` for ``needs_reauth``."""
        self._set_paused(connection, NEEDS_REAUTH)

    def resume(self, connection: Connection) -> None:
        """Resume the syncs paused for ``needs_reauth``: due at once when enabled."""
        self._set_paused(connection, None)

    def _set_paused(self, connection: Connection, reason: str | None) -> None:
        now = self._clock.now()
        for stored in self._state.list_syncs(connection.tenant_id, connection.id):
            if reason is None and stored.paused_reason != NEEDS_REAUTH:
                continue
            if reason is not None and stored.paused_reason == reason:
                continue

            def change(schedule: SyncSchedule) -> None:
                schedule.paused_reason = reason
                if reason is None and schedule.enabled:
                    schedule.next_run_at = now

            change_schedule(
                self._state, connection.tenant_id, connection.id, stored.name, change, now=now
            )
