"""The custom sync the end-to-end sync scenarios run (through the functions in process and
through a ``tether dev`` process): cursor pages of the dataset API's invoices, incremental by
``updated_since``, deletions found by full runs, and a clock that ticks a second per change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

TOTAL = 1234

DEFINITION: dict[str, Any] = {
    "model": "Invoice",
    "request": {"path": "/invoices/cursor", "params": {"limit": 50}},
    "records_path": "data",
    "id_path": "id",
    "updated_at_path": "updated_at",
    "pagination": {"type": "cursor", "cursor_path": "next_cursor", "cursor_param": "cursor"},
    "incremental": {"param": "updated_since", "format": "iso8601"},
    "deletes": "full_refresh",
    "frequency": "1h",
}


class Ticking:
    """A second a change: the whole-second modified-since values are exact."""

    def __init__(self) -> None:
        self.now = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now
