"""Which services each function's routes get: the side of the composition root that faces HTTP.

An entry point in ``functions/main.py`` hands its route module one of these recipes
(``handle(request, wiring.connections)``). The route module's frame calls it once per request
and gets the frame's own needs and exactly the services the module's ``Services`` declares:
references to parts of this instance's :class:`~tether.bootstrap.Container`, each built on
first use, so a route that never asks for a service never builds it; the recipe's result
itself is built once per container. The routes never see the container. Imports stay inside
each recipe: a cold instance loads only its own function's modules.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, TypeVar

from tether.bootstrap import Container, get_container

if TYPE_CHECKING:
    from tether.api import actions as actions_api
    from tether.api import catalog as catalog_api
    from tether.api import connect as connect_api
    from tether.api import connect_sessions as connect_sessions_api
    from tether.api import connections as connections_api
    from tether.api import fetch as fetch_api
    from tether.api import mcp as mcp_api
    from tether.api import oauth as oauth_api
    from tether.api import proxy as proxy_api
    from tether.api import records as records_api
    from tether.api import settings as settings_api
    from tether.api import syncs as syncs_api
    from tether.api import tasks as tasks_api
    from tether.api import testing as testing_api
    from tether.api import webhooks as webhooks_api
    from tether.api.endpoint import Frame, Wired

__all__ = [
    "actions",
    "catalog",
    "connect",
    "connect_sessions",
    "connections",
    "fetch",
    "mcp",
    "oauth",
    "proxy",
    "records",
    "settings",
    "syncs",
    "tasks",
    "test_connection",
    "webhooks",
]

W = TypeVar("W")


def _per_container(recipe: Callable[[], W]) -> Callable[[], W]:
    """``recipe``, built once per container and then handed out again: what it names is
    fixed for a container (its settings, and parts it builds once), so a new frame and
    services object at every request would be waste. A new container (tests install one per
    case) gets its own."""
    held: list[tuple[Container, W]] = []

    @wraps(recipe)
    def once() -> W:
        c = get_container()
        if held and held[0][0] is c:
            return held[0][1]
        wired = recipe()
        held[:] = [(c, wired)]
        return wired

    return once


def _frame(c: Container) -> Frame:
    from tether.api.endpoint import Frame

    s = c.settings
    return Frame(
        verifier=lambda: c.frame_verifier,
        cors_origins=s.cors_origins,
        access_log=s.access_log_enabled,
    )


@_per_container
def catalog() -> Wired[catalog_api.Services]:
    from tether.api.catalog import Services
    from tether.api.endpoint import Wired

    c = get_container()
    return Wired(_frame(c), Services(catalog=lambda: c.catalog))


@_per_container
def connections() -> Wired[connections_api.Services]:
    from tether.api.connections import Services
    from tether.api.endpoint import Wired

    c = get_container()
    return Wired(
        _frame(c),
        Services(
            connections=lambda: c.connections,
            webhooks=lambda: c.webhook_provisioning,
            inbound=lambda: c.webhook_intake,
            tokens=lambda: c.token_refresh,
            deliveries=lambda tenant, connection: c.store.list_deliveries(
                tenant, connection_id=connection
            ),
            max_body_bytes=c.settings.max_body_bytes,
        ),
    )


@_per_container
def connect_sessions() -> Wired[connect_sessions_api.Services]:
    from tether.api.connect_sessions import Services
    from tether.api.endpoint import Wired

    c = get_container()
    return Wired(
        _frame(c),
        Services(sessions=lambda: c.connect_sessions, max_body_bytes=c.settings.max_body_bytes),
    )


@_per_container
def connect() -> Wired[connect_api.Services]:
    """The hosted page and its assets; the URLs of the functions the page calls."""
    from tether.api.connect import Services
    from tether.api.endpoint import Wired

    c = get_container()
    return Wired(
        _frame(c),
        Services(
            origins=lambda session_id: c.connect_sessions.origins(session_id),
            function_url=c.function_url,
        ),
    )


@_per_container
def oauth() -> Wired[oauth_api.Services]:
    """Both ``oauth_start`` and ``oauth_callback``."""
    from tether.api.endpoint import Wired
    from tether.api.oauth import Services

    c = get_container()
    return Wired(
        _frame(c),
        Services(
            flow=lambda: c.oauth_flow,
            max_body_bytes=c.settings.max_body_bytes,
            callback_url=c.settings.callback_url,
        ),
    )


@_per_container
def test_connection() -> Wired[testing_api.Services]:
    from tether.api.endpoint import Wired
    from tether.api.testing import Services

    c = get_container()
    return Wired(
        _frame(c),
        Services(prober=lambda: c.connection_prober, max_body_bytes=c.settings.max_body_bytes),
    )


@_per_container
def fetch() -> Wired[fetch_api.Services]:
    from tether.api.endpoint import Wired
    from tether.api.fetch import Services

    c = get_container()
    return Wired(
        _frame(c),
        Services(
            calls=lambda: c.connection_calls,
            discovery=lambda: c.endpoint_discovery,
            max_body_bytes=c.settings.max_body_bytes,
        ),
    )


@_per_container
def actions() -> Wired[actions_api.Services]:
    from tether.api.actions import Services
    from tether.api.endpoint import Wired

    c = get_container()
    return Wired(
        _frame(c),
        Services(runner=lambda: c.action_runner, max_body_bytes=c.settings.max_body_bytes),
    )


@_per_container
def mcp() -> Wired[mcp_api.Services]:
    from tether.api.endpoint import Wired
    from tether.api.mcp import Services

    c = get_container()
    return Wired(
        _frame(c),
        Services(
            tools=lambda: c.mcp_tools,
            max_body_bytes=c.settings.max_body_bytes,
            origins=c.settings.cors_origins,
        ),
    )


@_per_container
def proxy() -> Wired[proxy_api.Services]:
    from tether.api.endpoint import Wired
    from tether.api.proxy import Services

    c = get_container()
    return Wired(
        _frame(c),
        Services(proxy=lambda: c.connection_proxy, max_body_bytes=c.settings.max_body_bytes),
    )


@_per_container
def webhooks() -> Wired[webhooks_api.Services]:
    from tether.api.endpoint import Wired
    from tether.api.webhooks import Services

    c = get_container()
    return Wired(
        _frame(c),
        Services(
            intake=lambda: c.webhook_intake,
            clock=c.clock,
            public_url=c.settings.public_url,
        ),
    )


@_per_container
def settings() -> Wired[settings_api.Services]:
    from tether.api.endpoint import Wired
    from tether.api.settings import Services

    c = get_container()
    return Wired(
        _frame(c),
        Services(
            notify_settings=lambda: c.notify_settings,
            max_body_bytes=c.settings.max_body_bytes,
        ),
    )


@_per_container
def tasks() -> Wired[tasks_api.Services]:
    from tether.api.endpoint import Wired
    from tether.api.tasks import Services

    c = get_container()
    return Wired(
        _frame(c),
        Services(
            caller=lambda: c.task_caller_verifier,
            dispatch=c.dispatch_task,
            delivery=lambda: c.delivery,
            max_body_bytes=c.settings.max_body_bytes,
        ),
    )


@_per_container
def syncs() -> Wired[syncs_api.Services]:
    from tether.api.endpoint import Wired
    from tether.api.syncs import Services

    c = get_container()
    return Wired(
        _frame(c),
        Services(syncs=lambda: c.sync_service, max_body_bytes=c.settings.max_body_bytes),
    )


@_per_container
def records() -> Wired[records_api.Services]:
    from tether.api.endpoint import Wired
    from tether.api.records import Services

    c = get_container()
    return Wired(_frame(c), Services(syncs=lambda: c.sync_service))
