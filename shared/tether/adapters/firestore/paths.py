"""Pure helpers of the Firestore layout: document ids, cursors and document sizes.

Nothing here talks to Firestore (or imports its client), so the rules are unit-tested alone.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from tether.domain.clock import sortable_utc
from tether.domain.errors import InvalidRequest

__all__ = [
    "HASHED_ID_PREFIX",
    "MAX_DOCUMENT_BYTES",
    "decode_expiry_cursor",
    "decode_list_cursor",
    "decode_scan_cursor",
    "doc_id",
    "document_size",
    "encode_expiry_cursor",
    "encode_list_cursor",
    "encode_scan_cursor",
    "format_time",
    "webhook_event_id",
    "webhook_route_id",
]

# Firestore's documented limit on one document ("Maximum size for a document: 1 MiB").
MAX_DOCUMENT_BYTES = 1_048_576

# Used as-is: starts with a letter or digit (so never ".", "..", or the reserved "__x__"),
# no "/", and short enough to stay far below the 1,500-byte id limit.
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@+=-]{0,199}")
# Everything else becomes this prefix plus the sha256 hex of the value. "~" is outside the
# safe alphabet, so a hashed id never equals a safe one: the mapping stays one-to-one.
HASHED_ID_PREFIX = "~"

_INVALID_CURSOR = "cursor is not valid"


def _utf8(value: str) -> bytes:
    return value.encode("utf-8", "surrogatepass")


def doc_id(value: str) -> str:
    """A Firestore document id for an id Tether did not choose (tenant ids come from tokens;
    names and hashes from callers): the value itself when it is safe, else a digest."""
    if _SAFE_ID.fullmatch(value):
        return value
    return HASHED_ID_PREFIX + hashlib.sha256(_utf8(value)).hexdigest()


def webhook_event_id(provider: str, dedupe_key: str) -> str:
    """Dedupe keys are provider-chosen (they may contain "/"): always hashed, with a
    separator no provider key contains, so ``(a, bc)`` and ``(ab, c)`` differ."""
    return hashlib.sha256(_utf8(provider) + b"\x00" + _utf8(dedupe_key)).hexdigest()


def webhook_route_id(provider: str, route: str) -> str:
    """The ``webhook_routes`` lookup id of a connection's route value (provider-chosen text):
    hashed like :func:`webhook_event_id`, so ``(a, bc)`` and ``(ab, c)`` differ."""
    return hashlib.sha256(_utf8(provider) + b"\x00" + _utf8(route)).hexdigest()


format_time = sortable_utc  # the cursor's time format, as in the embedded store


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(_INVALID_CURSOR, code="INVALID_CURSOR") from None


def encode_list_cursor(created_at: datetime, record_id: str) -> str:
    raw = json.dumps([format_time(created_at), record_id], separators=(",", ":"))
    return _b64encode(raw.encode())


def _decode_time_and_text(cursor: str) -> tuple[datetime, str]:
    raw = _b64decode(cursor)
    try:
        when, text = json.loads(raw)
        if not isinstance(when, str) or not isinstance(text, str):
            raise TypeError
        at = datetime.fromisoformat(when)
        if at.tzinfo is None:
            raise ValueError
    except (ValueError, TypeError):
        raise InvalidRequest(_INVALID_CURSOR, code="INVALID_CURSOR") from None
    return at, text


def decode_list_cursor(cursor: str) -> tuple[datetime, str]:
    """``(created_at, id)`` of the last item of the previous page; anything else is the
    caller's mistake (400 INVALID_CURSOR), never a backend error."""
    return _decode_time_and_text(cursor)


def encode_scan_cursor(path: str) -> str:
    return _b64encode(path.encode())


def decode_scan_cursor(cursor: str, *, parent: str, collection: str) -> str:
    """The document path ``<parent>/<tenant>/<collection>/<connection>`` of the last item."""
    try:
        path = _b64decode(cursor).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest(_INVALID_CURSOR, code="INVALID_CURSOR") from None
    return _checked_path(path, parent=parent, collection=collection)


def encode_expiry_cursor(token_expires_at: datetime, path: str) -> str:
    raw = json.dumps([format_time(token_expires_at), path], separators=(",", ":"))
    return _b64encode(raw.encode())


def decode_expiry_cursor(cursor: str, *, parent: str, collection: str) -> tuple[datetime, str]:
    """``(token_expires_at, document path)`` of the last item of the previous page of the
    expiry sweep; the path is checked as :func:`decode_scan_cursor` checks it."""
    at, path = _decode_time_and_text(cursor)
    return at, _checked_path(path, parent=parent, collection=collection)


def _checked_path(path: str, *, parent: str, collection: str) -> str:
    parts = path.split("/")
    if (
        len(parts) != 4
        or parts[0] != parent
        or parts[2] != collection
        or not all(_is_doc_id(p) for p in (parts[1], parts[3]))
    ):
        raise InvalidRequest(_INVALID_CURSOR, code="INVALID_CURSOR")
    return path


def _is_doc_id(value: str) -> bool:
    if _SAFE_ID.fullmatch(value):
        return True
    digest = value[len(HASHED_ID_PREFIX) :]
    return (
        value.startswith(HASHED_ID_PREFIX)
        and len(digest) == 64
        and all(c in "0123456789abcdef" for c in digest)
    )


# -- document size (Firestore's "storage size calculations") ---------------------------------
def _string_size(value: str) -> int:
    return len(_utf8(value)) + 1


def _value_size(value: Any) -> int:
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, int | float | datetime):
        return 8
    if isinstance(value, str):
        return _string_size(value)
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, Mapping):
        return _fields_size(value)
    if isinstance(value, Sequence):
        return sum(_value_size(v) for v in value)
    raise TypeError(f"no size rule for {type(value).__name__}")


def _fields_size(fields: Mapping[str, Any]) -> int:
    return sum(_string_size(k) + _value_size(v) for k, v in fields.items())


def document_size(path: str, fields: Mapping[str, Any]) -> int:
    """Stored size of a document at ``path`` (relative to the database) holding ``fields``:
    name (each segment + 1, plus 16) + fields + 32, as Firestore counts it."""
    name = sum(_string_size(segment) for segment in path.split("/")) + 16
    return name + _fields_size(fields) + 32
