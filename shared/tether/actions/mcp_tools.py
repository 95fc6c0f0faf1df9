"""A caller's connections as tools for MCP clients (what the ``mcp`` function serves).

Each active connection of the caller offers the actions its granted scopes allow, as tools
named ``<connection key>__<action>``: the key is the connection's display name in lowercase
letters, digits and ``_`` (its provider's key when that leaves nothing). When two of the
caller's connections would share a key, neither gets it: each takes a suffix made from its
own id (``hubspot_3fa9c1``), which stays its key (it is always accepted, listed or not). So
a name never moves to another account: deleting or renaming one of two HubSpot connections
does not hand ``hubspot__create_contact`` from one account to the other, as numbering them
in creation order would; a name that no longer exists is ``TOOL_NOT_FOUND``.

A generic REST or GraphQL connection (``rest_api``, ``graphql_api``) offers ``<key>__fetch``:
a fetch with pagination (:class:`~tether.fetch.service.FetchRequest`).
``tether__connections`` lists the caller's connections with their status, and says which
need reconnecting: a connection in ``needs_reauth`` (or otherwise not active) offers no
tools.

A connect session's bearer (one end user, :mod:`tether.domain.connect_scope`) lists only that
end user's connections, as ``GET /connections`` does, so another end user's tools are unknown
names to it (``TOOL_NOT_FOUND``); a connection of a provider the session does not offer
offers no tools, and calling one of its tools is refused as the REST routes refuse that
provider (403 ``PROVIDER_NOT_ALLOWED``, here a tool error).

Tool names follow MCP's advice (``[A-Za-z0-9_-]``, at most 64 characters). A failure is a
:class:`~tether.domain.errors.TetherError`, which the MCP layer turns into a tool error with
its code and suggestion.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tether.actions.runner import ActionRunner, available_actions
from tether.connections.commands import ListConnections
from tether.connections.service import ConnectionService
from tether.domain.connect_scope import check_provider
from tether.domain.errors import Conflict, NotFound
from tether.domain.models import Connection, Principal
from tether.domain.status import ConnectionStatus
from tether.fetch.calls import ConnectionCalls

__all__ = ["CONNECTIONS_TOOL", "McpTools", "ToolSpec", "connection_keys", "own_key"]

CONNECTIONS_TOOL = "tether__connections"
FETCH = "fetch"
_FETCHABLE = frozenset({"rest_api", "graphql_api"})
_MAX_CONNECTIONS = 1000
_KEY_CHARS = re.compile(r"[^a-z0-9]+")
_KEY_LENGTH = 30


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None = None


@dataclass(frozen=True)
class _Target:
    connection: Connection
    action: str


@dataclass
class ToolSet:
    """The tools of one caller, and the connections behind them."""

    tools: list[ToolSpec] = field(default_factory=list)
    targets: dict[str, _Target] = field(default_factory=dict)
    connections: list[dict[str, Any]] = field(default_factory=list)
    # A connection's own (id-suffixed) key → the key it is listed under, where they differ.
    aliases: dict[str, str] = field(default_factory=dict)


def _slug(connection: Connection) -> str:
    slug = _KEY_CHARS.sub("_", connection.display_name.lower()).strip("_")[:_KEY_LENGTH]
    return slug.strip("_") or connection.provider[:_KEY_LENGTH]


def own_key(connection: Connection, length: int = 6) -> str:
    """The connection's key with a suffix made from its id: the same for as long as the
    connection lives, and (in practice) no other's."""
    digest = hashlib.sha256(connection.id.encode()).hexdigest()
    return f"{_slug(connection)}_{digest[:length]}"


def connection_keys(connections: list[Connection]) -> dict[str, str]:
    """Connection id → the key its tools are listed under, unique among ``connections``: its
    bare key when no other connection (nor Tether's own tools) would have it, else its own
    id-suffixed key (:func:`own_key`, longer in the unlikely case two suffixes meet)."""
    reserved = CONNECTIONS_TOOL.split("__", 1)[0]
    slugs = {connection.id: _slug(connection) for connection in connections}
    shared = Counter(slugs.values())
    # Bare keys first: a suffixed key never takes one.
    keys = {id_: slug for id_, slug in slugs.items() if shared[slug] == 1 and slug != reserved}
    taken = {reserved, *keys.values()}
    for connection in sorted(connections, key=lambda c: (c.created_at, c.id)):
        if connection.id in keys:
            continue
        length = 6
        key = own_key(connection, length)
        while key in taken:
            length += 4
            key = own_key(connection, length)
        taken.add(key)
        keys[connection.id] = key
    return keys


_CONNECTIONS_OUTPUT: dict[str, Any] = {
    "type": "object",
    "required": ["connections"],
    "properties": {
        "connections": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["key", "id", "provider", "status", "tools"],
                "properties": {
                    "key": {"type": "string"},
                    "id": {"type": "string"},
                    "provider": {"type": "string"},
                    "display_name": {"type": "string"},
                    "status": {"type": "string"},
                    "tools": {"type": "integer"},
                    "note": {"type": "string"},
                },
            },
        }
    },
}


