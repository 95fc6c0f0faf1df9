"""The Microsoft JSON date, ``/Date(1573755038314+0000)/``: milliseconds since the Unix epoch,
optionally followed by an offset that only says which zone the value was shown in (the
milliseconds are UTC). Xero's Accounting API writes ``UpdatedDateUTC`` this way."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

__all__ = ["microsoft_json_date"]

_JSON_DATE = re.compile(r"^/Date\((-?[0-9]{1,15})([+-][0-9]{4})?\)/$")


def microsoft_json_date(value: Any) -> datetime | None:
    """The moment of a ``/Date(ms±zzzz)/`` string; ``None`` for anything else."""
    match = _JSON_DATE.match(value) if isinstance(value, str) else None
    if match is None:
        return None
    try:
        return datetime.fromtimestamp(int(match.group(1)) / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None
