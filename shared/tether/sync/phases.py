"""The three phases of a run (:mod:`tether.sync.checkpoint`), each going on from the
checkpoint of a held run and returning ``True`` when done or ``False`` when the slice's
budget (a ``deadline`` on the monotonic clock) ran out first, its progress saved:

* :meth:`RunPhases.walk`: the provider's pages, each written (at most
  ``MAX_WRITE_BATCH`` records a write), a checkpoint every ``checkpoint_pages`` pages; the
  records not stored (no usable id, or refused by the store) counted, the first few noted;
  a provider whose pages go on past ``max_pages`` (an offset it ignores, a cursor new on
  every page: no loop to detect) fails the run with ``SYNC_TOO_MANY_PAGES``;
* :meth:`RunPhases.delete_unseen`: a full refresh's deletions, a chunk a write;
* :meth:`RunPhases.tally`: the run's changes counted from the store.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from tether.catalog.sync_definition import SyncDefinition
from tether.domain.clock import Clock
from tether.domain.errors import TetherError
from tether.domain.sync_runs import MISSING_RECORD_ID
from tether.domain.synced_records import (
    INVALID_RECORD_ID,
    MAX_WRITE_BATCH,
    IncomingRecord,
    RecordAction,
)
from tether.ports import RecordStore
from tether.sync.extraction import SyncedRecord
from tether.sync.held_run import HeldRun
from tether.sync.walker import PageWalker, WalkState

__all__ = ["RunPhases", "TooManyPages"]

_DELETE_CHUNK = 500
_TALLY_PAGE = 1000


class TooManyPages(TetherError):
    """The provider's pages went on past the most a run walks: not retried (the same pages
    would come back)."""

    default_code = "SYNC_TOO_MANY_PAGES"
    default_status = 422
    default_retryable = False


def _payload(record: SyncedRecord) -> Mapping[str, Any]:
    payload = record.payload
    if type(payload) is dict:  # the common case, without the abstract class's check
        return payload
    return payload if isinstance(payload, Mapping) else {"value": payload}


class RunPhases:
    def __init__(
        self,
        *,
        records: RecordStore,
        clock: Clock,
        monotonic: Callable[[], float],
        checkpoint_pages: int,
        lease: timedelta,
        max_pages: int,
    ) -> None:
        self._records = records
        self._clock = clock
        self._monotonic = monotonic
        self._checkpoint_pages = checkpoint_pages
        self._lease = lease
        self._max_pages = max_pages

    def walk(
        self,
        held: HeldRun,
        walker: PageWalker,
        definition: SyncDefinition,
        deadline: float,
    ) -> bool:
        """Pages until the last (``True``) or the budget is spent (``False``)."""
        checkpoint = held.checkpoint
        resume = None if checkpoint.walk is None else WalkState.from_json(checkpoint.walk)
        seen_by = held.run.id if held.run.full and definition.deletes == "full_refresh" else None
        since_checkpoint = 0
        for page in walker.walk(since=checkpoint.since, resume=resume):
            refused = self._write(held, definition, page.records, seen_by)
            # Counted once the page is written: a page written again after a failure has not.
            checkpoint.skipped += page.skipped
            checkpoint.rejected += len(refused)
            missing = [(index, None, MISSING_RECORD_ID) for index in page.skipped_at]
            for index, record_id, code in sorted(missing + refused, key=lambda r: r[0]):
                checkpoint.note_rejection(page.number, index, record_id, code)
            checkpoint.pages += 1
            checkpoint.walk = None if page.next is None else page.next.to_json()
            if page.next is None:
                return True
            if checkpoint.pages >= self._max_pages:
                raise TooManyPages(
                    f"the provider's pages went on past {self._max_pages}, the most a run "
                    "walks; the run stopped there"
                )
            since_checkpoint += 1
            out_of_time = self._monotonic() >= deadline
            if since_checkpoint >= self._checkpoint_pages or out_of_time:
                checkpoint.lease_until = self._clock.now() + self._lease
                held.save()
                since_checkpoint = 0
            if out_of_time:
                return False
        return True

    def _write(
        self,
        held: HeldRun,
        definition: SyncDefinition,
        records: list[SyncedRecord],
        seen_by: str | None,
    ) -> list[tuple[int, str | None, str]]:
        """Writes ``records``; the ones the store refused, as (position in the page, id when
        it may be shown, code)."""
        refused: list[tuple[int, str | None, str]] = []
        # made as NamedTuple._make makes one, without a Python-level __new__ call per record
        make = tuple.__new__
        checkpoint = held.checkpoint
        run = held.run
        for start in range(0, len(records), MAX_WRITE_BATCH):
            batch = records[start : start + MAX_WRITE_BATCH]
            result = self._records.write_records(
                run.tenant_id,
                run.connection_id,
                definition.model,
                [make(IncomingRecord, (r.id, _payload(r), r.deleted)) for r in batch],
                now=self._clock.now(),
                seen_by=seen_by,
            )
            written = checkpoint.written
            written.added += result.added
            written.updated += result.updated
            written.deleted += result.deleted
            for rejection in result.rejected:
                record = batch[rejection.index]
                # An id the store refused is not repeated (it may be what is wrong).
                shown = None if rejection.code == INVALID_RECORD_ID else record.id
                refused.append((record.position, shown, rejection.code))
            latest = max((r.updated_at for r in batch if r.updated_at is not None), default=None)
            if latest is not None and (
                checkpoint.high_water is None or latest > checkpoint.high_water
            ):
                checkpoint.high_water = latest
        return refused

    def delete_unseen(self, held: HeldRun, definition: SyncDefinition, deadline: float) -> bool:
        run = held.run
        while True:
            deleted = self._records.delete_unseen(
                run.tenant_id,
                run.connection_id,
                definition.model,
                run_id=run.id,
                now=self._clock.now(),
                limit=_DELETE_CHUNK,
            )
            held.checkpoint.written.deleted += deleted
            if deleted == 0:
                return True
            if self._monotonic() >= deadline:
                held.save()
                return False

    def tally(self, held: HeldRun, definition: SyncDefinition, deadline: float) -> bool:
        checkpoint = held.checkpoint
        run = held.run
        tally = checkpoint.tally
        while True:
            page = self._records.read_changes(
                run.tenant_id,
                run.connection_id,
                definition.model,
                cursor=checkpoint.tally_cursor or checkpoint.start_cursor,
                limit=_TALLY_PAGE,
            )
            for record in page.records:
                if record.action == RecordAction.ADDED:
                    tally.added += 1
                elif record.action == RecordAction.UPDATED:
                    tally.updated += 1
                else:
                    tally.deleted += 1
            if page.next_cursor is not None:
                checkpoint.tally_cursor = page.next_cursor
            if not page.has_more:
                return True
            if self._monotonic() >= deadline:
                held.save()
                return False
