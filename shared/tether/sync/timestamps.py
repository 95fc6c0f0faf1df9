"""Modified-since values out and updated-at values in.

:func:`format_since` writes the high-water mark of the last run the way a provider's
modified-since parameter wants it (``Incremental.format``). :func:`parse_updated_at` reads a
record's updated-at value when no hook is named: an RFC 3339 / ISO 8601 string (``Z`` or an
offset; a naive value is taken as UTC), or a Unix time in seconds (milliseconds when it is past
the year 5138, which no seconds value of a live record is).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

__all__ = ["IncrementalFormat", "format_since", "parse_updated_at"]

IncrementalFormat = Literal["iso8601", "iso8601_date", "unix", "unix_ms"]
_MILLISECONDS_FROM = 100_000_000_000


def format_since(moment: datetime, fmt: IncrementalFormat) -> str:
    """``moment`` (timezone-aware) as ``fmt``; ISO 8601 in UTC with a ``Z``."""
    if moment.tzinfo is None:
        raise ValueError("a modified-since moment must be timezone-aware")
    utc = moment.astimezone(UTC)
    if fmt == "iso8601":
        return utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    if fmt == "iso8601_date":
        return utc.strftime("%Y-%m-%d")
    if fmt == "unix":
        return str(int(utc.timestamp()))
    return str(int(utc.timestamp() * 1000))


def parse_updated_at(value: Any) -> datetime | None:
    """The moment in ``value``, timezone-aware; ``None`` when it holds none."""
    if type(value) is str and 0 < len(value) <= 64:  # the common case first: once a record
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        seconds = value / 1000 if abs(value) >= _MILLISECONDS_FROM else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str) and 0 < len(value) <= 64:
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    return None
