"""Sync: scheduled, incremental data sync of a connection's records.

This package holds, so far, what a sync *is*: the definition
(:class:`~tether.catalog.sync_definition.SyncDefinition`, which the catalog's schema
validates and this package re-exports), the checks of a tenant's own definition
(:mod:`tether.sync.definitions`), the named quirk hooks (:mod:`tether.sync.hooks`), where the
modified-since value goes in a request (:mod:`tether.sync.outgoing`) and how timestamps are
written and read (:mod:`tether.sync.timestamps`); and how a definition is walked: its pages
through fetch's steps with a resumable state after each (:mod:`tether.sync.walker`), its
records' ids, updated-at values and tombstones (:mod:`tether.sync.extraction`).

No entry point imports this package: loading it costs nothing to a function that does not
sync.
"""

from __future__ import annotations

from tether.catalog.sync_definition import (
    Incremental,
    SyncDefinition,
    SyncHooks,
    SyncRequest,
    Tombstone,
    parse_frequency,
)
from tether.sync.definitions import INVALID_SYNC, check_hooks, parse_definition

__all__ = [
    "INVALID_SYNC",
    "Incremental",
    "SyncDefinition",
    "SyncHooks",
    "SyncRequest",
    "Tombstone",
    "check_hooks",
    "parse_definition",
    "parse_frequency",
]
