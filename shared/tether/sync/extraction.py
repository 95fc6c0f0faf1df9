"""What a sync reads from one record of a page: its id (``id_path``), when it last changed
(``updated_at_path``, through the ``updated_at`` hook when one is named), and whether it is a
deletion (a tombstone, ``deletes: {tombstone_path, tombstone_value}``).

A record without a usable id (missing, an object, a boolean, empty, or longer than
:data:`MAX_ID_CHARS`) cannot be stored or compared between runs: it is skipped (its position
in the page noted, for the run's rejected records), never allowed to fail the page it came in
(one poisoned record must not break a run of many).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from tether.catalog.sync_definition import SyncDefinition, Tombstone
from tether.http.pagination import get_path
from tether.sync.hooks import UPDATED_AT_HOOKS, UpdatedAtHook
from tether.sync.timestamps import parse_updated_at

__all__ = ["MAX_ID_CHARS", "Extracted", "RecordReader", "SyncedRecord"]

MAX_ID_CHARS = 512
_SHORT_INT = 10**18  # an int id whose text is surely short enough


class SyncedRecord(NamedTuple):
    """One record as a page delivered it: ``payload`` is the record itself (JSON);
    ``position``: its index in the page's records. A tuple: one is made per record read, and
    a frozen dataclass costs twice as much to make."""

    id: str
    payload: Any
    updated_at: datetime | None
    deleted: bool
    position: int = 0


@dataclass(frozen=True, slots=True)
class Extracted:
    """The records of one page that have an id, and the positions of those that did not."""

    records: list[SyncedRecord]
    skipped_at: list[int]

    @property
    def skipped(self) -> int:
        return len(self.skipped_at)


def _record_id(value: Any) -> str | None:
    if type(value) is str:
        text: str = value
    elif isinstance(value, str | int) and not isinstance(value, bool):
        text = str(value)
    else:
        return None
    return text if 0 < len(text) <= MAX_ID_CHARS else None


class RecordReader:
    """Reads records the way ``definition`` says (its paths, tombstone and hook)."""

    def __init__(self, definition: SyncDefinition) -> None:
        self._id_path = definition.id_path
        self._updated_at_path = definition.updated_at_path
        hook = definition.hooks.updated_at
        self._parse: UpdatedAtHook = parse_updated_at if hook is None else UPDATED_AT_HOOKS[hook]
        deletes = definition.deletes
        self._tombstone = deletes if isinstance(deletes, Tombstone) else None

    def _is_tombstone(self, record: Any) -> bool:
        tombstone = self._tombstone
        if tombstone is None:
            return False
        value = get_path(record, tombstone.tombstone_path)
        if tombstone.tombstone_value is None:
            return bool(value)
        return bool(
            value == tombstone.tombstone_value and type(value) is type(tombstone.tombstone_value)
        )

    def read(self, records: Sequence[Any]) -> Extracted:
        found: list[SyncedRecord] = []
        skipped_at: list[int] = []
        id_of = _reader(self._id_path)
        updated_of = None if self._updated_at_path is None else _reader(self._updated_at_path)
        # top-level keys (the common paths) read straight from a record object, without a call
        id_key = None if "." in self._id_path else self._id_path
        updated_key = self._updated_at_path
        if updated_key is not None and "." in updated_key:
            updated_key = None
        parse = self._parse
        tombstones = self._tombstone is not None
        append = found.append
        # made as NamedTuple._make makes one, without a Python-level __new__ call per record
        make = tuple.__new__
        for index, record in enumerate(records):
            plain = type(record) is dict
            raw_id = record.get(id_key) if plain and id_key is not None else id_of(record)
            # the common ids (text of a sane length, a sane int) without a call
            if type(raw_id) is str and 0 < len(raw_id) <= MAX_ID_CHARS:
                record_id: str | None = raw_id
            elif type(raw_id) is int and -_SHORT_INT < raw_id < _SHORT_INT:
                record_id = str(raw_id)
            else:
                record_id = _record_id(raw_id)
            if record_id is None:
                skipped_at.append(index)
                continue
            if updated_of is None:
                updated_at = None
            elif plain and updated_key is not None:
                updated_at = parse(record.get(updated_key))
            else:
                updated_at = parse(updated_of(record))
            deleted = tombstones and self._is_tombstone(record)
            append(make(SyncedRecord, (record_id, record, updated_at, deleted, index)))
        return Extracted(found, skipped_at)


def _reader(path: str) -> Callable[[Any], Any]:
    """``get_path`` for ``path``; a top-level key read straight from a record object (the
    common case, done for every record of every page)."""
    if "." in path:
        return lambda record: get_path(record, path)

    def key(record: Any) -> Any:
        return record.get(path) if type(record) is dict else get_path(record, path)

    return key
