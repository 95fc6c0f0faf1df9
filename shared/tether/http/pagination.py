"""Pagination strategies of fetch: pure functions from (spec, current request, response) to the
next request, or ``None`` when the walk is done.

Five styles, chosen by the spec's ``type``:

* ``cursor``: the next cursor is read from a dotted path of the body (``meta.next_cursor``)
  and sent as ``cursor_param``; a missing, null or empty cursor ends the walk.
* ``link``: the RFC 8288 ``Link`` header's ``rel="next"`` target (relative targets are
  resolved against the current URL) is the whole next URL.
* ``offset``: ``offset_param`` advances by the records received; a page with fewer than
  ``limit`` records is the last.
* ``page``: ``page_param`` counts up from ``start``; same stop rule.
* ``graphql``: Relay ``pageInfo {hasNextPage endCursor}`` next to the records' connection
  (the parent of ``records_path``, or ``page_info_path``); ``endCursor`` goes into the
  ``after`` variable of the GraphQL body.

:class:`Paginator` adds loop detection: a request seen before in the same walk (the provider
answered a cursor, link or offset it had already answered) raises :class:`PaginationLoop`.

Dotted paths (``data.items``, ``results.0.rows``) walk objects by key and lists by numeric
index. Errors name paths and types, never record content.

Size: five strategies of one protocol (spec, request, response → next request) and their shared
cursor codec.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Literal
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field

from tether.domain.decimal_digits import parse_decimal
from tether.domain.errors import InvalidRequest

__all__ = [
    "DOTTED_PATH",
    "CursorPagination",
    "GraphQLPagination",
    "LinkPagination",
    "OffsetPagination",
    "PagePagination",
    "PageRequest",
    "PaginationError",
    "PaginationLoop",
    "PaginationSpec",
    "Paginator",
    "RecordsPathError",
    "check_spec",
    "cursor_request",
    "extract_records",
    "first_request",
    "get_path",
    "next_link",
    "next_request",
    "page_info_path",
    "parse_link_header",
]

# A dotted path: object keys and list indexes separated by dots.
DOTTED_PATH = r"^[A-Za-z0-9_$@-]+(\.[A-Za-z0-9_$@-]+)*$"
_PARAM_NAME = r"^[A-Za-z0-9_.$@\[\]-]{1,100}$"
_MAX_LIMIT = 100_000


class PaginationError(InvalidRequest):
    """The pagination spec does not fit the request or the provider's answers."""

    default_code = "INVALID_PAGINATION"


class PaginationLoop(PaginationError):
    """The provider sent the walk back to a page it had already answered."""

    default_code = "PAGINATION_LOOP"


class RecordsPathError(InvalidRequest):
    """``records_path`` does not lead to a list of records."""

    default_code = "INVALID_RECORDS_PATH"


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CursorPagination(_Spec):
    """The next cursor is at ``cursor_path`` in the body and is sent as ``cursor_param``
    (a query parameter, or a top-level key of the JSON body with ``param_in="body"``)."""

    type: Literal["cursor"] = "cursor"
    cursor_path: str = Field(pattern=DOTTED_PATH, max_length=200)
    cursor_param: str = Field(pattern=_PARAM_NAME)
    param_in: Literal["query", "body"] = "query"


class LinkPagination(_Spec):
    """The next page is the ``Link: <...>; rel="next"`` target of each response."""

    type: Literal["link"] = "link"


class OffsetPagination(_Spec):
    """``offset_param`` from 0 (or the request's own value), ``limit`` records a page; a page
    with fewer than ``limit`` records is the last. ``limit_param`` ``None``: the API's page
    size is fixed and ``limit`` must equal it."""

    type: Literal["offset"] = "offset"
    offset_param: str = Field(default="offset", pattern=_PARAM_NAME)
    limit_param: str | None = Field(default="limit", pattern=_PARAM_NAME)
    limit: int = Field(ge=1, le=_MAX_LIMIT)
    param_in: Literal["query", "body"] = "query"


class PagePagination(_Spec):
    """``page_param`` from ``start``, ``limit`` records a page; same stop rule as offset."""

    type: Literal["page"] = "page"
    page_param: str = Field(default="page", pattern=_PARAM_NAME)
    start: int = Field(default=1, ge=0)
    limit_param: str | None = Field(default="per_page", pattern=_PARAM_NAME)
    limit: int = Field(ge=1, le=_MAX_LIMIT)
    param_in: Literal["query", "body"] = "query"


