"""Synced records: what a sync run writes and what a reader of changes gets back. Pure data
and the pure rules every records store applies the same way (ids, payload hashes, sizes,
change cursors), so that both backends accept and refuse exactly the same records.

A record is keyed by ``(tenant, connection, model, record id)``. Its ``payload_hash`` is the
SHA-256 of its canonical JSON (:func:`canonical_json`: keys sorted, no insignificant
whitespace, UTF-8, no NaN or infinities), so the same object gives the same hash whatever
order the provider sent its keys in: that hash decides UPDATED versus unchanged.

Each change of one ``(tenant, connection, model)`` stream gets the next number of that stream's
change sequence; a reader's cursor (:func:`encode_change_cursor`) is the number of the last
change it has seen, wrapped so that it stays opaque.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from hashlib import sha256
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from types import MappingProxyType
from typing import Any, NamedTuple

from tether.domain.bounded_json import utf8_of_json
from tether.domain.errors import InvalidRequest

__all__ = [
    "INVALID_PAYLOAD",
    "INVALID_RECORD_ID",
    "MAX_CHANGES_PAGE",
    "MAX_CHANGES_PAGE_BYTES",
    "MAX_RECORD_BYTES",
    "MAX_RECORD_ID_CHARS",
    "MAX_WRITE_BATCH",
    "RECORD_TOO_LARGE",
    "ChangePage",
    "IncomingRecord",
    "PreparedRecord",
    "RecordAction",
    "RecordRejection",
    "StoredRecord",
    "WriteResult",
    "canonical_json",
    "check_changes_limit",
    "check_chunk_limit",
    "decode_change_cursor",
    "encode_change_cursor",
    "payload_bytes",
    "prepare_batch",
    "prepare_record",
]

MAX_RECORD_BYTES = 1_000_000
"""Canonical JSON bytes of one payload: what fits one Firestore document (1 MiB) with the
record's own fields beside it, on every backend alike."""

MAX_RECORD_ID_CHARS = 512
"""Characters of one record id."""

MAX_WRITE_BATCH = 1000
"""Records of one :meth:`~tether.ports.RecordStore.write_records` call (one page or a few)."""

MAX_CHANGES_PAGE = 1000
"""Changes of one :meth:`~tether.ports.RecordStore.read_changes` page (a larger limit is
capped to this)."""

MAX_CHANGES_PAGE_BYTES = 8 * 1024 * 1024
"""Payload bytes of one :meth:`~tether.ports.RecordStore.read_changes` page: a page ends
before the record that would pass them (it holds one record at least), whatever its limit."""

RECORD_TOO_LARGE = "RECORD_TOO_LARGE"
INVALID_RECORD_ID = "INVALID_RECORD_ID"
INVALID_PAYLOAD = "INVALID_PAYLOAD"

# Printable text: no control characters (C0, DEL, C1) and no lone surrogates.
_BAD_ID_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_CURSOR_PREFIX = "c1."
_MAX_SEQUENCE = 2**63 - 1


class RecordAction(StrEnum):
    """The last change of a record, as a reader of changes sees it."""

    ADDED = "ADDED"
    UPDATED = "UPDATED"
    DELETED = "DELETED"


class IncomingRecord(NamedTuple):
    """One record of a page as a run hands it to the store: its id and its payload (a JSON
    object), or ``deleted=True`` for an explicit tombstone (the payload is then ignored). A
    tuple, like :class:`PreparedRecord`: one is made per record a run writes."""

    id: str
    # One default for every record: read-only, so no record can change another's.
    payload: Mapping[str, Any] = MappingProxyType({})
    deleted: bool = False


class PreparedRecord(NamedTuple):
    """An :class:`IncomingRecord` that passed the checks: its canonical JSON and hash (a
    tuple: one is made per record written, and a frozen dataclass costs twice as much)."""

    id: str
    payload_json: str
    payload_hash: str
    deleted: bool


