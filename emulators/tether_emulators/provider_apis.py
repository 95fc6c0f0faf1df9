"""Loopback simulators of provider APIs (Google Calendar, Gmail, Google Drive, HubSpot, Stripe,
Xero, Shopify) that check every request against the provider's published API description.

One server answers for all of them, each under its real base path (``/calendar/v3``,
``/gmail/v1``, ``/upload/drive/v3``, ``/crm/v3``, ``/v1``, ``/api.xro/2.0``,
``/admin/api/<version>``), so a test points a catalog entry's ``api_base_url`` at
``url + <its path>``. For each request it:

1. finds the operation in the descriptions it was given (:class:`ApiDescription`); a request
   the descriptions do not allow is answered 400 with the problems, and kept in
   :attr:`ProviderApis.rejected`;
2. checks the bearer token with ``accepts`` (the local OAuth provider's ``is_active``, or a
   fixed set of API keys): anything else is 401. HubSpot's token metadata takes the token in
   its path instead (``GET /oauth/v1/access-tokens/{token}``, no header needed), so there the
   path's token is the one checked;
3. answers from in-memory state (:mod:`tether_emulators.provider_api_state`).

:meth:`ProviderApis.fail_next` makes the next requests answer a given status (a 401 to make a
client refresh, a 500 to make it retry); :meth:`ProviderApis.answer_next` makes the next
accepted request answer given raw bytes instead of its answer (an answer of a surprising
shape), after the request has had its effect; :attr:`ProviderApis.calls` lists every request
as ``(operation id, problems)``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from wsgiref.types import WSGIApplication

from werkzeug.wrappers import Request, Response

from tether_emulators.api_description import ApiDescription
from tether_emulators.json_answers import json_response
from tether_emulators.provider_api_state import Answer, ProviderState, answer_for
from tether_emulators.wsgi_server import ServedEmulator

__all__ = ["CheckedCall", "ProviderApis"]

#: Operations that take the access token in a path parameter (operation id -> its name).
_TOKEN_IN_PATH = {"get-/oauth/v1/access-tokens/{token}_get": "token"}


@dataclass(frozen=True)
class CheckedCall:
    """One request: its operation, what was wrong with it, and its headers (lowercase names;
    ``authorization`` left out)."""

    operation: str | None
    method: str
    path: str
    problems: tuple[str, ...]
    headers: Mapping[str, str]


class ProviderApis(ServedEmulator):
    _what: ClassVar[str] = "the provider API simulators"
    _thread_name: ClassVar[str] = "provider-apis"

    def __init__(
        self, descriptions: Iterable[Mapping[str, Any]], *, accepts: Callable[[str], bool]
    ) -> None:
        super().__init__()
        self.descriptions = [ApiDescription(document) for document in descriptions]
        self.accepts = accepts
        self.state = ProviderState()
        self._lock = threading.Lock()
        self._failures: list[int] = []
        self._answers: list[Answer] = []
        self.calls: list[CheckedCall] = []

    @property
    def rejected(self) -> list[CheckedCall]:
        return [call for call in self.calls if call.problems]

    def fail_next(self, status: int, times: int = 1) -> None:
        with self._lock:
            self._failures.extend([status] * times)

    def answer_next(self, raw: bytes, status: int = 200) -> None:
        with self._lock:
            self._answers.append(Answer(status, raw=raw))

    def count(self, operation: str) -> int:
        return sum(1 for call in self.calls if call.operation == operation and not call.problems)

    def _wsgi_app(self) -> WSGIApplication:
        return Request.application(self._handle)

    def _handle(self, request: Request) -> Response:
        body = request.get_data()
        url = request.full_path if request.query_string else request.path
        headers = dict(request.headers.items())
        checked = None
        for description in self.descriptions:
            if description.find(request.method, request.path) is not None:
                checked = description.check(request.method, url, headers=headers, body=body)
                break
        operation = checked.operation.id if checked and checked.operation else None
        problems = tuple(checked.problems) if checked else (f"no operation {request.path}",)
        with self._lock:
            shown = {k.lower(): v for k, v in headers.items() if k.lower() != "authorization"}
            self.calls.append(CheckedCall(operation, request.method, request.path, problems, shown))
            failure = self._failures.pop(0) if self._failures else None
        if problems:
            return json_response({"error": {"code": 400, "problems": list(problems)}}, 400)
        if checked is None or checked.operation is None:  # pragma: no cover - refused above
            return json_response({"error": {"code": 500}}, 500)
        in_path = _TOKEN_IN_PATH.get(checked.operation.id)
        if in_path is not None:
            token = checked.path_params.get(in_path, "")
        else:
            token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not token or not self.accepts(token):
            return json_response({"error": {"code": 401, "message": "invalid credentials"}}, 401)
        if failure is not None:
            return json_response({"error": {"code": failure, "message": "injected"}}, failure)
        answer = answer_for(self.state, checked.operation.id, request, checked.path_params, body)
        with self._lock:
            replaced = self._answers.pop(0) if self._answers else None
        return _response(replaced or answer)


def _response(answer: Answer) -> Response:
    if answer.raw is not None:
        return Response(answer.raw, status=answer.status, content_type=answer.content_type)
    if answer.body is None:
        return Response(status=answer.status)
    return json_response(answer.body, answer.status)