class GraphQLPagination(_Spec):
    """Relay connections: ``pageInfo`` at ``page_info_path`` (default: next to the records,
    ``<parent of records_path>.pageInfo``); ``endCursor`` becomes the ``cursor_variable``."""

    type: Literal["graphql"] = "graphql"
    page_info_path: str | None = Field(default=None, pattern=DOTTED_PATH, max_length=200)
    cursor_variable: str = Field(default="after", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")


PaginationSpec = Annotated[
    CursorPagination | LinkPagination | OffsetPagination | PagePagination | GraphQLPagination,
    Field(discriminator="type"),
]


@dataclass(frozen=True)
class PageRequest:
    """One page's request. ``url`` may carry its own query (a ``Link`` target does);
    ``params`` are added to it; ``body`` is the JSON body (``None``: none)."""

    url: str
    params: Mapping[str, str] = field(default_factory=dict)
    body: Any = None

    def full_url(self) -> str:
        """``url`` with ``params`` merged into its query (for resolving relative links)."""
        if not self.params:
            return self.url
        parts = urlsplit(self.url)
        added = urlencode(list(self.params.items()))
        query = f"{parts.query}&{added}" if parts.query else added
        return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))

    def key(self) -> str:
        """What makes two requests the same page (loop detection)."""
        return json.dumps(
            [self.url, sorted(self.params.items()), self.body], sort_keys=True, default=str
        )


# -- dotted paths -----------------------------------------------------------------------------


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()