@dataclass(frozen=True, slots=True)
class RecordRejection:
    """A record of a batch that was not written, and why (``code``: one of
    :data:`RECORD_TOO_LARGE`, :data:`INVALID_RECORD_ID`, :data:`INVALID_PAYLOAD`). ``index``
    is its position in the batch; ``id`` is the id as given, cut to
    :data:`MAX_RECORD_ID_CHARS`."""

    index: int
    id: str
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What one write of a batch did, record by record counted once: ``unchanged`` holds
    records stored with the same hash, tombstones of records unknown or already deleted,
    and earlier writes of an id the same batch writes again."""

    added: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    rejected: list[RecordRejection] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A record as a reader of changes gets it: its last stored payload (a DELETED record
    keeps the payload it had), its last change and that change's ``cursor``."""

    id: str
    payload: dict[str, Any]
    payload_hash: str
    action: RecordAction
    first_seen_at: datetime
    last_modified_at: datetime
    cursor: str


@dataclass(frozen=True, slots=True)
class ChangePage:
    """One page of changes in change order. ``next_cursor`` continues after this page: the
    last record's cursor, or the cursor asked with when the page is empty (``None`` only if
    that was ``None`` too), so a reader can keep polling from it. ``has_more`` says more
    changes follow already; a page may hold fewer than the limit while ``has_more`` (a
    ``modified_after`` filter skipped some)."""

    records: list[StoredRecord]
    next_cursor: str | None
    has_more: bool


# One encoder for every record, built once: ``json.dumps`` with these options builds a new
# ``JSONEncoder`` per call, and even ``JSONEncoder.encode`` builds its C encoder per call
# (about a third of the time of a small record). The C encoder of :mod:`json` is called
# directly when the interpreter has it (CPython), with the arguments ``JSONEncoder`` gives it,
# so the text is the same byte for byte. No circular-reference markers: a payload is decoded
# JSON, and a cycle ends in ``RecursionError`` (INVALID_PAYLOAD) all the same.
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def _c_encoder() -> Callable[[Any, int], tuple[str, ...]] | None:
    if c_make_encoder is None:
        return None
    try:
        encoder: Callable[[Any, int], tuple[str, ...]] = c_make_encoder(
            None, _CANONICAL.default, encode_basestring, None, ":", ",", True, False, False
        )
    except TypeError:  # another interpreter's signature: JSONEncoder.encode then
        return None
    return encoder


_C_ENCODER = _c_encoder()


def canonical_json(payload: Mapping[str, Any]) -> str:
    """The canonical JSON text of ``payload`` (sorted keys, compact, non-ASCII kept).
    ``ValueError``/``TypeError`` when it is not JSON (NaN, infinities, other types)."""
    if type(payload) is not dict:  # another mapping (a read-only one) is a JSON object too
        payload = dict(payload)
    if _C_ENCODER is not None:
        return "".join(_C_ENCODER(payload, 0))
    return _CANONICAL.encode(payload)


def _id_problem(record_id: object) -> bool:
    """Whether ``record_id`` is not a record id (see :data:`_BAD_ID_CHARS`)."""
    if not isinstance(record_id, str) or not record_id or len(record_id) > MAX_RECORD_ID_CHARS:
        return True
    if record_id.isascii() and record_id.isprintable():  # the common case, without the regex
        return False
    return _BAD_ID_CHARS.search(record_id) is not None


def prepare_record(index: int, record: IncomingRecord) -> PreparedRecord | RecordRejection:
    """Check one record of a batch: its id, that its payload is a JSON object, its size."""
    record_id = record.id
    if not (  # the common case (short printable ASCII) without a call
        type(record_id) is str
        and 0 < len(record_id) <= MAX_RECORD_ID_CHARS
        and record_id.isascii()
        and record_id.isprintable()
    ) and _id_problem(record_id):
        shown = (
            record_id[:MAX_RECORD_ID_CHARS] if isinstance(record_id, str) else repr(record_id)[:64]
        )
        return RecordRejection(
            index,
            shown,
            INVALID_RECORD_ID,
            f"a record id is non-empty printable text of at most {MAX_RECORD_ID_CHARS} characters",
        )
    if record.deleted:
        return PreparedRecord(record_id, "", "", deleted=True)
    payload = record.payload
    if type(payload) is not dict and not isinstance(payload, Mapping):
        return RecordRejection(
            index, record_id, INVALID_PAYLOAD, "a record's payload is a JSON object"
        )
    try:
        text = canonical_json(payload)
    except (ValueError, TypeError, RecursionError):
        return RecordRejection(
            index, record_id, INVALID_PAYLOAD, "the record's payload is not valid JSON"
        )
    text, encoded = utf8_of_json(text)  # a lone surrogate kept as its escape
    if len(encoded) > MAX_RECORD_BYTES:
        return RecordRejection(
            index,
            record_id,
            RECORD_TOO_LARGE,
            f"the record is larger than the {MAX_RECORD_BYTES} bytes a record may hold",
        )
    return PreparedRecord(record_id, text, sha256(encoded).hexdigest(), deleted=False)


