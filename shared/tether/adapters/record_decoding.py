"""Stored JSON back into models, one record at a time, for every store adapter.

A record that no longer decodes (written by an older, laxer version, damaged, or beyond
pydantic's 200-level JSON nesting) must not break readers of other records: a listing skips
it and names it (:func:`decode_many`), a read of that one record raises
:class:`~tether.domain.errors.RecordUnreadable` (:func:`decode_one`). Either way one log line
names the record's id and the kind of failure, never its content (which may hold
credentials or a caller's data).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from tether.domain.errors import RecordUnreadable

__all__ = ["decode_many", "decode_one", "is_readable"]

log = logging.getLogger("tether.store")

M = TypeVar("M", bound=BaseModel)


def _failure(model: type[M], raw: object) -> tuple[M | None, str]:
    """``(record, "")``, or ``(None, why)`` with ``why`` safe to log (an error type)."""
    if not isinstance(raw, str | bytes):
        return None, "not a JSON string"
    try:
        return model.model_validate_json(raw), ""
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False, include_context=False)[0]
        return None, str(first["type"])


def is_readable(model: type[BaseModel], raw: object) -> bool:
    """Whether ``raw`` decodes as ``model`` (nothing logged)."""
    return _failure(model, raw)[0] is not None


def decode_one(model: type[M], raw: object, *, record_id: str) -> M:
    """``raw`` (a stored JSON string) as ``model``; :class:`RecordUnreadable` if it is not."""
    record, why = _failure(model, raw)
    if record is None:
        log.error(
            "unreadable %s record %s (%s)",
            model.__name__,
            record_id,
            why,
            extra={"record_id": record_id},
        )
        raise RecordUnreadable(
            f"the stored {model.__name__} record cannot be read; delete it and create it again"
        )
    return record


def decode_many(model: type[M], rows: Iterable[tuple[str, object]]) -> tuple[list[M], list[str]]:
    """The records of ``(record id, stored JSON)`` rows that decode, in order, and the ids of
    those that do not (each logged by id)."""
    records: list[M] = []
    unreadable: list[str] = []
    for record_id, raw in rows:
        try:
            records.append(decode_one(model, raw, record_id=record_id))
        except RecordUnreadable:
            unreadable.append(record_id)
    return records, unreadable
