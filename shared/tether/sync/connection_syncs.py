"""Which syncs a connection has: its provider's catalog syncs, and the tenant's own (a stored
:class:`~tether.domain.sync_runs.SyncSchedule` carrying a definition). A tenant's own sync
cannot take a catalog sync's name. A stored definition that no longer reads (a hook since
removed, a rule it breaks) is left out of the list, which it would otherwise refuse whole;
asked for by name, it says what is wrong with it."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from tether.catalog import Provider
from tether.catalog.sync_definition import SyncDefinition
from tether.domain.errors import InvalidRequest, NotFound
from tether.domain.sync_runs import SyncSchedule
from tether.sync.definitions import parse_definition

__all__ = ["NamedSync", "connection_syncs", "sync_named"]

log = logging.getLogger("tether.sync")


@dataclass(frozen=True, slots=True)
class NamedSync:
    """A sync of a connection: its definition, whether the tenant wrote it, and what is
    stored of it (``None``: nothing yet)."""

    name: str
    definition: SyncDefinition
    custom: bool
    schedule: SyncSchedule | None


def _custom(schedule: SyncSchedule) -> SyncDefinition | None:
    if schedule.definition is None:
        return None
    return parse_definition(schedule.definition)


def connection_syncs(provider: Provider, schedules: Iterable[SyncSchedule]) -> list[NamedSync]:
    """The catalog's syncs of ``provider`` and the tenant's own, by name."""
    stored = {schedule.name: schedule for schedule in schedules}
    found = {
        name: NamedSync(name, definition, False, stored.get(name))
        for name, definition in provider.validated_syncs.items()
    }
    for name, schedule in stored.items():
        if name not in found:
            try:
                definition = _custom(schedule)
            except InvalidRequest as error:
                log.warning("sync %s of %s left out: %s", name, schedule.connection_id, error.code)
                continue
            if definition is not None:
                found[name] = NamedSync(name, definition, True, schedule)
    return [found[name] for name in sorted(found)]


def sync_named(provider: Provider, name: str, schedule: SyncSchedule | None) -> NamedSync:
    """The connection's sync ``name``; ``SYNC_NOT_FOUND`` when it has none of that name."""
    catalog = provider.validated_syncs.get(name)
    if catalog is not None:
        return NamedSync(name, catalog, False, schedule)
    definition = None if schedule is None else _custom(schedule)
    if definition is None:
        raise NotFound("no such sync", code="SYNC_NOT_FOUND")
    return NamedSync(name, definition, True, schedule)