def _lookup(value: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(value, Mapping):
            if part not in value:
                return _MISSING
            value = value[part]
        elif isinstance(value, list) and (index := parse_decimal(part)) is not None:
            if index >= len(value):
                return _MISSING
            value = value[index]
        else:
            return _MISSING
    return value


def get_path(value: Any, path: str, default: Any = None) -> Any:
    """The value at dotted ``path`` (numeric segments index lists), or ``default``."""
    found = _lookup(value, path)
    return default if found is _MISSING else found


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return type(value).__name__


def extract_records(body: Any, records_path: str | None, *, single: bool = False) -> list[Any]:
    """The records of a response body.

    ``records_path`` ``None``: the body itself, which must be a list. Otherwise the list at
    the dotted path; ``null`` there counts as no records. With ``single`` an object (at the
    path, or the body) is one record. Anything else raises :class:`RecordsPathError`.
    """
    where = "the response body" if records_path is None else f"records_path '{records_path}'"
    value = body if records_path is None else _lookup(body, records_path)
    if value is _MISSING:
        raise RecordsPathError(
            f"{where} is not in the response",
            details={"records_path": records_path, "found": "missing"},
        )
    if isinstance(value, list):
        return value
    if value is None and records_path is not None:
        return []
    if single and isinstance(value, Mapping):
        return [value]
    hint = " (set records_path)" if records_path is None else ""
    raise RecordsPathError(
        f"{where} is {_kind(value)}, not a list{hint}",
        details={"records_path": records_path, "found": _kind(value)},
    )


# -- RFC 8288 Link header ---------------------------------------------------------------------

_WHITESPACE = " \t"


def _skip_whitespace(text: str, index: int) -> int:
    while index < len(text) and text[index] in _WHITESPACE:
        index += 1
    return index


def _quoted(text: str, index: int) -> tuple[str, int]:
    """The quoted-string starting at ``text[index] == '"'`` and the index after it."""
    chars: list[str] = []
    index += 1
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            chars.append(text[index + 1])
            index += 2
            continue
        if char == '"':
            return "".join(chars), index + 1
        chars.append(char)
        index += 1
    return "".join(chars), index


def _skip_past_comma(text: str, index: int) -> int:
    """Past the next comma that is not inside a quoted string or ``<...>``."""
    while index < len(text):
        char = text[index]
        if char == '"':
            _, index = _quoted(text, index)
            continue
        if char == "<":
            end = text.find(">", index)
            index = len(text) if end < 0 else end + 1
            continue
        index += 1
        if char == ",":
            break
    return index


def parse_link_header(value: str) -> list[tuple[str, dict[str, str]]]:
    """The links of a ``Link`` header value: ``(target, params)`` in order. Parameter names
    are lower-cased; a repeated parameter keeps its first value (RFC 8288 §3.3); malformed
    parts are skipped."""
    links: list[tuple[str, dict[str, str]]] = []
    index = 0
    while index < len(value):
        index = _skip_whitespace(value, index)
        if index >= len(value):
            break
        if value[index] == ",":
            index += 1
            continue
        if value[index] != "<":
            index = _skip_past_comma(value, index)
            continue
        end = value.find(">", index + 1)
        if end < 0:
            break
        target = value[index + 1 : end].strip()
        index = end + 1
        params: dict[str, str] = {}
        while True:
            index = _skip_whitespace(value, index)
            if index >= len(value) or value[index] != ";":
                break
            index = _skip_whitespace(value, index + 1)
            start = index
            while index < len(value) and value[index] not in '=;,"' + _WHITESPACE:
                index += 1
            name = value[start:index].lower()
            index = _skip_whitespace(value, index)
            param_value = ""
            if index < len(value) and value[index] == "=":
                index = _skip_whitespace(value, index + 1)
                if index < len(value) and value[index] == '"':
                    param_value, index = _quoted(value, index)
                else:
                    start = index
                    while index < len(value) and value[index] not in ";," + _WHITESPACE:
                        index += 1
                    param_value = value[start:index]
            if name:
                params.setdefault(name, param_value)
        links.append((target, params))
        index = _skip_past_comma(value, index)
    return links


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    found = [value for key, value in headers.items() if key.lower() == wanted]
    return ", ".join(found) if found else None


def next_link(headers: Mapping[str, str], current_url: str) -> str | None:
    """The absolute URL of the ``rel="next"`` link in ``headers``, or ``None``."""
    header = _header(headers, "link")
    if not header:
        return None
    for target, params in parse_link_header(header):
        relations = params.get("rel", "").lower().split()
        if "next" in relations and target:
            return urljoin(current_url, target)
    return None


# -- the strategies ---------------------------------------------------------------------------


def _with_value(
    request: PageRequest, name: str, value: str | int, where: Literal["query", "body"]
) -> PageRequest:
    if where == "query":
        return replace(request, params={**request.params, name: str(value)})
    if not isinstance(request.body, Mapping):
        raise PaginationError(
            f"the pagination parameter '{name}' goes in the body: the request needs a JSON "
            "object body"
        )
    return replace(request, body={**request.body, name: value})


def cursor_request(spec: CursorPagination, request: PageRequest, cursor: str) -> PageRequest:
    """``request`` asking for the page after ``cursor`` (a cursor found some other way than at
    ``cursor_path``: a sync's named ``next_cursor`` hook)."""
    return _with_value(request, spec.cursor_param, cursor, spec.param_in)


def _current_number(
    request: PageRequest, name: str, where: Literal["query", "body"], default: int
) -> int:
    source: Any = request.params if where == "query" else request.body
    raw = source.get(name) if isinstance(source, Mapping) else None
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise PaginationError(
            f"the pagination parameter '{name}' is not a whole number", details={"param": name}
        ) from None


def _graphql_variables(request: PageRequest) -> dict[str, Any]:
    if not isinstance(request.body, Mapping) or not isinstance(request.body.get("query"), str):
        raise PaginationError(
            "graphql pagination needs a POST body with a 'query' string",
            details={"pagination": "graphql"},
        )
    variables = request.body.get("variables")
    if variables is None:
        return {}
    if not isinstance(variables, Mapping):
        raise PaginationError("the GraphQL 'variables' must be an object")
    return dict(variables)


def page_info_path(spec: GraphQLPagination, records_path: str | None) -> str:
    """Where ``pageInfo`` is: the spec's ``page_info_path``, else next to the records."""
    if spec.page_info_path is not None:
        return spec.page_info_path
    if records_path is None:
        raise PaginationError(
            "graphql pagination needs records_path (or page_info_path) to find pageInfo",
            details={"pagination": "graphql"},
        )
    parent, dot, _ = records_path.rpartition(".")
    return f"{parent}.pageInfo" if dot else "pageInfo"


def check_spec(
    spec: PaginationSpec | None, *, method: str, body: Any, records_path: str | None
) -> None:
    """Raise :class:`PaginationError` when ``spec`` cannot work with this request."""
    if isinstance(spec, GraphQLPagination):
        if method != "POST":
            raise PaginationError("graphql pagination needs method POST")
        _graphql_variables(PageRequest(url="", body=body))
        page_info_path(spec, records_path)
    elif (
        isinstance(spec, CursorPagination | OffsetPagination | PagePagination)
        and spec.param_in == "body"
        and not isinstance(body, Mapping)
    ):
        raise PaginationError("param_in 'body' needs a JSON object body")


def first_request(spec: PaginationSpec | None, request: PageRequest) -> PageRequest:
    """The first page's request: offset and page styles set their page size (and their
    starting offset or page unless the request names one); the others send it as is."""
    if isinstance(spec, OffsetPagination):
        offset = _current_number(request, spec.offset_param, spec.param_in, 0)
        request = _with_value(request, spec.offset_param, offset, spec.param_in)
        if spec.limit_param is not None:
            request = _with_value(request, spec.limit_param, spec.limit, spec.param_in)
    elif isinstance(spec, PagePagination):
        page = _current_number(request, spec.page_param, spec.param_in, spec.start)
        request = _with_value(request, spec.page_param, page, spec.param_in)
        if spec.limit_param is not None:
            request = _with_value(request, spec.limit_param, spec.limit, spec.param_in)
    return request


def next_request(
    spec: PaginationSpec | None,
    request: PageRequest,
    *,
    body: Any,
    headers: Mapping[str, str],
    record_count: int,
    records_path: str | None = None,
) -> PageRequest | None:
    """The request for the page after ``request`` (whose answer was ``body`` and ``headers``
    with ``record_count`` records), or ``None`` when there is none."""
    if spec is None:
        return None
    if isinstance(spec, CursorPagination):
        cursor = get_path(body, spec.cursor_path)
        if cursor is None or cursor == "" or cursor is False:
            return None
        if not isinstance(cursor, str | int) or isinstance(cursor, bool):
            raise PaginationError(
                f"cursor_path '{spec.cursor_path}' is {_kind(cursor)}, not a cursor",
                details={"cursor_path": spec.cursor_path},
            )
        return _with_value(request, spec.cursor_param, str(cursor), spec.param_in)
    if isinstance(spec, LinkPagination):
        target = next_link(headers, request.full_url())
        return None if target is None else PageRequest(url=target, body=request.body)
    if isinstance(spec, OffsetPagination):
        if record_count < spec.limit:
            return None
        offset = _current_number(request, spec.offset_param, spec.param_in, 0)
        return _with_value(request, spec.offset_param, offset + record_count, spec.param_in)
    if isinstance(spec, PagePagination):
        if record_count < spec.limit:
            return None
        page = _current_number(request, spec.page_param, spec.param_in, spec.start)
        return _with_value(request, spec.page_param, page + 1, spec.param_in)
    return _next_graphql(spec, request, body, records_path)


def _next_graphql(
    spec: GraphQLPagination, request: PageRequest, body: Any, records_path: str | None
) -> PageRequest | None:
    path = page_info_path(spec, records_path)
    info = get_path(body, path)
    if not isinstance(info, Mapping):
        raise PaginationError(
            f"no pageInfo object at '{path}' in the GraphQL response",
            details={"page_info_path": path},
        )
    if not info.get("hasNextPage"):
        return None
    cursor = info.get("endCursor")
    if not isinstance(cursor, str) or not cursor:
        raise PaginationError(
            f"pageInfo at '{path}' has hasNextPage but no endCursor",
            details={"page_info_path": path},
        )
    variables = _graphql_variables(request)
    variables[spec.cursor_variable] = cursor
    return replace(request, body={**request.body, "variables": variables})


class Paginator:
    """One walk over the pages of ``spec``: :func:`first_request` / :func:`next_request` with
    loop detection (a request already made in this walk raises :class:`PaginationLoop`)."""

    def __init__(self, spec: PaginationSpec | None, *, records_path: str | None = None) -> None:
        self.spec = spec
        self.records_path = records_path
        # A digest of each request made: a provider's cursor may be as large as its answer,
        # and a walk of many pages must not hold a copy of every one.
        self._seen: set[bytes] = set()

    def start(self, request: PageRequest) -> PageRequest:
        """The first request of a new walk."""
        return self._visit(first_request(self.spec, request))

    def resume(self, request: PageRequest) -> PageRequest:
        """Continue a walk at ``request`` (a state saved by an earlier walk)."""
        return self._visit(request)

    def next(
        self,
        request: PageRequest,
        *,
        body: Any,
        headers: Mapping[str, str],
        records: Sequence[Any] | int,
    ) -> PageRequest | None:
        """The next request (``None``: done); :class:`PaginationLoop` when it was made
        before in this walk. ``records`` are the current page's records (or their count)."""
        count = records if isinstance(records, int) else len(records)
        found = next_request(
            self.spec,
            request,
            body=body,
            headers=headers,
            record_count=count,
            records_path=self.records_path,
        )
        return None if found is None else self._visit(found)

    def _visit(self, request: PageRequest) -> PageRequest:
        key = hashlib.sha256(request.key().encode("utf-8", "surrogatepass")).digest()
        if key in self._seen:
            kind = self.spec.type if self.spec is not None else "none"
            what = {"link": "next link", "offset": "offset", "page": "page"}.get(kind, "cursor")
            raise PaginationLoop(
                f"the provider sent a {what} it had already sent: pagination loops",
                details={"pagination": kind, "pages": len(self._seen)},
            )
        self._seen.add(key)
        return request
