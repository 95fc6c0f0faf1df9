"""Reading an inbound delivery: its payload, the catalog's field paths, its dedupe key and the
headers worth keeping. Pure functions, no I/O.

A field path (``WebhookSpec.event_id_path``, ``event_type_path``, ``route_field``) is either
``header:<Name>`` or a dotted path into the payload whose numeric segments index lists
(``events.0.tenantId``, ``0.portalId``). The payload is the JSON body, or the fields of a form
body (Twilio posts ``application/x-www-form-urlencoded``), or ``None`` when it is neither.

Routing on the app-level route looks up ``(provider, route value)`` with the store's
:meth:`~tether.ports.ConnectionRepository.find_connection_by_route` (wired as ``find_by_route``;
without one every app-level event is unroutable). The value it matches is the connection's
``webhook_route``, which only Tether sets: the OAuth callback takes it from what the provider
proved (the catalog's ``webhook_route_from``: a field of the token response, the host of the
token endpoint the code was redeemed at, or one of the accounts the provider lists for the new
token, :mod:`tether.oauth.route_lookup`: Xero's organisations, a GitHub App's installations),
never from a tenant-writable field or a callback query parameter alone, since a tenant able to
claim another account's route value would receive its events. At most one live connection
holds a route value per provider; a second one is refused (the OAuth callback ends in
``error=route_taken``). Both sides compare values normalized by :func:`normalize_route`. A
delivery naming no connection (the provider has no ``webhook_route_from``, as for Stripe and
Twilio, or the account was never connected) is recorded with status ``unroutable`` and no
connection, logged, and never forwarded; so is an event of a batch, without being stored
(:mod:`tether.webhooks.batches`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl

from tether.catalog.schema import WebhookSpec
from tether.domain.bounded_json import (
    JsonTooDeep,
    NotFiniteJson,
    holds_lone_surrogate,
    loads_finite,
)
from tether.domain.decimal_digits import parse_decimal
from tether.domain.errors import InvalidRequest

__all__ = [
    "MAX_EVENT_ID_LENGTH",
    "MAX_PAYLOAD_DEPTH",
    "dedupe_key",
    "field_text",
    "field_value",
    "is_empty_batch",
    "kept_headers",
    "key_of_event",
    "normalize_route",
    "parse_payload",
]

_HEADER = "header:"
# Nested arrays and objects a JSON body may hold (the outermost counting as 1). The event
# carrying it sits a few levels deeper in a task's payload and a stored delivery, and pydantic
# neither writes nor reads JSON much past 200 levels: a deeper body could never be sent on.
MAX_PAYLOAD_DEPTH = 64
_FORM = "application/x-www-form-urlencoded"
# A provider event id longer than this is kept as its digest (ids are short in practice).
MAX_EVENT_ID_LENGTH = 200
# Scope of a dedupe key when the delivery could not be tied to a connection.
_NO_CONNECTION = "_"

# Header names never stored with an event: credentials, cookies and the signatures themselves
# (a stored signature plus the body is a replayable delivery). Matched as substrings of the
# lower-case name, so vendor variants (``x-hub-signature-256``, ``x-shopify-hmac-sha256``,
# ``x-square-hmacsha256-signature``) are covered.
_SENSITIVE_HEADER_PARTS = (
    "authorization",
    "cookie",
    "signature",
    "hmac",
    "secret",
    "token",
    "api-key",
    "apikey",
    "password",
)
# One search per header name instead of one substring test per part: this runs for every
# header of every delivery.
_SENSITIVE_HEADER = re.compile("|".join(map(re.escape, _SENSITIVE_HEADER_PARTS)))
_MAX_HEADERS = 64
_MAX_HEADER_VALUE = 1024


def parse_payload(body: bytes, content_type: str | None) -> Any:
    """The JSON value of ``body``; for a form content type, its fields (the first value of a
    repeated field); ``None`` when the body is neither (or empty). JSON that no event could
    carry on is refused (:class:`InvalidRequest`, 400): ``NaN``, ``Infinity`` or a number out
    of range (``INVALID_JSON``), or nesting past :data:`MAX_PAYLOAD_DEPTH` (``JSON_TOO_DEEP``)."""
    mimetype = (content_type or "").split(";", 1)[0].strip().lower()
    if mimetype == _FORM:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return None
        fields: dict[str, str] = {}
        for name, value in parse_qsl(text, keep_blank_values=True):
            fields.setdefault(name, value)
        return fields
    if not body.strip():
        return None
    try:
        value = loads_finite(body)
    except NotFiniteJson:
        raise InvalidRequest(
            "the body holds NaN, Infinity or a number out of range, which is not JSON",
            code="INVALID_JSON",
        ) from None
    except JsonTooDeep:
        raise _too_deep() from None
    except ValueError:  # UnicodeDecodeError is one
        return None
    # Nesting needs an opening bracket a level: a body with fewer is not walked (the hot path).
    shallow = body.count(b"{") + body.count(b"[") <= MAX_PAYLOAD_DEPTH
    if not shallow and _deeper_than(value, MAX_PAYLOAD_DEPTH):
        raise _too_deep()
    return value


def _too_deep() -> InvalidRequest:
    return InvalidRequest(
        f"the body nests deeper than {MAX_PAYLOAD_DEPTH} arrays or objects",
        code="JSON_TOO_DEEP",
    )


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests more than ``limit`` arrays or objects (walked with a stack)."""
    if not isinstance(value, dict | list):
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def field_value(path: str, headers: Mapping[str, str], payload: Any) -> Any:
    """The value at ``path`` (see the module docstring); ``None`` when absent."""
    if path.startswith(_HEADER):
        return headers.get(path[len(_HEADER) :].lower())
    value = payload
    for segment in path.split("."):
        if isinstance(value, Mapping):
            value = value.get(segment)
        elif isinstance(value, list) and (index := parse_decimal(segment)) is not None:
            value = value[index] if index < len(value) else None
        else:
            return None
        if value is None:
            return None
    return value