def prepare_batch(
    records: list[IncomingRecord],
) -> tuple[list[PreparedRecord], list[RecordRejection], int]:
    """The batch's records that pass, the last write of each id only, in batch order; the
    rejections; and how many earlier writes of a repeated id were superseded."""
    if len(records) > MAX_WRITE_BATCH:
        raise InvalidRequest(f"a batch holds at most {MAX_WRITE_BATCH} records")
    last: dict[str, PreparedRecord] = {}
    rejected: list[RecordRejection] = []
    superseded = 0
    encoder = _C_ENCODER
    # made as NamedTuple._make makes one, without a Python-level __new__ call per record
    make = tuple.__new__
    for index, record in enumerate(records):
        record_id, payload, deleted = record
        prepared: PreparedRecord | None = None
        # prepare_record's common case without its calls (a short printable ASCII id, a dict
        # payload the C encoder takes, within the size): the same text and hash it makes.
        # Anything else, every refusal included, is prepare_record's to decide.
        if (
            encoder is not None
            and not deleted
            and type(payload) is dict
            and type(record_id) is str
            and 0 < len(record_id) <= MAX_RECORD_ID_CHARS
            and record_id.isascii()
            and record_id.isprintable()
        ):
            try:
                text = "".join(encoder(payload, 0))
                encoded = text.encode("utf-8")
            except (ValueError, TypeError, UnicodeEncodeError, RecursionError):
                pass
            else:
                if len(encoded) <= MAX_RECORD_BYTES:
                    prepared = make(
                        PreparedRecord, (record_id, text, sha256(encoded).hexdigest(), False)
                    )
        if prepared is None:
            checked = prepare_record(index, record)
            if isinstance(checked, RecordRejection):
                rejected.append(checked)
                continue
            prepared = checked
        if prepared.id in last:
            superseded += 1
            del last[prepared.id]  # re-inserted at its last position
        last[prepared.id] = prepared
    return list(last.values()), rejected, superseded


def check_changes_limit(limit: int) -> int:
    """A page size: below 1 is :class:`InvalidRequest`, above :data:`MAX_CHANGES_PAGE` is
    capped to it."""
    if limit < 1:
        raise InvalidRequest("limit must be at least 1")
    return min(limit, MAX_CHANGES_PAGE)


def check_chunk_limit(limit: int) -> int:
    """A chunk of a bounded delete: below 1 is :class:`InvalidRequest`, above
    :data:`MAX_WRITE_BATCH` is capped to it."""
    if limit < 1:
        raise InvalidRequest("limit must be at least 1")
    return min(limit, MAX_WRITE_BATCH)


def payload_bytes(text: object) -> int:
    """The UTF-8 size of a stored payload's text (what :data:`MAX_CHANGES_PAGE_BYTES`
    counts); 0 for anything that is not text."""
    if not isinstance(text, str):
        return 0
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def encode_change_cursor(sequence: int) -> str:
    """The opaque cursor of a stream's change number ``sequence``."""
    raw = str(sequence).encode("ascii")
    return _CURSOR_PREFIX + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_change_cursor(cursor: str | None) -> int:
    """The change number behind ``cursor`` (0 for ``None``: from the start). Anything this
    module did not hand out is :class:`InvalidRequest` ``INVALID_CURSOR``."""
    if cursor is None:
        return 0
    invalid = InvalidRequest("cursor is not valid", code="INVALID_CURSOR")
    if not cursor.startswith(_CURSOR_PREFIX) or len(cursor) > 64:
        raise invalid
    text = cursor[len(_CURSOR_PREFIX) :]
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
        value = raw.decode("ascii")
    except (binascii.Error, ValueError):
        raise invalid from None
    if not value.isdigit() or (len(value) > 1 and value.startswith("0")):
        raise invalid
    sequence = int(value)
    # Past a signed 64-bit integer no store holds a change number (and SQLite cannot bind it).
    if sequence > _MAX_SEQUENCE:
        raise invalid
    return sequence
