"""HTTP routes of the ``records`` function: ``GET /<connection_id>/<model>?cursor=&
modified_after=&limit=`` — a connection's synced records of one model as changes, in change
order: each record's payload with ``_tether: {id, action, cursor, first_seen_at,
last_modified_at}``, and ``next_cursor`` to read on from. Reading from a cursor returns exactly
the changes after it, none twice, none lost while a run writes (the records store's contract).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flask import Request, Response
from pydantic import Field

from tether.api.endpoint import Call, Wiring, serve
from tether.api.parsing import parse_query
from tether.api.responses import json_response
from tether.api.routing import Router
from tether.api.schemas import Body
from tether.connections.commands import InputModel
from tether.domain.errors import InvalidRequest, NotFound
from tether.domain.ids import is_well_formed

if TYPE_CHECKING:
    from tether.domain.synced_records import StoredRecord
    from tether.sync.service import SyncService

__all__ = ["RecordsBody", "RecordsQuery", "Services", "TetherMeta", "handle", "router"]


@dataclass(frozen=True, slots=True)
class Services:
    syncs: Callable[[], SyncService]


class RecordsQuery(InputModel):
    cursor: str | None = Field(default=None, max_length=64)
    modified_after: datetime | None = None
    limit: int = Field(default=100, ge=1, le=1000)


class TetherMeta(Body):
    id: str
    action: str = Field(description="ADDED, UPDATED or DELETED")
    cursor: str
    first_seen_at: datetime
    last_modified_at: datetime


class RecordsBody(Body):
    """``records``: each the record's own fields plus ``_tether`` (:class:`TetherMeta`)."""

    records: list[dict[str, Any]]
    next_cursor: str | None
    has_more: bool


def _record(stored: StoredRecord) -> dict[str, Any]:
    meta = TetherMeta(
        id=stored.id,
        action=stored.action.value,
        cursor=stored.cursor,
        first_seen_at=stored.first_seen_at,
        last_modified_at=stored.last_modified_at,
    )
    return {**stored.payload, "_tether": meta.model_dump(mode="json")}


def _modified_after_problem(message: str, problem: str) -> InvalidRequest:
    return InvalidRequest(
        f"modified_after: {message}",
        code="VALIDATION_FAILED",
        details={"problems": [{"field": "modified_after", "problem": problem}]},
    )


def _check_modified_after(moment: datetime) -> None:
    """A moment the stores can compare: with a time zone, and within years 1 to 9999 in UTC
    (``9999-12-31T23:59:59-14:00`` is past it, and stores compare in UTC)."""
    if moment.tzinfo is None:
        raise _modified_after_problem(
            "a date-time with a time zone (Z or an offset)", "needs a time zone"
        )
    try:
        moment.astimezone(UTC)
    except OverflowError:
        raise _modified_after_problem(
            "a date-time within the years 1 to 9999 in UTC", "out of range"
        ) from None


def read(call: Call[Services]) -> Response:
    connection_id = call.params["id"]
    if not is_well_formed(connection_id):
        raise NotFound("no such connection", code="CONNECTION_NOT_FOUND")
    query = parse_query(call.request.args, RecordsQuery)
    modified_after = query.modified_after
    if modified_after is not None:
        _check_modified_after(modified_after)
    page = call.services.syncs().read_records(
        call.principal,
        connection_id,
        call.params["model"],
        cursor=query.cursor,
        modified_after=modified_after,
        limit=query.limit,
    )
    body = {
        "records": [_record(record) for record in page.records],
        "next_cursor": page.next_cursor,
        "has_more": page.has_more,
    }
    return json_response(body)


router: Router[Services] = Router()
router.add("GET", "/:id/:model", read)


def handle(request: Request, wiring: Wiring[Services]) -> Response:
    return serve("records", request, router, wiring)
