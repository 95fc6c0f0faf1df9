"""Tether's HTTP entry points, one per deployed Cloud Function.

Each is thin: it hands the request to its routes in ``tether.api`` (parse → one service →
errors mapped to JSON), together with the composition root's recipe for the services those
routes use (``tether.wiring``). Imports happen inside the functions so a cold instance loads
only what its own function needs.
"""

from __future__ import annotations

import gc
import os

import functions_framework
from flask import Request, Response

__all__ = [
    "actions",
    "catalog",
    "connect",
    "connect_sessions",
    "connections",
    "fetch",
    "mcp",
    "oauth_callback",
    "oauth_start",
    "proxy",
    "records",
    "settings",
    "syncs",
    "tasks",
    "test_connection",
    "webhooks",
]


def _start() -> None:
    """Check the configuration and set up logging: a missing keyring, or dev auth outside
    `tether dev`, stops the instance here.

    Starting allocates what lives as long as the instance (pydantic, the settings, the
    models): no collection runs while it is built (each pass would walk all of it again),
    and then it is frozen, so no later collection scans it either (the first request's
    imports set off several), and the worker gunicorn forks next keeps those pages shared
    (the use the `gc.freeze` documentation describes). Cyclic garbage made from here on is
    collected as before.

    Tether registers no pydantic plugins; looking for them reads the metadata of every
    installed distribution when the first model is built (~4 ms of a cold start). A
    deployment that uses one sets ``PYDANTIC_DISABLE_PLUGINS`` itself (empty: all load).
    """
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    gc.disable()
    try:
        from tether.bootstrap import check_startup
        from tether.logs import configure_logging

        configure_logging()
        configure_logging(check_startup().settings.log_level)
        gc.freeze()
    finally:
        gc.enable()


_start()


@functions_framework.http
def catalog(request: Request) -> Response:
    """Public provider catalog: GET / (filters q, category, auth_mode, region), GET /<key>."""
    from tether import wiring
    from tether.api.catalog import handle

    return handle(request, wiring.catalog)


@functions_framework.http
def connections(request: Request) -> Response:
    """Tenant connections: POST /, GET /, GET|PATCH|DELETE /<id>, GET /<id>/audit."""
    from tether import wiring
    from tether.api.connections import handle

    return handle(request, wiring.connections)


@functions_framework.http
def connect_sessions(request: Request) -> Response:
    """Connect sessions: POST / (tenant) → {token, url, expires_at}; DELETE /<id>;
    GET|DELETE /current (the session's bearer)."""
    from tether import wiring
    from tether.api.connect_sessions import handle

    return handle(request, wiring.connect_sessions)


@functions_framework.http
def connect(request: Request) -> Response:
    """The hosted Connect page (public): GET /?session=<id>#token=…, GET /connect.js,
    /connect.css, /embed.js."""
    from tether import wiring
    from tether.api.connect import handle

    return handle(request, wiring.connect)


@functions_framework.http
def oauth_start(request: Request) -> Response:
    """Start an OAuth2 authorization: POST / {provider, config, scopes, return_to} or
    {connection_id, return_to} → {authorization_url, state, expires_at}."""
    from tether import wiring
    from tether.api.oauth import handle_start

    return handle_start(request, wiring.oauth)


@functions_framework.http
def oauth_callback(request: Request) -> Response:
    """The provider's redirect: GET /?code&state[&iss] → 302 to return_to with the outcome."""
    from tether import wiring
    from tether.api.oauth import handle_callback

    return handle_callback(request, wiring.oauth)


@functions_framework.http
def test_connection(request: Request) -> Response:
    """Test credentials: POST / {provider, credentials, config} (unsaved) or POST /<id>."""
    from tether import wiring
    from tether.api.testing import handle

    return handle(request, wiring.test_connection)


@functions_framework.http
def fetch(request: Request) -> Response:
    """Fetch from a connection's API: POST /<id> {method, path, params, pagination, …};
    GET /<id>/endpoints."""
    from tether import wiring
    from tether.api.fetch import handle

    return handle(request, wiring.fetch)


@functions_framework.http
def actions(request: Request) -> Response:
    """Typed provider actions: GET /<id> (what the connection can do), POST /<id>/<action>
    (run one; Idempotency-Key honoured for 24 h)."""
    from tether import wiring
    from tether.api.actions import handle

    return handle(request, wiring.actions)


@functions_framework.http
def mcp(request: Request) -> Response:
    """MCP server (Streamable HTTP, stateless): the caller's actions as tools for MCP clients."""
    from tether import wiring
    from tether.api.mcp import handle

    return handle(request, wiring.mcp)


@functions_framework.http
def proxy(request: Request) -> Response:
    """Pass-through to a connection's API with its credentials attached: any method on
    /<id>/<path>."""
    from tether import wiring
    from tether.api.proxy import handle

    return handle(request, wiring.proxy)


@functions_framework.http
def webhooks(request: Request) -> Response:
    """Provider webhooks (public, signature-verified): POST /<token>, POST /providers/<key>."""
    from tether import wiring
    from tether.api.webhooks import handle

    return handle(request, wiring.webhooks)


@functions_framework.http
def settings(request: Request) -> Response:
    """The tenant's notify URL and signing secret: GET|PUT /, POST /notify-secret/rotate."""
    from tether import wiring
    from tether.api.settings import handle

    return handle(request, wiring.settings)


@functions_framework.http
def tasks(request: Request) -> Response:
    """Cloud Tasks / Scheduler target: POST /<kind> (OIDC in the cloud, task token locally)."""
    from tether import wiring
    from tether.api.tasks import handle

    return handle(request, wiring.tasks)


@functions_framework.http
def syncs(request: Request) -> Response:
    """A connection's syncs: GET /<id>, GET|PUT /<id>/<name>, POST /<id>/<name>/run,
    GET /<id>/<name>/runs."""
    from tether import wiring
    from tether.api.syncs import handle

    return handle(request, wiring.syncs)


@functions_framework.http
def records(request: Request) -> Response:
    """Synced records as changes: GET /<id>/<model>?cursor&modified_after&limit."""
    from tether import wiring
    from tether.api.records import handle

    return handle(request, wiring.records)
