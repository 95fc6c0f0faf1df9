"""A local API of mutable datasets, for offline syncs: records that tests add, update and delete
while a sync reads them, served on loopback in every pagination style fetch walks, with a
modified-since filter.

Each dataset (created on first use, by name) holds records
``{"id": n, "name": "<dataset> n", "version": v, "updated_at": "<RFC 3339, ms, Z>"}`` with ids
from 1. Every change stamps ``updated_at`` from a clock that never repeats a value, so "changed
since T" is exact. A deleted record disappears, or, in a dataset made with
``tombstones=True``, stays listed with ``"deleted": true`` (like a trashed Drive file).
Records are served in id order::

    GET  /<dataset>/cursor?cursor=&limit=&updated_since=   {"data": [...], "next_cursor": ..|null}
    POST /<dataset>/search  {"cursor", "limit", "updated_since"}   the same, cursor in the body
    GET  /<dataset>/page?page=&per_page=&updated_since=    {"items": [...], "page", "total"}
    GET  /<dataset>/offset?offset=&limit=&updated_since=   {"results": [...], "offset", "total"}
    GET  /<dataset>/link?page=&per_page=&updated_since=    [...] with Link: rel="next"
    POST /<dataset>/graphql  {"query": "...", "variables": {"first", "after", "updatedSince"}}
                             {"data": {"records": {"edges": [{"node"}],
                                                    "pageInfo": {"hasNextPage", "endCursor"}}}}

``updated_since`` (RFC 3339) keeps records changed strictly after it. A cursor continues after
an id, so a walk sees every record that exists from its start to its end exactly once, however
the dataset changes meanwhile (an added record with a higher id is seen too); ``page`` and
``offset`` count positions and can skip or repeat when records are deleted mid-walk, as real
APIs of that style do.

Tests control a dataset in process (``api.dataset("invoices").add(1234)``, ``.update(ids)``,
``.delete(ids)``) or over HTTP, for a server in another process::

    POST /_control/<dataset>/add     {"count": n}     -> {"ids": [...]}
    POST /_control/<dataset>/update  {"ids": [...]}   -> {"ids": [...]}   (unknown ids: 404)
    POST /_control/<dataset>/delete  {"ids": [...]}   -> {"ids": [...]}
    GET  /_control/<dataset>                          -> {"count", "deleted", "records": [...]}

Run it in the foreground with ``python -m tether_emulators.dataset_api --port 8091``.
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from werkzeug.wrappers import Request, Response

from tether_emulators.datasets import Dataset, decode_cursor, encode_cursor
from tether_emulators.json_answers import Problem, json_response
from tether_emulators.wsgi_server import ServedEmulator

__all__ = ["Dataset", "DatasetApi", "decode_cursor", "encode_cursor", "main"]

log = logging.getLogger("tether_emulators.dataset_api")

_STYLES = ("cursor", "search", "page", "offset", "link", "graphql")


class DatasetApi(ServedEmulator):
    """The dataset API on loopback (``start()`` / ``stop()``, or as a context manager)."""

    _what = "the dataset API"
    _thread_name = "dataset-api"

    def __init__(
        self,
        *,
        default_limit: int = 50,
        max_limit: int = 1000,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if not 1 <= default_limit <= max_limit:
            raise ValueError("default_limit must be 1..max_limit")
        super().__init__()
        self.default_limit = default_limit
        self.max_limit = max_limit
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self._datasets: dict[str, Dataset] = {}
        self.requests = 0

    # -- datasets -----------------------------------------------------------------------------

    def dataset(self, name: str, *, tombstones: bool = False) -> Dataset:
        """The dataset ``name``, made on first use (``tombstones`` counts only then)."""
        if not name.replace("_", "").isalnum() or not name.isascii() or len(name) > 64:
            raise ValueError("a dataset name is 1..64 ASCII letters, digits and _")
        with self._lock:
            found = self._datasets.get(name)
            if found is None:
                found = Dataset(name, tombstones=tombstones, clock=self._clock)
                self._datasets[name] = found
            return found

    # -- lifecycle ----------------------------------------------------------------------------

    def _wsgi_app(self) -> WSGIApplication:
        return self._wsgi

    # -- WSGI ---------------------------------------------------------------------------------

    def _wsgi(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        with self._lock:
            self.requests += 1
        try:
            response = self._dispatch(request)
        except Problem as problem:
            response = json_response({"error": problem.message}, problem.status)
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        parts = [part for part in request.path.split("/") if part]
        if len(parts) in (2, 3) and parts[0] == "_control":
            return self._control(request, parts[1], parts[2] if len(parts) == 3 else None)
        if len(parts) != 2 or parts[1] not in _STYLES:
            raise Problem(404, "no such endpoint")
        style = parts[1]
        wanted = "POST" if style in ("search", "graphql") else "GET"
        if request.method != wanted:
            return json_response({"error": f"use {wanted}"}, 405, {"Allow": wanted})
        try:
            dataset = self.dataset(parts[0])
        except ValueError as exc:
            raise Problem(404, str(exc)) from None
        handler: Callable[[Request, Dataset], Response] = getattr(self, f"_{style}")
        return handler(request, dataset)

    # -- reading arguments --------------------------------------------------------------------

    @staticmethod
    def _body(request: Request) -> dict[str, Any]:
        try:
            payload = json.loads(request.get_data(cache=True) or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise Problem(400, "the body is not JSON") from None
        if not isinstance(payload, dict):
            raise Problem(400, "the body must be a JSON object")
        return payload

    @staticmethod
    def _whole(value: Any, name: str, default: int, minimum: int) -> int:
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            raise Problem(400, f"{name} must be a whole number")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise Problem(400, f"{name} must be a whole number") from None
        if number < minimum:
            raise Problem(400, f"{name} must be at least {minimum}")
        return number

    def _limit(self, value: Any, name: str) -> int:
        return min(self._whole(value, name, self.default_limit, 1), self.max_limit)

    @staticmethod
    def _since(value: Any) -> datetime | None:
        if value is None or value == "":
            return None
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            raise Problem(400, "updated_since must be an RFC 3339 date-time") from None
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)

    @staticmethod
    def _after(cursor: Any) -> int:
        if cursor is None or cursor == "":
            return 0
        try:
            return decode_cursor(str(cursor))
        except ValueError:
            raise Problem(400, "unknown cursor") from None

    # -- the styles ---------------------------------------------------------------------------

    def _cursor_page(self, dataset: Dataset, cursor: Any, limit: int, since: Any) -> Response:
        matching = dataset.select(
            after=self._after(cursor), since=self._since(since), limit=limit + 1
        )
        page = matching[:limit]
        more = len(matching) > limit
        return json_response(
            {"data": page, "next_cursor": encode_cursor(page[-1]["id"]) if more else None}
        )

    def _cursor(self, request: Request, dataset: Dataset) -> Response:
        args = request.args
        limit = self._limit(args.get("limit"), "limit")
        return self._cursor_page(dataset, args.get("cursor"), limit, args.get("updated_since"))

    def _search(self, request: Request, dataset: Dataset) -> Response:
        body = self._body(request)
        limit = self._limit(body.get("limit"), "limit")
        return self._cursor_page(dataset, body.get("cursor"), limit, body.get("updated_since"))

    def _positioned(self, request: Request, dataset: Dataset, first: int, count: int) -> Any:
        matching = dataset.select(after=0, since=self._since(request.args.get("updated_since")))
        return matching[first : first + count], len(matching)

    def _page(self, request: Request, dataset: Dataset) -> Response:
        page = self._whole(request.args.get("page"), "page", 1, 1)
        per_page = self._limit(request.args.get("per_page"), "per_page")
        records, total = self._positioned(request, dataset, (page - 1) * per_page, per_page)
        return json_response({"items": records, "page": page, "per_page": per_page, "total": total})

    def _offset(self, request: Request, dataset: Dataset) -> Response:
        offset = self._whole(request.args.get("offset"), "offset", 0, 0)
        limit = self._limit(request.args.get("limit"), "limit")
        records, total = self._positioned(request, dataset, offset, limit)
        return json_response({"results": records, "offset": offset, "limit": limit, "total": total})

    def _link(self, request: Request, dataset: Dataset) -> Response:
        page = self._whole(request.args.get("page"), "page", 1, 1)
        per_page = self._limit(request.args.get("per_page"), "per_page")
        records, total = self._positioned(request, dataset, (page - 1) * per_page, per_page)
        headers: dict[str, str] = {"X-Total-Count": str(total)}
        if page * per_page < total:
            query: dict[str, str | int] = {"page": page + 1, "per_page": per_page}
            since = request.args.get("updated_since")
            if since:
                query["updated_since"] = since
            target = f"{request.host_url.rstrip('/')}{request.path}?{urlencode(query)}"
            headers["Link"] = f'<{target}>; rel="next"'
        return json_response(records, headers=headers)

    def _graphql(self, request: Request, dataset: Dataset) -> Response:
        body = self._body(request)
        if not isinstance(body.get("query"), str):
            raise Problem(400, "a 'query' string is required")
        variables = body.get("variables") or {}
        if not isinstance(variables, dict):
            raise Problem(400, "'variables' must be an object")
        first = self._limit(variables.get("first"), "first")
        matching = dataset.select(
            after=self._after(variables.get("after")),
            since=self._since(variables.get("updatedSince")),
            limit=first + 1,
        )
        page = matching[:first]
        end_cursor = encode_cursor(page[-1]["id"]) if page else None
        info = {"hasNextPage": len(matching) > first, "endCursor": end_cursor}
        connection = {"edges": [{"node": record} for record in page], "pageInfo": info}
        return json_response({"data": {"records": connection}})

    # -- control ------------------------------------------------------------------------------

    def _control(self, request: Request, name: str, action: str | None) -> Response:
        try:
            dataset = self.dataset(name)
        except ValueError as exc:
            raise Problem(404, str(exc)) from None
        if action is None:
            if request.method != "GET":
                return json_response({"error": "use GET"}, 405, {"Allow": "GET"})
            records = dataset.records()
            deleted = sum(1 for record in records if record.get("deleted"))
            return json_response(
                {"count": len(records) - deleted, "deleted": deleted, "records": records}
            )
        if request.method != "POST":
            return json_response({"error": "use POST"}, 405, {"Allow": "POST"})
        body = self._body(request)
        if action == "add":
            try:
                return json_response(
                    {"ids": dataset.add(self._whole(body.get("count"), "count", 0, 0))}
                )
            except ValueError as exc:
                raise Problem(400, str(exc)) from None
        changes: dict[str, Callable[[Sequence[int]], list[int]]] = {
            "update": dataset.update,
            "delete": dataset.delete,
        }
        change = changes.get(action)
        if change is None:
            raise Problem(404, "no such control")
        ids = body.get("ids")
        if not isinstance(ids, list) or not all(
            isinstance(n, int) and not isinstance(n, bool) for n in ids
        ):
            raise Problem(400, "ids must be a list of whole numbers")
        try:
            return json_response({"ids": change(ids)})
        except KeyError as missing:
            raise Problem(404, f"no record {missing.args[0]}") from None


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the dataset API in the foreground until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m tether_emulators.dataset_api")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8091)
    args = parser.parse_args(argv)
    api = DatasetApi()
    api.start(args.host, args.port)
    print(f"dataset API on {api.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        api.stop()


if __name__ == "__main__":
    main()
