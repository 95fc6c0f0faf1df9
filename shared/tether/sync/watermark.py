"""What a sync carries from one successful run to the next (``SyncSchedule.watermark``, opaque
text to the store): ``since``, the incremental high-water mark (the newest updated-at a run
saw, or, for a definition without ``updated_at_path``, when the run began)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

__all__ = ["Watermark"]


@dataclass(frozen=True, slots=True)
class Watermark:
    since: datetime | None = None

    def to_text(self) -> str:
        since = None if self.since is None else self.since.isoformat()
        return json.dumps({"since": since}, separators=(",", ":"))

    @classmethod
    def from_text(cls, text: str | None) -> Watermark:
        """The stored watermark; an absent or unreadable one is none (the next run is full)."""
        if not text:
            return cls()
        try:
            data = json.loads(text)
            since = data.get("since")
            moment = None if since is None else datetime.fromisoformat(since)
        except (ValueError, TypeError, AttributeError):
            return cls()
        if moment is not None and moment.tzinfo is None:
            return cls()
        return cls(moment)
