"""HTTP routes of the ``syncs`` function: a connection's syncs, their settings and runs.

``GET /<connection_id>`` lists the syncs (the catalog's and the tenant's own) with their
status, last run and next run; ``PUT /<connection_id>/<name>`` sets ``{enabled, frequency}``
of a catalog sync, or writes a sync of the tenant's own (the definition's fields beside
``enabled``; on ``rest_api`` and ``graphql_api`` connections only, else 400
``CUSTOM_SYNC_NOT_SUPPORTED``); ``POST /<connection_id>/<name>/run`` ``{"full": bool}``
starts a run (202 with its id; 409 ``SYNC_RUN_ACTIVE`` naming the run already going);
``GET /<connection_id>/<name>/runs`` lists recent runs. A run shows how many records it
did not store (``rejected``) and the first few of them (``rejections``: page, position, id,
code; never their content).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tether.api.endpoint import Call, Wiring, serve
from tether.api.parsing import parse_body, parse_query, read_json_object, validation_problem
from tether.api.responses import body_response
from tether.api.routing import Router
from tether.api.schemas import Body, ErrorDetail
from tether.connections.commands import InputModel
from tether.domain.errors import NotFound
from tether.domain.ids import is_well_formed
from tether.domain.sync_runs import MAX_REJECTION_SAMPLES

if TYPE_CHECKING:
    from tether.domain.sync_runs import RejectedRecord, RunSummary, SyncRun
    from tether.sync.service import SyncService, SyncState

__all__ = [
    "PutSync",
    "RejectedRecordView",
    "RunStarted",
    "RunSync",
    "RunView",
    "RunsBody",
    "RunsQuery",
    "Services",
    "SyncView",
    "SyncsBody",
    "handle",
    "router",
]

_SETTINGS = frozenset({"enabled", "frequency"})


@dataclass(frozen=True, slots=True)
class Services:
    syncs: Callable[[], SyncService]
    max_body_bytes: int


class PutSync(BaseModel):
    """``enabled`` and ``frequency`` (``15m``, ``1h``, ``1d``; at least ``1m``); for a sync
    of the tenant's own, the definition's fields beside them (``model``, ``request``,
    ``records_path``, ``id_path``, ``updated_at_path``, ``pagination``, ``incremental``,
    ``deletes``, ``hooks``), as the catalog's syncs are written."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    enabled: bool | None = None
    frequency: str | None = Field(default=None, max_length=16)


class RunSync(InputModel):
    full: bool = False


class RunsQuery(InputModel):
    limit: int = Field(default=20, ge=1, le=100)


class RejectedRecordView(Body):
    """One record a run did not store: where it was and why, never its content."""

    omitted_when_none = frozenset({"id"})

    page: int = Field(description="the run's page it came in (1: the first)")
    index: int = Field(description="its position in that page's records (0: the first)")
    id: str | None = Field(
        default=None, description="its id, when it had a valid one at the sync's id_path"
    )
    code: str = Field(
        description="MISSING_RECORD_ID (no usable id at id_path), RECORD_TOO_LARGE (over "
        "the size of one stored record), INVALID_RECORD_ID (an id with characters a record id "
        "cannot have) or INVALID_PAYLOAD (a record the store cannot encode)"
    )


class RunView(Body):
    omitted_when_none = frozenset({"error"})

    id: str
    status: str
    full: bool
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    added: int
    updated: int
    deleted: int
    rejected: int = Field(
        default=0, description="records of the run's pages that were not stored (when it ended)"
    )
    rejections: list[RejectedRecordView] = Field(
        default_factory=list,
        description=f"the first {MAX_REJECTION_SAMPLES} rejected records, as samples",
    )
    error: ErrorDetail | None = None


class SyncView(Body):
    name: str
    model: str
    custom: bool = Field(description="a sync of the tenant's own, not the catalog's")
    enabled: bool
    frequency: str
    status: str = Field(description="running, paused, disabled or scheduled")
    paused_reason: str | None
    last_run: RunView | None
    next_run_at: datetime | None
    definition: dict[str, Any]


class SyncsBody(Body):
    syncs: list[SyncView]


class RunsBody(Body):
    runs: list[RunView]


class RunStarted(Body):
    run_id: str
    run: RunView


