"""A run's checkpoint: everything a run needs to go on in another task, another process or
after a crash, saved on the run (``SyncRun.checkpoint``) by compare-and-set.

A run moves through three phases, each resumable where it stopped:

``walk``    the provider's pages (``walk``: the walker's state before the next page;
            ``None`` before the first), writing each page's records;
``delete``  a full run with ``deletes: full_refresh`` only: records the walk did not see
            become DELETED, a bounded chunk at a time;
``tally``   only when ``recount`` (a task died holding the run, so pages it wrote after its
            last checkpoint are written again and found unchanged): the run's changes read
            back from the records store after ``start_cursor`` (the stream's position when the
            run began), the exact ADDED / UPDATED / DELETED counts. Otherwise the counts are
            ``written``, what each write answered, exact when every page was written once.

``slice`` numbers the tasks of a run: a run that is still going when its time budget is spent
saves ``slice + 1`` and enqueues that task; a task whose slice is not the checkpoint's is a
stale copy and does nothing. ``owner`` and ``lease_until`` mark the task working on the run;
another copy of that task waits (retries) until the lease runs out, so a run is never worked
on twice at once. ``failures`` counts retryable failures in a row, so that the run itself
knows when the queue's last attempt has failed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tether.domain.sync_runs import MAX_REJECTION_SAMPLES, RejectedRecord

__all__ = ["Checkpoint", "Counts", "Phase"]

Phase = Literal["walk", "delete", "tally"]


class Counts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    added: int = 0
    updated: int = 0
    deleted: int = 0


class Checkpoint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phase: Phase = "walk"
    slice: int = Field(default=0, ge=0)
    walk: dict[str, Any] | None = None
    since: datetime | None = None
    high_water: datetime | None = None
    start_cursor: str | None = None
    tally_cursor: str | None = None
    written: Counts = Field(default_factory=Counts)
    tally: Counts = Field(default_factory=Counts)
    recount: bool = False
    pages: int = 0
    skipped: int = 0
    rejected: int = 0
    # The first rejected records (no usable id, or refused by the records store), as samples.
    rejections: list[RejectedRecord] = Field(default_factory=list)
    owner: str | None = None
    lease_until: datetime | None = None
    failures: int = 0

    @property
    def rejected_records(self) -> int:
        """Records of the run that were not stored: without a usable id, or refused."""
        return self.skipped + self.rejected

    def note_rejection(self, page: int, index: int, record_id: str | None, code: str) -> None:
        """Keep a rejected record as a sample, while there are fewer than the run keeps."""
        if len(self.rejections) < MAX_REJECTION_SAMPLES:
            self.rejections.append(RejectedRecord(page=page, index=index, id=record_id, code=code))

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
