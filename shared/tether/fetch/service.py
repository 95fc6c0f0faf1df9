"""Fetch: records from a connected API, walking its pages.

:class:`FetchService` knows nothing of credentials: it is given a ``send`` callable that makes
one HTTP request through the connection's outbound client (auth, rate limit, SSRF guard and
redaction are bound in by the caller), the API's base URL and a default pagination spec.

A :class:`FetchRequest` names a path under the base URL (an absolute URL only on the same
scheme, host and port), parameters, a JSON body (POST), where the records are
(``records_path``), how to page (``pagination``; omitted: the service default, ``null``: one
request) and limits. The walk stops at the last page, at ``max_pages`` requests, at
``max_records`` records, once it has read :data:`MAX_WALK_BYTES` of the provider's answers
(the records are held and answered whole: a walk of many large pages must not grow past
what one function instance can hold or send) or once it has taken :data:`MAX_WALK_SECONDS`
(a slow provider's pages must not run a fetch past its function's time limit, which would
lose the pages read); when a limit stopped it, :class:`FetchResult`
is ``truncated`` and ``next_cursor`` continues exactly where it stopped: pass it back as
``cursor`` with the same request. The cursor is base64url JSON of the next request (URL,
parameters, body, and how many records of that page were already returned); it is checked
again when it comes back.

Every URL the walk requests is on the base URL's origin: a ``Link`` to another host stops the
walk (``PAGINATION_OFF_HOST``) rather than send the connection's credentials there. A non-2xx
answer raises :class:`ProviderError` (status and ``Retry-After`` only: nothing of the body).

The records and the cursor pass through ``redact`` (given by the caller: the connection's
credential values, masked by value) before they leave: an API that echoes the request (its
``Authorization`` header, its query) must not hand the tenant's own secrets back in the output.

Size: one walk over pages (request building, cursors, limits, loop detection) that reads as one
piece.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Literal, Protocol
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from tether.catalog.templates import join_url
from tether.domain.bounded_json import holds_lone_surrogate, loads_bounded
from tether.domain.decimal_digits import parse_decimal
from tether.domain.errors import InvalidRequest, TetherError
from tether.http.model import OutboundResponse
from tether.http.pagination import (
    DOTTED_PATH,
    GraphQLPagination,
    PageRequest,
    PaginationError,
    PaginationSpec,
    Paginator,
    check_spec,
    extract_records,
)
from tether.http.request_size import check_body_size, check_params_size

__all__ = [
    "MAX_WALK_BYTES",
    "MAX_WALK_SECONDS",
    "FetchRequest",
    "FetchResult",
    "FetchService",
    "ProviderError",
    "Send",
]

MAX_PAGES = 1000
MAX_RECORDS = 100_000
# The provider's bytes one walk reads (a page may pass it by at most the outbound client's
# response cap): well within a fetch instance's memory and an HTTP answer's 32 MiB.
MAX_WALK_BYTES = 16 * 1024 * 1024
# The time one walk takes before it stops at the next page: with that page (the outbound
# client's 30 s at most) well within the time limit of the functions that fetch (fetch, mcp).
MAX_WALK_SECONDS = 60.0
# A cursor holds the next request (URL, parameters, body within http.request_size's limits):
# its cap covers the largest ones.
_MAX_CURSOR = 128 * 1024
_CURSOR_VERSION = 1
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_UNSAFE_RE = re.compile(r"[\x00-\x20\x7f]")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})

ParamValue = str | int | float | bool
_SPEC: TypeAdapter[PaginationSpec] = TypeAdapter(PaginationSpec)


class Send(Protocol):
    """One HTTP request through the connection's outbound client. ``url`` has no query unless
    ``params`` is ``None`` (then the query is in ``url``, complete)."""

    def __call__(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None,
        json: Any,
        headers: Mapping[str, str] | None,
    ) -> OutboundResponse: ...


class ProviderError(TetherError):
    """The provider answered, but not with a usable success. ``details["provider_status"]``
    is its HTTP status; the message never contains the response body."""

    default_code: ClassVar[str] = "PROVIDER_ERROR"
    default_status: ClassVar[int] = 502

    def __init__(
        self,
        message: str,
        *,
        provider_status: int,
        code: str | None = None,
        retryable: bool | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            message,
            code=code,
            retryable=provider_status in _RETRYABLE_STATUSES if retryable is None else retryable,
            details={"provider_status": provider_status, **(details or {})},
        )
        self.provider_status = provider_status


class FetchRequest(BaseModel):
    """What to fetch. ``pagination`` left out: the service's default; ``None``: one request."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    method: Literal["GET", "POST"] = "GET"
    path: str = Field(default="", max_length=4096)
    params: dict[str, ParamValue] = Field(default_factory=dict)
    body: dict[str, Any] | list[Any] | None = None
    records_path: str | None = Field(default=None, pattern=DOTTED_PATH, max_length=200)
    pagination: PaginationSpec | None = None
    max_pages: int = Field(default=10, ge=1, le=MAX_PAGES)
    max_records: int = Field(default=1000, ge=1, le=MAX_RECORDS)
    cursor: str | None = Field(default=None, min_length=1, max_length=_MAX_CURSOR)

    @field_validator("method", mode="before")
    @classmethod
    def _upper_method(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("params")
    @classmethod
    def _param_names(cls, value: dict[str, ParamValue]) -> dict[str, ParamValue]:
        for name in value:
            if not name or len(name) > 200 or _UNSAFE_RE.search(name):
                raise ValueError("parameter names are 1 to 200 visible characters")
        check_params_size(value)
        return value

    @model_validator(mode="after")
    def _body_fits(self) -> FetchRequest:
        if self.body is not None:
            if self.method != "POST":
                raise ValueError("a body needs method POST")
            check_body_size(self.body)
        return self


class FetchResult(BaseModel):
    """The records fetched, how many requests it took, and how to go on when truncated."""

    model_config = ConfigDict(extra="forbid")

    records: list[Any]
    pages: int
    next_cursor: str | None = None
    truncated: bool = False


def _origin(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]


def _has_user_info(url: str) -> bool:
    """Whether ``url`` names a user (``user:password@host``): credentials of the caller's
    own, which the outbound client refuses to send (a 502 that was the caller's input)."""
    return "@" in urlsplit(url).netloc


def _param_text(value: ParamValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _split_query(url: str) -> tuple[str, dict[str, str]]:
    """``url`` without its query and the query as parameters (kept in the URL when a name
    repeats, which a mapping cannot hold)."""
    parts = urlsplit(url)
    if not parts.query:
        return urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")), {}
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if len({name for name, _ in pairs}) != len(pairs):
        return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, "")), {}
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")), dict(pairs)


