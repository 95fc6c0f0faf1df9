"""The mutable records behind :mod:`tether_emulators.dataset_api`: named datasets that tests
add to, update and delete from, stamped by a clock that never repeats a millisecond, and the
opaque cursor that continues after an id."""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["MAX_ADD", "MAX_RECORDS", "Dataset", "decode_cursor", "encode_cursor"]

MAX_RECORDS = 5_000_000
MAX_ADD = 1_000_000
_TICK = timedelta(milliseconds=1)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def encode_cursor(after: int) -> str:
    """The opaque cursor that continues after record ``after``."""
    return base64.urlsafe_b64encode(f"id>{after}".encode()).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> int:
    """The id a cursor continues after; ``ValueError`` when it is not one of ours."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("not a cursor") from None
    prefix, _, number = text.partition(">")
    if prefix != "id" or not number.isdigit():
        raise ValueError("not a cursor")
    return int(number)


@dataclass
class _Record:
    id: int
    name: str
    version: int
    updated_at: datetime
    deleted: bool = False

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "updated_at": _stamp(self.updated_at),
        }
        if self.deleted:
            body["deleted"] = True
        return body


class Dataset:
    """One named, mutable set of records. Safe to change from a test thread while server
    threads read it."""

    def __init__(self, name: str, *, tombstones: bool, clock: Callable[[], datetime]) -> None:
        self.name = name
        self.tombstones = tombstones
        self._clock = clock
        self._lock = threading.Lock()
        # Ids only grow and a record is never re-inserted, so insertion order is id order.
        self._records: dict[int, _Record] = {}
        self._next_id = 1
        self._last_stamp: datetime | None = None

    def _now(self) -> datetime:
        # Strictly increasing at the millisecond an updated_at shows: no two changes share one.
        now = self._clock().astimezone(UTC)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        if self._last_stamp is not None and now <= self._last_stamp:
            now = self._last_stamp + _TICK
        self._last_stamp = now
        return now

    def add(self, count: int) -> list[int]:
        """Add ``count`` new records; their ids."""
        if not 0 <= count <= MAX_ADD:
            raise ValueError(f"add 0..{MAX_ADD} records at a time")
        with self._lock:
            if len(self._records) + count > MAX_RECORDS:
                raise ValueError(f"a dataset holds at most {MAX_RECORDS} records")
            ids = list(range(self._next_id, self._next_id + count))
            for number in ids:
                self._records[number] = _Record(number, f"{self.name} {number}", 1, self._now())
            self._next_id += count
            return ids

    def _live(self, ids: Iterable[int]) -> list[_Record]:
        found = []
        for number in ids:
            record = self._records.get(number)
            if record is None or record.deleted:
                raise KeyError(number)
            found.append(record)
        return found

    def update(self, ids: Iterable[int]) -> list[int]:
        """Change records ``ids`` (a new version and ``updated_at``); ``KeyError`` for an id
        that is absent or deleted, before anything changes."""
        with self._lock:
            records = self._live(list(ids))
            for record in records:
                record.version += 1
                record.name = f"{self.name} {record.id} v{record.version}"
                record.updated_at = self._now()
            return [record.id for record in records]

    def delete(self, ids: Iterable[int]) -> list[int]:
        """Delete records ``ids`` (tombstone them, in a dataset with tombstones)."""
        with self._lock:
            records = self._live(list(ids))
            for record in records:
                if self.tombstones:
                    record.deleted = True
                    record.updated_at = self._now()
                else:
                    del self._records[record.id]
            return [record.id for record in records]

    def records(self, *, include_deleted: bool = True) -> list[dict[str, Any]]:
        """Every record as served, in id order."""
        with self._lock:
            return [
                record.payload()
                for record in self._records.values()
                if include_deleted or not record.deleted
            ]

    def ids(self) -> list[int]:
        """The ids of the records that are not deleted, in order."""
        with self._lock:
            return [n for n, record in self._records.items() if not record.deleted]

    def select(
        self, *, after: int, since: datetime | None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """The records with an id above ``after`` changed after ``since``, in id order; the
        first ``limit`` of them when given (a page and one more, for a cursor page: what it
        builds stays the size of a page however large the dataset)."""
        found: list[dict[str, Any]] = []
        with self._lock:
            for number, record in self._records.items():
                if number > after and (since is None or record.updated_at > since):
                    found.append(record.payload())
                    if limit is not None and len(found) >= limit:
                        break
        return found
