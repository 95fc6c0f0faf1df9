"""Loopback simulators of the providers' list operations the catalog's syncs read: each serves
one provider's pagination and modified-since parameters over a mutable set of records.

Every request is checked against the provider's published API description
(:mod:`tests.support.provider_apis`): the method and path must be an operation of the fixture,
and every query parameter (and top-level body field) one the operation declares; anything else
is a 400, as a strict API answers. What each provider does with those parameters is a
:class:`Dialect`, written from the provider's documentation:

* Stripe: ``limit`` + ``starting_after=<last id>``, ``has_more``; no modified-since filter.
* Shopify: ``limit``, ``updated_at_min`` (at or after), then only the ``Link: rel="next"``
  target, whose ``page_info`` may not be combined with a filter.
* Xero: ``page`` / ``pageSize``; the ``If-Modified-Since`` header (strictly after); dates as
  ``/Date(ms+0000)/``.
* Square: ``cursor`` (query, or the search body), ``updated_at_begin_time`` /
  ``query.filter.date_time_filter.updated_at.start_at`` (at or after).
* QuickBooks: one ``query`` statement with ``WHERE Metadata.LastUpdatedTime >= '…'``,
  ``STARTPOSITION`` (1-based) and ``MAXRESULTS``.
* HubSpot search: ``after`` in the body, a ``GTE`` filter on the last-modified property (ms).
* Google Drive: ``pageToken``, ``q`` = ``modifiedTime > '…'``, trashed files listed.
* Google Calendar: ``pageToken``, ``updatedMin`` (at or after), cancelled events listed.
* WooCommerce: ``page`` / ``per_page``, ``modified_after`` (strictly after), a bare list.

Records carry their id, updated-at and tombstone where the sync definition's paths say (the
paths are themselves checked against the same fixtures by ``tests/unit/test_catalog_syncs``).
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from werkzeug.wrappers import Request, Response

from tests.support.provider_apis import Operation, operation_at
from tether.catalog.sync_definition import SyncDefinition, Tombstone
from tether_emulators.json_answers import Problem, json_response
from tether_emulators.wsgi_server import ServedEmulator


@dataclass
class Row:
    number: int
    updated: datetime
    deleted: bool = False
    version: int = 1


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise Problem(400, "not an RFC 3339 date-time") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _token(position: int) -> str:
    return base64.urlsafe_b64encode(f"after:{position}".encode()).decode().rstrip("=")


def _position(token: str | None) -> int:
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        return int(text.removeprefix("after:"))
    except ValueError:
        raise Problem(400, "unknown page token") from None


def _whole(value: Any, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Problem(400, "not a whole number") from None


@dataclass(frozen=True)
class Page:
    """What a dialect answers: the rows of the page and the envelope around them."""

    rows: list[Row]
    envelope: Callable[[list[Any]], Any]
    headers: Mapping[str, str] | None = None


class Dialect:
    """One provider's list semantics. ``inclusive``: its modified-since filter keeps a record
    changed exactly at the value (at-or-after) rather than strictly after it."""

    inclusive = False
    # Parameters only the provider's own next links carry (needs a Link header in the fixture).
    link_params: frozenset[str] = frozenset()
    removes_deleted = True  # a deleted record disappears (unless the sync reads tombstones)

    def __init__(self, definition: SyncDefinition) -> None:
        self.definition = definition

    def record_id(self, row: Row) -> Any:
        return row.number

    def stamp(self, moment: datetime) -> Any:
        return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def answer(self, request: Request, rows: list[Row]) -> Page:
        raise NotImplementedError

    @staticmethod
    def since(rows: list[Row], moment: datetime | None, *, inclusive: bool) -> list[Row]:
        if moment is None:
            return rows
        return [r for r in rows if r.updated > moment or (inclusive and r.updated == moment)]


def _records_at(path: str | None) -> Callable[[list[Any]], Any]:
    def envelope(records: list[Any]) -> Any:
        if path is None:
            return records
        body: Any = records
        for part in reversed(path.split(".")):
            body = {part: body}
        return body

    return envelope


class Stripe(Dialect):
    def record_id(self, row: Row) -> Any:
        return f"obj_{row.number:08d}"

    def answer(self, request: Request, rows: list[Row]) -> Page:
        limit = min(_whole(request.args.get("limit"), 10), 100)
        after = request.args.get("starting_after")
        if after:
            rows = [r for r in rows if self.record_id(r) > after]
        page = rows[:limit]
        more = len(rows) > limit
        return Page(page, lambda records: {"object": "list", "data": records, "has_more": more})


class Shopify(Dialect):
    inclusive = True
    link_params = frozenset({"page_info"})

    def answer(self, request: Request, rows: list[Row]) -> Page:
        args = request.args
        limit = min(_whole(args.get("limit"), 50), 250)
        info = args.get("page_info")
        if info:
            if set(args) - {"page_info", "limit", "fields"}:
                raise Problem(400, "page_info cannot be combined with other filters")
            state = json.loads(base64.urlsafe_b64decode(info + "=" * (-len(info) % 4)))
            after, minimum = state["after"], state["min"]
        else:
            after, minimum = 0, args.get("updated_at_min")
        since = None if minimum is None else _parse_iso(minimum)
        matching = [r for r in self.since(rows, since, inclusive=True) if r.number > after]
        page = matching[:limit]
        headers = {}
        if len(matching) > limit:
            token = json.dumps({"after": page[-1].number, "min": minimum}).encode()
            query = urlencode({"limit": limit, "page_info": base64.urlsafe_b64encode(token)})
            headers["Link"] = f'<{request.base_url}?{query}>; rel="next"'
        return Page(page, _records_at(self.definition.records_path), headers)


class Xero(Dialect):
    def record_id(self, row: Row) -> Any:
        return f"00000000-0000-4000-8000-{row.number:012d}"

    def stamp(self, moment: datetime) -> Any:
        return f"/Date({int(moment.timestamp() * 1000)}+0000)/"

    def answer(self, request: Request, rows: list[Row]) -> Page:
        page_number = _whole(request.args.get("page"), 1)
        size = min(_whole(request.args.get("pageSize"), 100), 1000)
        header = request.headers.get("If-Modified-Since")
        rows = self.since(rows, None if header is None else _parse_iso(header), inclusive=False)
        page = rows[(page_number - 1) * size : page_number * size]
        return Page(page, _records_at(self.definition.records_path))


class SquarePayments(Dialect):
    inclusive = True

    def answer(self, request: Request, rows: list[Row]) -> Page:
        if request.args.get("sort_field") != "UPDATED_AT":
            raise Problem(400, "the sync must sort by UPDATED_AT to filter on it")
        begin = request.args.get("updated_at_begin_time")
        return self._page(rows, request.args.get("cursor"), request.args.get("limit"), begin)

    def _page(self, rows: list[Row], cursor: Any, limit: Any, begin: Any) -> Page:
        size = min(_whole(limit, 100), 1000)
        matching = self.since(rows, None if begin is None else _parse_iso(begin), inclusive=True)
        start = _position(cursor)
        page = matching[start : start + size]
        more = start + size < len(matching)

        def envelope(records: list[Any]) -> Any:
            body: dict[str, Any] = {self.definition.records_path or "items": records}
            if more:
                body["cursor"] = _token(start + size)
            return body

        return Page(page, envelope)


class SquareOrders(SquarePayments):
    def answer(self, request: Request, rows: list[Row]) -> Page:
        body = request.get_json(silent=True) or {}
        query = body.get("query") or {}
        if (query.get("sort") or {}).get("sort_field") != "UPDATED_AT":
            raise Problem(400, "the sync must sort by UPDATED_AT to filter on it")
        window = (
            ((query.get("filter") or {}).get("date_time_filter") or {}).get("updated_at")
        ) or {}
        return self._page(rows, body.get("cursor"), body.get("limit"), window.get("start_at"))


_STATEMENT = re.compile(
    r"^SELECT \* FROM (?P<entity>\w+)"
    r"(?: WHERE Metadata\.LastUpdatedTime >= '(?P<since>[^']+)')?"
    r" ORDERBY Id STARTPOSITION (?P<start>\d+) MAXRESULTS (?P<max>\d+)$"
)


class QuickBooks(Dialect):
    inclusive = True

    def record_id(self, row: Row) -> Any:
        return str(row.number)

    def answer(self, request: Request, rows: list[Row]) -> Page:
        match = _STATEMENT.match(request.args.get("query", ""))
        if match is None:
            raise Problem(400, "QueryParserError: the statement is not understood")
        since = match.group("since")
        rows = self.since(rows, None if since is None else _parse_iso(since), inclusive=True)
        start, size = int(match.group("start")), min(int(match.group("max")), 1000)
        page = rows[start - 1 : start - 1 + size]
        entity = match.group("entity")
        return Page(
            page,
            lambda records: {
                "QueryResponse": {
                    entity: records,
                    "startPosition": start,
                    "maxResults": len(records),
                }
            },
        )


class HubSpot(Dialect):
    inclusive = True

    def record_id(self, row: Row) -> Any:
        return str(row.number)

    def answer(self, request: Request, rows: list[Row]) -> Page:
        body = request.get_json(silent=True) or {}
        size = min(_whole(body.get("limit"), 10), 200)
        since = None
        for group in body.get("filterGroups") or []:
            for condition in group.get("filters") or []:
                if condition.get("operator") != "GTE":
                    raise Problem(400, "only GTE is simulated")
                since = datetime.fromtimestamp(int(condition["value"]) / 1000, UTC)
        matching = self.since(rows, since, inclusive=True)
        start = _whole(body.get("after"), 0)
        page = matching[start : start + size]
        more = start + size < len(matching)

        def envelope(records: list[Any]) -> Any:
            answer: dict[str, Any] = {"total": len(matching), "results": records}
            if more:
                answer["paging"] = {"next": {"after": str(start + size)}}
            return answer

        return Page(page, envelope)


class _PageToken(Dialect):
    size_param = ""
    max_size = 1000

    def filtered(self, request: Request, rows: list[Row]) -> list[Row]:
        raise NotImplementedError

    def answer(self, request: Request, rows: list[Row]) -> Page:
        size = min(_whole(request.args.get(self.size_param), 100), self.max_size)
        matching = self.filtered(request, rows)
        start = _position(request.args.get("pageToken"))
        page = matching[start : start + size]
        more = start + size < len(matching)

        def envelope(records: list[Any]) -> Any:
            answer: dict[str, Any] = {self.definition.records_path or "items": records}
            if more:
                answer["nextPageToken"] = _token(start + size)
            return answer

        return Page(page, envelope)


_MODIFIED = re.compile(r"^modifiedTime > '([^']+)'$")


class GoogleDrive(_PageToken):
    size_param = "pageSize"
    removes_deleted = False

    def record_id(self, row: Row) -> Any:
        return f"file{row.number:08d}"

    def filtered(self, request: Request, rows: list[Row]) -> list[Row]:
        q = request.args.get("q")
        if q is None:
            return rows
        match = _MODIFIED.match(q)
        if match is None:
            raise Problem(400, "Invalid Value: q")
        return self.since(rows, _parse_iso(match.group(1)), inclusive=False)


class GoogleCalendar(_PageToken):
    size_param = "maxResults"
    max_size = 2500
    inclusive = True
    removes_deleted = False

    def record_id(self, row: Row) -> Any:
        return f"event{row.number:08d}"

    def filtered(self, request: Request, rows: list[Row]) -> list[Row]:
        if request.args.get("showDeleted") != "true":
            rows = [r for r in rows if not r.deleted]
        since = request.args.get("updatedMin")
        return self.since(rows, None if since is None else _parse_iso(since), inclusive=True)


class WooCommerce(Dialect):
    def stamp(self, moment: datetime) -> Any:
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")

    def answer(self, request: Request, rows: list[Row]) -> Page:
        page_number = _whole(request.args.get("page"), 1)
        size = min(_whole(request.args.get("per_page"), 10), 100)
        after = request.args.get("modified_after")
        rows = self.since(rows, None if after is None else _parse_iso(after), inclusive=False)
        page = rows[(page_number - 1) * size : page_number * size]
        pages = -(-len(rows) // size)
        return Page(page, lambda records: records, {"X-WP-TotalPages": str(pages)})


DIALECTS: dict[str, Callable[[str, SyncDefinition], Dialect]] = {
    "stripe": lambda _, d: Stripe(d),
    "shopify": lambda _, d: Shopify(d),
    "xero": lambda _, d: Xero(d),
    "square": lambda name, d: SquareOrders(d) if name == "orders" else SquarePayments(d),
    "quickbooks": lambda _, d: QuickBooks(d),
    "hubspot": lambda _, d: HubSpot(d),
    "google_drive": lambda _, d: GoogleDrive(d),
    "google_calendar": lambda _, d: GoogleCalendar(d),
    "woocommerce": lambda _, d: WooCommerce(d),
}


def _set_path(record: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        record = record.setdefault(part, {})
    record[last] = value


class ProviderSimulator(ServedEmulator):
    """One catalog sync's provider on loopback; ``base_path`` is where its API lives (the
    path of the catalog's ``api_base_url``, placeholders filled)."""

    _what = "a provider simulator"
    _thread_name = "provider-simulator"

    def __init__(
        self, provider: str, sync_name: str, definition: SyncDefinition, *, base_path: str
    ) -> None:
        super().__init__()
        self.provider = provider
        self.definition = definition
        self.base_path = base_path
        self.dialect = DIALECTS[provider](sync_name, definition)
        self._rows: list[Row] = []
        self._lock = threading.Lock()
        self._now = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
        self.requests: list[Request] = []

    # -- the records --------------------------------------------------------------------------

    def _tick(self) -> datetime:
        self._now += timedelta(seconds=1)  # one change a second: modified-since is exact
        return self._now

    def add(self, count: int) -> list[int]:
        with self._lock:
            start = len(self._rows) + 1
            self._rows.extend(Row(n, self._tick()) for n in range(start, start + count))
            return list(range(start, start + count))

    def update(self, numbers: Iterable[int]) -> None:
        with self._lock:
            for number in numbers:
                row = self._rows[number - 1]
                row.version += 1
                row.updated = self._tick()

    def delete(self, numbers: Iterable[int]) -> None:
        with self._lock:
            for number in numbers:
                row = self._rows[number - 1]
                row.deleted = True
                row.updated = self._tick()

    def record_id(self, number: int) -> str:
        return str(self.dialect.record_id(self._rows[number - 1]))

    def _visible(self) -> list[Row]:
        tombstones = isinstance(self.definition.deletes, Tombstone)
        hide = self.dialect.removes_deleted and not tombstones
        return [r for r in self._rows if not (hide and r.deleted)]

    def _shape(self, row: Row) -> dict[str, Any]:
        definition = self.definition
        record: dict[str, Any] = {"version": row.version}
        _set_path(record, definition.id_path, self.dialect.record_id(row))
        if definition.updated_at_path is not None:
            _set_path(record, definition.updated_at_path, self.dialect.stamp(row.updated))
        deletes = definition.deletes
        if isinstance(deletes, Tombstone):
            gone: Any = True if deletes.tombstone_value is None else deletes.tombstone_value
            alive: Any = False if deletes.tombstone_value is None else "ACTIVE"
            _set_path(record, deletes.tombstone_path, gone if row.deleted else alive)
        return record

    # -- HTTP ---------------------------------------------------------------------------------

    def _wsgi_app(self) -> WSGIApplication:
        return self._wsgi

    def _wsgi(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        try:
            response = self._dispatch(request)
        except Problem as problem:
            response = json_response({"error": problem.message}, problem.status)
        return response(environ, start_response)

    def _check(self, request: Request) -> Operation:
        operation = operation_at(self.provider, request.path, request.method)
        if operation is None:
            raise Problem(404, "no such operation in the published API")
        linked = self.dialect.link_params if "link" in operation.headers else frozenset()
        unknown = [
            name
            for name in request.args
            if operation.params.get(name) != "query" and name not in linked
        ]
        if unknown:
            raise Problem(400, f"unknown query parameters {sorted(unknown)}")
        if request.method == "POST":
            body = request.get_json(silent=True)
            if not isinstance(body, dict):
                raise Problem(400, "the body must be a JSON object")
            fields = [key for key in body if operation.at(operation.body, key) is None]
            if fields:
                raise Problem(400, f"unknown body fields {sorted(fields)}")
        return operation

    def _dispatch(self, request: Request) -> Response:
        with self._lock:
            self.requests.append(request)
        self._check(request)
        with self._lock:
            rows = list(self._visible())
            page = self.dialect.answer(request, rows)
            records = [self._shape(row) for row in page.rows]
        return json_response(page.envelope(records), headers=page.headers)