def _on_the_wire(request: PageRequest) -> tuple[str, dict[str, str] | None]:
    """The URL and parameters to send: the URL's own query (a ``Link`` target has one) moves
    into the parameters, since clients differ on whether parameters replace or extend it; a
    query with a repeated name stays in the URL, with every parameter, and no parameters."""
    url, query = _split_query(request.url)
    if urlsplit(url).query:
        return request.full_url(), None
    return url, {**query, **request.params}


def _default_spec(
    pagination: PaginationSpec | Mapping[str, Any] | None,
) -> tuple[PaginationSpec | None, PaginationError | None]:
    """The default pagination, or the error a request relying on it meets: a connection's
    ``config.pagination`` is saved with its ``type`` checked only, and one missing the fields
    its type needs is the caller's to fix (400), not a crash of every fetch."""
    if not isinstance(pagination, Mapping):
        return pagination, None
    try:
        return _SPEC.validate_python(pagination), None
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False, include_context=False)[0]
        # pydantic names the union branch it chose ("cursor.cursor_path"): the caller wrote
        # only the field.
        loc = [str(part) for part in first["loc"]]
        field = ".".join(["pagination", *loc[1:]] if len(loc) > 1 else ["pagination", *loc])
        problem = first["msg"].removeprefix("Value error, ")
        return None, PaginationError(
            f"the connection's default pagination (config.pagination) is not usable: "
            f"{field}: {problem}",
            details={"field": f"config.{field}"},
        )


def _invalid_cursor(reason: str) -> InvalidRequest:
    return InvalidRequest(f"the cursor is not usable: {reason}", code="INVALID_CURSOR")


