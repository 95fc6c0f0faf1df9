"""The page walker: one sync definition's pages, read through fetch's steps, yielded one at a
time with the state to continue after each.

The walk is fetch's walk (:class:`~tether.fetch.service.FetchService`): the first request is
fetch's (the path joined to the connection's base URL, which it may not leave), each page is
sent by fetch's :meth:`~tether.fetch.service.FetchService.call_page` over the connection's one
outbound client (auth, 401 → refresh → retry, rate limit, retries, SSRF guard, destination
binding), pagination is fetch's :class:`~tether.http.pagination.Paginator` with its loop
detection, and a next page off the API's origin stops the walk. A sync adds three things:

* on an incremental run, the modified-since value (the watermark, written as the definition's
  ``incremental.format``) goes where ``incremental.param_in`` says, once, into the first
  request (pagination carries query and body values forward) or, for a header, on every page;
* the named hooks: ``request`` rewrites a copy of each page's request just before it is sent
  (pagination advances the request it built, never the rewritten one), ``next_cursor`` reads
  the next cursor instead of ``cursor_path``;
* records are read by :class:`~tether.sync.extraction.RecordReader` (id, updated-at,
  tombstone) after the connection's credentials are masked out of them, as fetch masks the
  records it returns.

Every :class:`WalkPage` carries a :class:`WalkState` (``None`` after the last page): JSON that
a run stores as its checkpoint and hands to :meth:`PageWalker.walk` in another process to go
on with the next page.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from tether.catalog.sync_definition import SyncDefinition
from tether.catalog.templates import render_template
from tether.domain.errors import InvalidRequest, TetherError
from tether.fetch.service import FetchRequest, FetchService, ProviderError
from tether.http.pagination import (
    CursorPagination,
    PageRequest,
    Paginator,
    cursor_request,
    extract_records,
)
from tether.sync.extraction import RecordReader, SyncedRecord
from tether.sync.hooks import NEXT_CURSOR_HOOKS, REQUEST_HOOKS
from tether.sync.outgoing import OutgoingRequest, with_modified_since
from tether.sync.timestamps import format_since

__all__ = ["MAX_STATE_BYTES", "PageWalker", "SyncDefinitionError", "WalkPage", "WalkState"]

_STATE_VERSION = 1
# The JSON of a walk's state: saved in the run's checkpoint (one Firestore document, 1 MiB,
# beside the run's other fields). A provider's cursor or link past it cannot be gone on from.
MAX_STATE_BYTES = 512 * 1024


class SyncDefinitionError(TetherError):
    """The definition cannot be applied to a request (a hook refused it): a fault of the
    definition, not of the provider, so not retried."""

    default_code: ClassVar[str] = "SYNC_DEFINITION_ERROR"
    default_status: ClassVar[int] = 422
    default_retryable: ClassVar[bool] = False


def _string_map(value: Any) -> dict[str, str] | None:
    if not isinstance(value, Mapping):
        return None
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        return None
    return dict(value)


@dataclass(frozen=True, slots=True)
class WalkState:
    """Where a walk goes on: the next page's request (as pagination built it) and the headers
    every page carries, and how many pages came before."""

    request: PageRequest
    headers: Mapping[str, str]
    pages: int

    def to_json(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "v": _STATE_VERSION,
            "url": self.request.url,
            "params": dict(self.request.params),
            "headers": dict(self.headers),
            "pages": self.pages,
        }
        if self.request.body is not None:
            state["body"] = self.request.body
        return state

    @classmethod
    def from_json(cls, state: Mapping[str, Any]) -> WalkState:
        """The state :meth:`to_json` wrote; ``INVALID_WALK_STATE`` for anything else."""
        url, pages = state.get("url"), state.get("pages")
        params, headers = _string_map(state.get("params")), _string_map(state.get("headers"))
        if (
            state.get("v") != _STATE_VERSION
            or not isinstance(url, str)
            or params is None
            or headers is None
            or not isinstance(pages, int)
            or isinstance(pages, bool)
            or pages < 0
        ):
            raise InvalidRequest("the saved walk state is not usable", code="INVALID_WALK_STATE")
        return cls(PageRequest(url=url, params=params, body=state.get("body")), headers, pages)


@dataclass(frozen=True, slots=True)
class WalkPage:
    """One page's records (with an id), the positions of those that had none, and where to
    go on (``None``: this was the last page)."""

    records: list[SyncedRecord]
    skipped_at: list[int]
    number: int
    next: WalkState | None

    @property
    def skipped(self) -> int:
        return len(self.skipped_at)


def _checked(state: WalkState) -> WalkState:
    """``state``, or ``PROVIDER_INVALID_RESPONSE`` (not retried: the same answer would come
    back) when it is too large for a checkpoint to hold: the run ends failed instead of
    failing to save where it is, task after task."""
    size = len(json.dumps(state.to_json(), default=str).encode("utf-8", "surrogatepass"))
    if size > MAX_STATE_BYTES:
        raise ProviderError(
            "the provider's next page (its cursor or link) is too large to go on from",
            provider_status=200,
            code="PROVIDER_INVALID_RESPONSE",
            retryable=False,
        )
    return state


class PageWalker:
    """Walks ``definition`` through ``fetch`` (bound to one connection; ``config`` fills the
    path's placeholders)."""

    def __init__(
        self,
        fetch: FetchService,
        definition: SyncDefinition,
        *,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self._fetch = fetch
        self._definition = definition
        self._config = dict(config or {})
        self._reader = RecordReader(definition)
        hooks = definition.hooks
        self._request_hook = None if hooks.request is None else REQUEST_HOOKS[hooks.request]
        self._cursor_hook = (
            None if hooks.next_cursor is None else NEXT_CURSOR_HOOKS[hooks.next_cursor]
        )

    def _first(self, since: datetime | None) -> OutgoingRequest:
        sync_request = self._definition.request
        fetch_request = FetchRequest(
            method=sync_request.method,
            path=render_template(sync_request.path, self._config),
            params=dict(sync_request.params),
            body=None if sync_request.body is None else dict(sync_request.body),
            records_path=self._definition.records_path,
        )
        outgoing = OutgoingRequest(self._fetch.first_page(fetch_request))
        incremental = self._definition.incremental
        if since is not None and incremental is not None:
            value = format_since(since, incremental.format)
            try:
                outgoing = with_modified_since(outgoing, incremental, value)
            except ValueError as exc:
                raise SyncDefinitionError(str(exc)) from None
        return outgoing

    def _rewritten(self, outgoing: OutgoingRequest) -> OutgoingRequest:
        if self._request_hook is None:
            return outgoing
        try:
            return self._request_hook(outgoing, self._definition)
        except ValueError as exc:
            raise SyncDefinitionError(f"the request hook refused the request: {exc}") from None

    def walk(
        self, *, since: datetime | None = None, resume: WalkState | None = None
    ) -> Iterator[WalkPage]:
        """The pages from the first (asking only for changes after ``since``, when given and
        the definition is incremental) or from ``resume``, to the last."""
        definition = self._definition
        spec = definition.pagination
        paginator = Paginator(spec, records_path=definition.records_path)
        if resume is None:
            first = self._first(since)
            current, headers, pages = paginator.start(first.page), first.headers, 0
        else:
            current, headers, pages = paginator.resume(resume.request), resume.headers, resume.pages
        method = definition.request.method
        while True:
            sending = self._rewritten(OutgoingRequest(current, headers))
            body, answer_headers = self._fetch.call_page(
                method, sending.page, spec, headers=sending.headers
            )
            pages += 1
            raw = (
                []
                if body is None
                else extract_records(body, definition.records_path, single=spec is None)
            )
            following = self._next(paginator, current, body, answer_headers, raw)
            extracted = self._reader.read(self._fetch.redacted(raw))
            state = None if following is None else _checked(WalkState(following, headers, pages))
            yield WalkPage(extracted.records, extracted.skipped_at, pages, state)
            if following is None:
                return
            current = following

    def _next(
        self,
        paginator: Paginator,
        current: PageRequest,
        body: Any,
        headers: Mapping[str, str],
        raw: list[Any],
    ) -> PageRequest | None:
        if body is None:
            return None
        spec = self._definition.pagination
        if self._cursor_hook is not None and isinstance(spec, CursorPagination):
            cursor = self._cursor_hook(body, raw, self._definition)
            following = (
                None if cursor is None else paginator.resume(cursor_request(spec, current, cursor))
            )
        else:
            following = paginator.next(current, body=body, headers=headers, records=raw)
        if following is not None:
            self._fetch.check_next(following)
        return following