class McpTools:
    def __init__(
        self,
        *,
        runner: ActionRunner,
        connections: ConnectionService,
        calls: Callable[[], ConnectionCalls],
    ) -> None:
        self._runner = runner
        self._connections = connections
        self._calls = calls

    def _owned(self, principal: Principal) -> list[Connection]:
        found: list[Connection] = []
        cursor: str | None = None
        while len(found) < _MAX_CONNECTIONS:
            page = self._connections.list_connections(
                principal, ListConnections(limit=100, cursor=cursor)
            )
            found.extend(page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
        return found

    def tool_set(self, principal: Principal) -> ToolSet:
        owned = self._owned(principal)
        keys = connection_keys(owned)
        listed_keys = set(keys.values())
        tools = ToolSet()
        for connection in sorted(owned, key=lambda c: keys[c.id]):
            key = keys[connection.id]
            offered = 0
            reachable = principal.session is None or principal.session.allows(connection.provider)
            if reachable and connection.status == ConnectionStatus.ACTIVE:
                for action in available_actions(
                    connection, self._runner.definitions(connection.provider)
                ):
                    self._add(
                        tools,
                        connection,
                        f"{key}__{action.name}",
                        action.name,
                        f"{connection.display_name}: {action.description}",
                        action.input,
                        action.output,
                    )
                    offered += 1
                if connection.provider in _FETCHABLE:
                    self._add(
                        tools,
                        connection,
                        f"{key}__{FETCH}",
                        FETCH,
                        f"{connection.display_name}: fetch records from the API, page by "
                        "page (path, params, pagination, records_path).",
                        _fetch_schema(),
                        None,
                    )
                    offered += 1
            entry: dict[str, Any] = {
                "key": key,
                "id": connection.id,
                "provider": connection.provider,
                "display_name": connection.display_name,
                "status": connection.status.value,
                "tools": offered,
            }
            if not reachable:
                entry["note"] = "is of a provider this connect session does not offer: no tools"
            elif connection.status == ConnectionStatus.NEEDS_REAUTH:
                entry["note"] = "needs to be reconnected by its owner: no tools until then"
            elif connection.status != ConnectionStatus.ACTIVE:
                entry["note"] = f"is {connection.status.value}: no tools until it is active"
            tools.connections.append(entry)
            own = own_key(connection)
            if own != key and own not in listed_keys:
                tools.aliases[own] = key
        tools.tools.insert(
            0,
            ToolSpec(
                CONNECTIONS_TOOL,
                "The caller's connections: each one's tool key, provider and status, and why a "
                "connection offers no tools (one that needs reconnecting says so).",
                {"type": "object", "properties": {}, "additionalProperties": False},
                _CONNECTIONS_OUTPUT,
            ),
        )
        return tools

    @staticmethod
    def _add(
        tools: ToolSet,
        connection: Connection,
        name: str,
        action: str,
        description: str,
        input_schema: dict[str, Any],
        output_schema: dict[str, Any] | None,
    ) -> None:
        if len(name) > 64:
            return
        tools.tools.append(ToolSpec(name, description, input_schema, output_schema))
        tools.targets[name] = _Target(connection, action)

    def call(
        self,
        principal: Principal,
        name: str,
        arguments: dict[str, Any],
        *,
        tools: ToolSet | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Run tool ``name``; its structured output."""
        tools = tools or self.tool_set(principal)
        if name == CONNECTIONS_TOOL:
            return {"connections": tools.connections}
        key, marker, action = name.partition("__")
        if marker and key in tools.aliases:
            name = f"{tools.aliases[key]}__{action}"
        target = tools.targets.get(name)
        if target is None:
            known = next((c for c in tools.connections if name.startswith(f"{c['key']}__")), None)
            if known is not None:
                check_provider(principal, known["provider"])
            if known is not None and known["status"] != ConnectionStatus.ACTIVE.value:
                raise Conflict(
                    f"connection {known['key']} {known.get('note', 'is not active')}",
                    code="NEEDS_REAUTH"
                    if known["status"] == "needs_reauth"
                    else "CONNECTION_NOT_ACTIVE",
                    details={"suggestion": "Ask the account's owner to reconnect it."},
                )
            raise NotFound(f"no tool named {name[:80]}", code="TOOL_NOT_FOUND")
        if target.action == FETCH:
            return self._fetch(principal, target.connection, arguments)
        result = self._runner.run(
            principal,
            target.connection.id,
            target.action,
            arguments,
            idempotency_key=idempotency_key,
        )
        return result.output

    def _fetch(
        self, principal: Principal, connection: Connection, arguments: dict[str, Any]
    ) -> dict[str, Any]:
        from pydantic import ValidationError

        from tether.domain.errors import InvalidRequest
        from tether.fetch.service import FetchRequest, FetchService

        try:
            request = FetchRequest.model_validate(arguments)
        except ValidationError as exc:
            error = exc.errors(include_url=False, include_input=False)[0]
            where = ".".join(str(p) for p in error["loc"]) or "input"
            raise InvalidRequest(
                f"input field '{where}': {error['msg']}",
                code="INVALID_INPUT",
                details={"field": where},
            ) from None
        sender = self._calls().sender(principal, connection.id)
        service = FetchService(
            sender, sender.base_url, sender.default_pagination, redact=sender.redact
        )
        return service.fetch(request).model_dump(mode="json")


def _fetch_schema() -> dict[str, Any]:
    from tether.fetch.service import FetchRequest

    schema: dict[str, Any] = FetchRequest.model_json_schema()
    return schema
