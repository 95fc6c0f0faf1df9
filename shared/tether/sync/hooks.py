"""Named quirk hooks: a sync definition names one of these instead of the code testing which
provider it talks to (``SyncDefinition.hooks``, the style of authlib's compliance hooks).

Three kinds, one registry each; a registry is a read-only mapping from a name to a function,
written out here, so the set of names is the code a reader sees (nothing registers itself at
import time):

* ``request`` — :data:`RequestHook`: the page's request just before it is sent, after the
  pagination values and the modified-since value are in place, rewritten into the provider's
  own query language or filter object;
* ``next_cursor`` — :data:`NextCursorHook`: the next cursor read from a page (body and records),
  ``None`` at the end;
* ``updated_at`` — :data:`UpdatedAtHook`: a record's updated-at value as a moment.

Hooks are pure functions of their arguments, tested with each provider's documented examples.
A request hook rewrites a copy for sending: pagination keeps advancing the request it built
(fetch's :func:`~tether.http.pagination.next_request`), never the rewritten one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any, Literal

from tether.catalog.sync_definition import SyncDefinition
from tether.sync.outgoing import OutgoingRequest
from tether.sync.quirks import google_drive, hubspot, json_dates, quickbooks, stripe

__all__ = [
    "HOOK_KINDS",
    "NEXT_CURSOR_HOOKS",
    "REQUEST_HOOKS",
    "UPDATED_AT_HOOKS",
    "HookKind",
    "NextCursorHook",
    "OutgoingRequest",
    "RequestHook",
    "UpdatedAtHook",
    "registered",
]

HookKind = Literal["request", "next_cursor", "updated_at"]
HOOK_KINDS: tuple[HookKind, ...] = ("request", "next_cursor", "updated_at")


RequestHook = Callable[[OutgoingRequest, SyncDefinition], OutgoingRequest]
NextCursorHook = Callable[[Any, Sequence[Any], SyncDefinition], str | None]
UpdatedAtHook = Callable[[Any], datetime | None]

REQUEST_HOOKS: Mapping[str, RequestHook] = MappingProxyType(
    {
        "google_drive_modified_time": google_drive.modified_time_query,
        "hubspot_search_filter": hubspot.search_filter,
        "quickbooks_query": quickbooks.query_statement,
    }
)
NEXT_CURSOR_HOOKS: Mapping[str, NextCursorHook] = MappingProxyType(
    {"stripe_last_id": stripe.last_id_while_has_more}
)
UPDATED_AT_HOOKS: Mapping[str, UpdatedAtHook] = MappingProxyType(
    {"microsoft_json_date": json_dates.microsoft_json_date}
)

_REGISTRIES: Mapping[HookKind, Mapping[str, Any]] = MappingProxyType(
    {"request": REQUEST_HOOKS, "next_cursor": NEXT_CURSOR_HOOKS, "updated_at": UPDATED_AT_HOOKS}
)


def registered(kind: HookKind) -> tuple[str, ...]:
    """The names registered for ``kind``, sorted."""
    return tuple(sorted(_REGISTRIES[kind]))