def field_text(path: str | None, headers: Mapping[str, str], payload: Any) -> str | None:
    """The value at ``path`` as text when it is a non-empty string or an integer (GitHub's
    ``installation.id``, HubSpot's ``portalId``); ``None`` otherwise, a string holding a lone
    UTF-16 surrogate (``"\\ud800"`` in the JSON) included: it could be no key, route or
    stored text, so such an event id, type or route counts as absent."""
    if path is None:
        return None
    value = field_value(path, headers, payload)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip() and not holds_lone_surrogate(value):
        return value.strip()
    return None


def is_empty_batch(spec: WebhookSpec, payload: Any) -> bool:
    """True when the delivery carries no event at all: a payload path of the spec indexes a
    list (``events.0.tenantId``, ``0.portalId``) and that list is empty. Xero's
    intent-to-receive check is such a delivery (``{"events": [], ...}``)."""
    for path in (spec.route_field, spec.event_type_path, spec.event_id_path):
        if path is None or path.startswith(_HEADER):
            continue
        segments = path.split(".")
        for depth, segment in enumerate(segments):
            if parse_decimal(segment) is None:
                continue
            container = field_value(".".join(segments[:depth]), {}, payload) if depth else payload
            if isinstance(container, list) and not container:
                return True
            break
    return False


def dedupe_key(
    spec: WebhookSpec,
    headers: Mapping[str, str],
    payload: Any,
    body: bytes,
    *,
    connection_id: str | None,
) -> str:
    """``<connection id>/<provider event id>``, or ``<connection id>/sha256:<hex of the body>``
    when the spec names no event id or the delivery lacks one.

    Scoped by connection (``_`` when there is none) because the store dedupes on
    ``(provider, key)`` across tenants: two tenants' senders may both number their events
    ``msg_1`` (generic webhooks) or send identical bodies, and neither may swallow the other's
    event. The same provider event reaching one connection twice (retries, or both the
    connection's URL and the app-level route) is still one event."""
    return key_of_event(
        field_text(spec.event_id_path, headers, payload), body, connection_id=connection_id
    )


def key_of_event(event_id: str | None, body: bytes, *, connection_id: str | None) -> str:
    """:func:`dedupe_key` of a delivery whose provider event id (the text at the spec's
    ``event_id_path``) is already read: ``event_id``, or ``None`` when it has none."""
    scope = connection_id or _NO_CONNECTION
    if event_id is None:
        return f"{scope}/sha256:{hashlib.sha256(body).hexdigest()}"
    if len(event_id) > MAX_EVENT_ID_LENGTH:
        event_id = "sha256:" + hashlib.sha256(event_id.encode("utf-8")).hexdigest()
    return f"{scope}/{event_id}"


@lru_cache(maxsize=512)
def _is_sensitive(lower_name: str) -> bool:
    """Whether a header is left out (kept per name: the same few names come with every
    delivery; bounded, since a sender may invent names)."""
    return _SENSITIVE_HEADER.search(lower_name) is not None


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers stored with an event: lower-case names, nothing sensitive (see
    ``_SENSITIVE_HEADER_PARTS``), bounded in number and length."""
    kept: dict[str, str] = {}
    for name, value in headers.items():
        lower = name.lower()
        if _is_sensitive(lower):
            continue
        kept[lower] = value[:_MAX_HEADER_VALUE]
        if len(kept) >= _MAX_HEADERS:
            break
    return kept


_MAX_ROUTE_CHARS = 256


def normalize_route(spec: WebhookSpec, value: object) -> str | None:
    """A route value as stored on a connection and as looked up: text, trimmed (integers as
    decimal text: HubSpot's portal id, GitHub's installation id); lower-case when the
    ``route_field`` is a header (Shopify's shop domain: a host name). ``None`` for anything
    else, empty, longer than 256 characters, or holding half a UTF-16 pair (no text a
    connection can be stored with)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if spec.route_field is not None and spec.route_field.startswith("header:"):
        text = text.lower()
    if not 0 < len(text) <= _MAX_ROUTE_CHARS or holds_lone_surrogate(text):
        return None
    return text
