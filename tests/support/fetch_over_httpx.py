"""What the fetch tests against a local API over loopback share: the caller's ``send`` on a
plain httpx client, and how to read a record's id in any of the APIs' shapes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from tether.fetch.service import Send
from tether.http.model import OutboundResponse


def httpx_send(client: httpx.Client, token: str | None = None) -> Send:
    """The caller's ``send``: the connection's credentials (a bearer ``token``) are bound
    here, not in fetch."""
    bound = {} if token is None else {"Authorization": f"Bearer {token}"}

    def send(
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None,
        json: Any,
        headers: Mapping[str, str] | None,
    ) -> OutboundResponse:
        response = client.request(
            method, url, params=params, json=json, headers={**(headers or {}), **bound}
        )
        return OutboundResponse(
            status=response.status_code,
            headers=dict(response.headers),
            content=response.content,
            url=str(response.url),
            elapsed_ms=int(response.elapsed.total_seconds() * 1000),
        )

    return send


def record_id(record: dict[str, Any]) -> int:
    """A record's id, whether it is a plain record or a GraphQL edge's ``node``."""
    return int(record["node"]["id"] if "node" in record else record["id"])
