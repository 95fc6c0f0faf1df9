"""The floor of any function that calls a provider on a caller's behalf (``bench_actions``): a
functions-framework function that answers a ``POST /<id>/<action>`` with ``{"contact_id"}``
by a plain ``httpx.Client`` GET of that contact (URL, token and query from the environment:
``BENCH_FORWARD_URL``, ``BENCH_FORWARD_TOKEN``, ``BENCH_FORWARD_PROPERTIES``) and returns
``{"action", "output"}`` like the ``actions`` function. It checks nothing: no caller token,
no connection, no schema, no rate limit, no SSRF guard, no audit."""

from __future__ import annotations

import os
from typing import Any

import functions_framework
import httpx
from flask import Request

_clients: list[httpx.Client] = []


def _client() -> httpx.Client:
    if not _clients:
        token = os.environ["BENCH_FORWARD_TOKEN"]
        _clients.append(httpx.Client(headers={"Authorization": f"Bearer {token}"}))
    return _clients[0]


@functions_framework.http
def forward(request: Request) -> tuple[dict[str, Any], int]:
    action = request.path.rstrip("/").rsplit("/", 1)[-1]
    contact = (request.get_json(silent=True) or {}).get("contact_id", "")
    answer = _client().get(
        f"{os.environ['BENCH_FORWARD_URL']}/{contact}",
        params={"properties": os.environ["BENCH_FORWARD_PROPERTIES"]},
    )
    return {"action": action, "output": answer.json()}, answer.status_code