class FetchService:
    """Fetches records through ``send`` from the API at ``base_url``; ``pagination`` (a spec
    or its JSON form) is the default of requests that do not name one. ``monotonic`` times a
    walk (injectable, so a slow provider can be played)."""

    def __init__(
        self,
        send: Send,
        base_url: str,
        pagination: PaginationSpec | Mapping[str, Any] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        redact: Callable[[Any], Any] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        origin = _origin(base_url)
        if origin is None:
            raise InvalidRequest(
                "the API base URL must be an http(s) URL with a host", code="INVALID_BASE_URL"
            )
        self._send = send
        self._base_url = base_url
        self._origin = origin
        self._default_pagination, self._default_problem = _default_spec(pagination)
        self._headers = {"Accept": "application/json", **(headers or {})}
        self._redact = redact
        self._monotonic = monotonic

    @property
    def base_url(self) -> str:
        return self._base_url

    def fetch(self, request: FetchRequest) -> FetchResult:
        result = self._walk(request)
        if self._redact is None:
            return result
        return result.model_copy(update={"records": self._redact(result.records)})

    def _walk(self, request: FetchRequest) -> FetchResult:
        explicit = "pagination" in request.model_fields_set
        if not explicit and self._default_problem is not None:
            raise self._default_problem
        spec = request.pagination if explicit else self._default_pagination
        check_spec(
            spec, method=request.method, body=request.body, records_path=request.records_path
        )
        paginator = Paginator(spec, records_path=request.records_path)
        if request.cursor is not None:
            current, skip = self._decode_cursor(request.cursor, request.method, spec)
            current = paginator.resume(current)
        else:
            current, skip = paginator.start(self.first_page(request)), 0

        records: list[Any] = []
        pages = 0
        read = 0
        started = self._monotonic()
        while True:
            body, headers, size = self._call(request.method, current, spec)
            pages += 1
            read += size
            if body is None:
                found: list[Any] = []
            else:
                found = extract_records(body, request.records_path, single=spec is None)
            available = found[skip:]
            room = request.max_records - len(records)
            if len(available) > room:
                records.extend(available[:room])
                cursor = self._encode_cursor(current, request.method, spec, skip + room)
                return FetchResult(records=records, pages=pages, next_cursor=cursor, truncated=True)
            records.extend(available)
            following = (
                None
                if body is None
                else paginator.next(current, body=body, headers=headers, records=found)
            )
            if following is None:
                return FetchResult(records=records, pages=pages)
            self.check_next(following)
            if (
                len(records) >= request.max_records
                or pages >= request.max_pages
                or read >= MAX_WALK_BYTES
                or self._monotonic() - started >= MAX_WALK_SECONDS
            ):
                cursor = self._encode_cursor(following, request.method, spec, 0)
                return FetchResult(records=records, pages=pages, next_cursor=cursor, truncated=True)
            current, skip = following, 0

    # -- requests: the steps of a walk, public for a caller that walks pages itself (a sync) --

    def redacted(self, value: Any) -> Any:
        """``value`` (JSON-shaped) with the connection's credentials masked, as fetch returns
        records."""
        return value if self._redact is None else self._redact(value)

    def first_page(self, request: FetchRequest) -> PageRequest:
        """The first page's request of ``request`` (its path joined to the base URL, which it
        must not leave; its parameters and body), before the pagination adds its values."""
        path = request.path.strip()
        if _UNSAFE_RE.search(path):
            raise InvalidRequest(
                "the path must not contain spaces or control characters", code="INVALID_PATH"
            )
        if _SCHEME_RE.match(path):
            if _origin(path) != self._origin:
                raise InvalidRequest(
                    "an absolute path must be on the API's own host (same scheme and port)",
                    code="INVALID_PATH",
                )
            url = path
        else:
            url = join_url(self._base_url, path)
            if _origin(url) != self._origin:
                raise InvalidRequest("the path leaves the API's host", code="INVALID_PATH")
        if _has_user_info(url):
            raise InvalidRequest(
                "the path must not carry user info: the connection's credentials are the ones sent",
                code="INVALID_PATH",
            )
        url = url.split("#", 1)[0]
        url, query = _split_query(url)
        params = {**query, **{name: _param_text(v) for name, v in request.params.items()}}
        body = request.body
        if isinstance(body, dict):
            body = dict(body)
        return PageRequest(url=url, params=params, body=body)

    def check_next(self, request: PageRequest) -> None:
        """``PAGINATION_OFF_HOST`` when the next page is not on the API's origin;
        ``PROVIDER_INVALID_RESPONSE`` (not retried: the same answer would come back) when the
        provider's next page (a cursor, a link) holds a lone UTF-16 surrogate, which no request
        can carry and no run can save as its checkpoint."""
        if _origin(request.url) != self._origin:
            raise PaginationError(
                "the provider's next page is on another host: not followed",
                code="PAGINATION_OFF_HOST",
            )
        if holds_lone_surrogate((request.url, request.params, request.body)):
            raise ProviderError(
                "the provider's next page (its cursor or link) is not valid Unicode",
                provider_status=200,
                code="PROVIDER_INVALID_RESPONSE",
                retryable=False,
            )

    def call_page(
        self,
        method: str,
        request: PageRequest,
        spec: PaginationSpec | None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[Any, Mapping[str, str]]:
        """Send one page's request (``headers`` added to the service's) and return its JSON
        body (``None`` when empty) and headers; :class:`ProviderError` for a non-2xx answer,
        a body that is not JSON, or a GraphQL answer with errors."""
        body, answer_headers, _ = self._call(method, request, spec, headers=headers)
        return body, answer_headers

    def _call(
        self,
        method: str,
        request: PageRequest,
        spec: PaginationSpec | None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[Any, Mapping[str, str], int]:
        """:meth:`call_page`, and the size of the answer's body in bytes."""
        url, params = _on_the_wire(request)
        response = self._send(
            method,
            url,
            params=params,
            json=request.body,
            headers={**self._headers, **(headers or {})},
        )
        status = response.status
        if not 200 <= status < 300:
            details: dict[str, Any] = {}
            retry_after = next(
                (v for k, v in response.headers.items() if k.lower() == "retry-after"), None
            )
            seconds = None if retry_after is None else parse_decimal(retry_after.strip())
            if seconds is not None:
                details["retry_after"] = seconds
            raise ProviderError(
                f"the provider answered HTTP {status}", provider_status=status, details=details
            )
        size = len(response.content)
        if not response.content.strip():
            return None, response.headers, size
        try:
            body = response.json()
        except (ValueError, UnicodeDecodeError):
            raise ProviderError(
                "the provider's answer is not JSON",
                provider_status=status,
                code="PROVIDER_INVALID_RESPONSE",
            ) from None
        if isinstance(spec, GraphQLPagination) and isinstance(body, Mapping):
            errors = body.get("errors")
            if isinstance(errors, list) and errors:
                raise ProviderError(
                    "the GraphQL API answered with errors",
                    provider_status=status,
                    code="PROVIDER_GRAPHQL_ERROR",
                    details={"errors": len(errors)},
                )
        return body, response.headers, size

    # -- cursors ------------------------------------------------------------------------------

    def _encode_cursor(
        self, request: PageRequest, method: str, spec: PaginationSpec | None, skip: int
    ) -> str:
        state: dict[str, Any] = {
            "v": _CURSOR_VERSION,
            "m": method,
            "t": spec.type if spec is not None else None,
            "u": request.url,
            "p": dict(request.params),
            "s": skip,
        }
        if request.body is not None:
            state["b"] = request.body
        if self._redact is not None:
            state = self._redact(state)
        raw = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
        cursor = base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
        if len(cursor) > _MAX_CURSOR:
            # The provider's cursor or link made it: a next_cursor no fetch would take back.
            raise ProviderError(
                "the provider's next page (its cursor or link) is too large to continue from",
                provider_status=200,
                code="PROVIDER_INVALID_RESPONSE",
                retryable=False,
            )
        return cursor

    def _decode_cursor(
        self, cursor: str, method: str, spec: PaginationSpec | None
    ) -> tuple[PageRequest, int]:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            state = loads_bounded(raw)
        except (binascii.Error, ValueError, InvalidRequest):
            raise _invalid_cursor("it does not decode") from None
        if not isinstance(state, dict) or state.get("v") != _CURSOR_VERSION:
            raise _invalid_cursor("unknown format")
        url, params, skip = state.get("u"), state.get("p"), state.get("s")
        if (
            not isinstance(url, str)
            or not isinstance(params, dict)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in params.items())
            or not isinstance(skip, int)
            or isinstance(skip, bool)
            or skip < 0
        ):
            raise _invalid_cursor("unknown format")
        if state.get("m") != method or state.get("t") != (spec.type if spec else None):
            raise _invalid_cursor("it belongs to a fetch with another method or pagination")
        if _origin(url) != self._origin:
            raise _invalid_cursor("it points at another host")
        if _UNSAFE_RE.search(url) or _has_user_info(url):
            raise _invalid_cursor("unknown format")
        return PageRequest(url=url, params=params, body=state.get("b")), skip
