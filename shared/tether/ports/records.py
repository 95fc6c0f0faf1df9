"""Synced records, read back as changes. Their contract suite is
``tests/contract/test_record_store_contract.py``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from tether.domain.synced_records import ChangePage, IncomingRecord, WriteResult

__all__ = ["RecordStore"]


@runtime_checkable
class RecordStore(Protocol):
    """Records keyed by ``(tenant_id, connection_id, model, record id)``, one row or document
    each, and each ``(tenant_id, connection_id, model)`` stream's change sequence. Every
    change (ADDED, UPDATED, DELETED) takes the stream's next sequence number in the same
    atomic write as the record, and writers of one stream commit one after the other, so a
    reader that follows cursors sees every change exactly once, in order, none lost while a
    writer commits. A record keeps only its last change: a reader that lags sees the newest
    state of a record once, not each step. The rules of ids, payloads and cursors are
    :mod:`tether.domain.synced_records`, the same on every backend. Memory is flat in the
    number of records: every method works on one batch, chunk or page."""

    def write_records(
        self,
        tenant_id: str,
        connection_id: str,
        model: str,
        records: Sequence[IncomingRecord],
        *,
        now: datetime,
        seen_by: str | None = None,
    ) -> WriteResult:
        """Write one page of a run (at most ``MAX_WRITE_BATCH`` records, more is
        :class:`~tether.domain.errors.InvalidRequest`). A record not stored is ADDED; a
        stored one whose payload hash differs is UPDATED; the same hash is unchanged (not
        written again, not re-sequenced, ``last_modified_at`` kept); a DELETED one that comes
        back is ADDED again (its ``first_seen_at`` kept). A tombstone
        (``IncomingRecord(deleted=True)``) makes a stored record DELETED, keeping its last
        payload; a tombstone of a record unknown or already deleted changes nothing. Changed
        records get ``last_modified_at = now`` and new sequence numbers in batch order; of
        several writes of one id in a batch the last counts. A record that fails the checks
        (``RECORD_TOO_LARGE``, ``INVALID_RECORD_ID``, ``INVALID_PAYLOAD``) is left out and
        named in ``rejected``: the others are written.

        ``seen_by`` (a full run's id) marks every written record, unchanged ones included,
        as seen by that run, for :meth:`delete_unseen`.

        Atomicity: SQLite writes the batch in one transaction; Firestore in one transaction
        per part of it that fits a commit, in order. Writing a batch again (a run resumed
        after a crash) changes nothing more, so a part committed before a failure is
        harmless."""
        ...

    def last_cursor(self, tenant_id: str, connection_id: str, model: str) -> str | None:
        """The cursor after the stream's last committed change (``None`` while it has
        none): reading from it returns only the changes committed after this call. A sync
        run takes it when it starts and when it ends, for where its own changes begin and
        end, without reading them."""
        ...

    def delete_unseen(
        self,
        tenant_id: str,
        connection_id: str,
        model: str,
        *,
        run_id: str,
        now: datetime,
        limit: int = 500,
    ) -> int:
        """Make up to ``limit`` (capped at ``MAX_WRITE_BATCH``; below 1 is
        ``InvalidRequest``) live records of the stream that ``run_id`` did not mark as seen
        DELETED (re-sequenced, ``last_modified_at = now``) and return how many. Call it
        again until it returns 0: each call is one short write, so a run can checkpoint
        between calls and 100,000 deletions are never one transaction. Only for a full run
        that wrote every record of the stream with ``seen_by=run_id``."""
        ...

    def read_changes(
        self,
        tenant_id: str,
        connection_id: str,
        model: str,
        *,
        cursor: str | None = None,
        modified_after: datetime | None = None,
        limit: int = 100,
    ) -> ChangePage:
        """The stream's changes after ``cursor`` (from the start when ``None``) in change
        order, at most ``limit`` (above ``MAX_CHANGES_PAGE`` it is capped; below 1 is
        ``InvalidRequest``); with ``modified_after``, only records last modified after it.
        A cursor this store did not hand out is ``InvalidRequest`` ``INVALID_CURSOR``.
        Records of another tenant, connection or model are never seen. A stored record that
        no longer decodes is left out (its change is passed over)."""
        ...

    def delete_connection_records(
        self, tenant_id: str, connection_id: str, *, limit: int = 500
    ) -> int:
        """Delete up to ``limit`` (capped at ``MAX_WRITE_BATCH``; below 1 is
        ``InvalidRequest``) records of every model of the connection, and return how many;
        call again until it returns 0 (each call a short write, so a deletion can resume
        where it stopped). Once none is left the streams' sequences go too."""
        ...