def _run_view(run: SyncRun) -> RunView:
    error = None
    if run.error_code is not None:
        error = ErrorDetail(code=run.error_code, message=run.error_message or "")
    return RunView(
        id=run.id,
        status=run.status.value,
        full=run.full,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        added=run.added,
        updated=run.updated,
        deleted=run.deleted,
        rejected=run.rejected,
        rejections=_rejection_views(run.rejections),
        error=error,
    )


def _rejection_views(samples: list[RejectedRecord]) -> list[RejectedRecordView]:
    return [RejectedRecordView(page=s.page, index=s.index, id=s.id, code=s.code) for s in samples]


def _summary_view(summary: RunSummary) -> RunView:
    error = None if summary.error_code is None else ErrorDetail(code=summary.error_code, message="")
    return RunView(
        id=summary.run_id,
        status=summary.status.value,
        full=summary.full,
        started_at=summary.started_at,
        finished_at=summary.finished_at,
        added=summary.added,
        updated=summary.updated,
        deleted=summary.deleted,
        rejected=summary.rejected,
        rejections=_rejection_views(summary.rejections),
        error=error,
    )


def _sync_view(state: SyncState) -> SyncView:
    named = state.sync
    schedule = named.schedule
    last = None
    if state.active_run is not None:
        last = _run_view(state.active_run)
    elif schedule is not None and schedule.last_run is not None:
        last = _summary_view(schedule.last_run)
    frequency = (schedule.frequency if schedule else None) or named.definition.frequency
    return SyncView(
        name=named.name,
        model=named.definition.model,
        custom=named.custom,
        enabled=state.enabled,
        frequency=frequency,
        status=state.status,
        paused_reason=schedule.paused_reason if schedule else None,
        last_run=last,
        next_run_at=schedule.next_run_at if schedule and schedule.enabled else None,
        definition=named.definition.model_dump(mode="json", exclude_none=True),
    )


def _connection_id(call: Call[Services]) -> str:
    connection_id = call.params["id"]
    if not is_well_formed(connection_id):
        raise NotFound("no such connection", code="CONNECTION_NOT_FOUND")
    return connection_id


def list_syncs(call: Call[Services]) -> Response:
    states = call.services.syncs().list_syncs(call.principal, _connection_id(call))
    return body_response(SyncsBody(syncs=[_sync_view(state) for state in states]))


def get_sync(call: Call[Services]) -> Response:
    state = call.services.syncs().get_sync(
        call.principal, _connection_id(call), call.params["name"]
    )
    return body_response(_sync_view(state))


def put_sync(call: Call[Services]) -> Response:
    from tether.sync.service import SyncChange

    data = read_json_object(call.request, max_bytes=call.services.max_body_bytes)
    settings = _settings({k: v for k, v in data.items() if k in _SETTINGS})
    definition = None
    if set(data) - _SETTINGS:
        definition = {k: v for k, v in data.items() if k != "enabled"}
    change = SyncChange(
        enabled=settings.enabled, frequency=settings.frequency, definition=definition
    )
    state = call.services.syncs().put_sync(
        call.principal, _connection_id(call), call.params["name"], change
    )
    return body_response(_sync_view(state))


def _settings(data: dict[str, Any]) -> PutSync:
    try:
        return PutSync.model_validate(data, strict=True)
    except ValidationError as exc:
        raise validation_problem(exc) from None


def run_sync(call: Call[Services]) -> Response:
    body = (
        parse_body(call.request, RunSync, max_bytes=call.services.max_body_bytes)
        if call.request.content_length
        else RunSync()
    )
    run = call.services.syncs().start_run(
        call.principal, _connection_id(call), call.params["name"], full=body.full
    )
    return body_response(RunStarted(run_id=run.id, run=_run_view(run)), 202)


def list_runs(call: Call[Services]) -> Response:
    query = parse_query(call.request.args, RunsQuery)
    runs = call.services.syncs().list_runs(
        call.principal, _connection_id(call), call.params["name"], limit=query.limit
    )
    return body_response(RunsBody(runs=[_run_view(run) for run in runs]))


router: Router[Services] = Router()
router.add("GET", "/:id", list_syncs)
router.add("GET", "/:id/:name", get_sync)
router.add("PUT", "/:id/:name", put_sync)
router.add("POST", "/:id/:name/run", run_sync)
router.add("GET", "/:id/:name/runs", list_runs)


def handle(request: Request, wiring: Wiring[Services]) -> Response:
    return serve("syncs", request, router, wiring)
