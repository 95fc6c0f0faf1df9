"""Per-provider normalizers: a stored provider delivery → the type and data of a
:class:`~tether.domain.events.TetherEvent`.

A normalizer is registered for a catalog key with :func:`register`; a provider without one
gets :func:`default_normalizer`: the type from the catalog's ``event_type_path`` and the parsed
payload as data. Normalizers are pure: no I/O, no clock (``occurred_at`` comes from the
payload when the provider sends one, else the receipt time is used by the caller).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tether.catalog.schema import WebhookSpec
from tether.webhooks.routing import field_text

__all__ = [
    "DEFAULT_TYPE",
    "Normalized",
    "Normalizer",
    "RawEvent",
    "default_normalizer",
    "normalize",
    "normalizer_for",
    "register",
]

# The type of an event whose provider names none (Twilio status callbacks, unknown shapes).
DEFAULT_TYPE = "event"
_MAX_TYPE_LENGTH = 200


@dataclass(frozen=True)
class RawEvent:
    """A verified, stored delivery as a normalizer sees it. ``payload`` is the parsed body
    (JSON value, form fields, or ``None``); ``headers`` are the stored (non-sensitive) ones
    with lower-case names."""

    provider: str
    payload: Any
    headers: Mapping[str, str] = field(default_factory=dict)
    spec: WebhookSpec | None = None


@dataclass(frozen=True)
class Normalized:
    type: str
    data: Mapping[str, Any]
    occurred_at: datetime | None = None


Normalizer = Callable[[RawEvent], Normalized]

_REGISTRY: dict[str, Normalizer] = {}


def register(provider: str) -> Callable[[Normalizer], Normalizer]:
    """Decorator: ``fn`` normalizes deliveries of catalog provider ``provider``."""

    def add(fn: Normalizer) -> Normalizer:
        if provider in _REGISTRY:
            raise ValueError(f"a normalizer for {provider!r} is already registered")
        _REGISTRY[provider] = fn
        return fn

    return add


def normalizer_for(provider: str) -> Normalizer:
    return _REGISTRY.get(provider, default_normalizer)


def normalize(raw: RawEvent) -> Normalized:
    """Run the provider's normalizer; the type is always a short non-empty string and the
    data a mapping, whatever the normalizer returned."""
    result = normalizer_for(raw.provider)(raw)
    kind = result.type.strip()[:_MAX_TYPE_LENGTH] or DEFAULT_TYPE
    return Normalized(type=kind, data=result.data, occurred_at=result.occurred_at)


# -- helpers -------------------------------------------------------------------------------
def _as_data(value: Any) -> Mapping[str, Any]:
    """A mapping for ``TetherEvent.data``: a JSON object as is, anything else wrapped."""
    if isinstance(value, Mapping):
        return value
    if value is None:
        return {}
    return {"payload": value}


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _epoch(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _iso_utc(value: Any) -> datetime | None:
    """An ISO 8601 time; one without an offset is taken as UTC."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _get(payload: Any, name: str) -> Any:
    return payload.get(name) if isinstance(payload, Mapping) else None


# -- normalizers ---------------------------------------------------------------------------
def default_normalizer(raw: RawEvent) -> Normalized:
    """Type from the catalog's ``event_type_path`` (``event`` when absent), data = payload."""
    path = raw.spec.event_type_path if raw.spec is not None else None
    kind = field_text(path, raw.headers, raw.payload) or DEFAULT_TYPE
    return Normalized(type=kind, data=_as_data(raw.payload))


@register("stripe")
def _stripe(raw: RawEvent) -> Normalized:
    """``type`` (``invoice.paid``); data = ``data.object``; occurred at ``created``."""
    payload = raw.payload
    kind = _text(_get(payload, "type")) or DEFAULT_TYPE
    obj = _get(_get(payload, "data"), "object")
    return Normalized(
        type=kind,
        data=_as_data(obj if obj is not None else payload),
        occurred_at=_epoch(_get(payload, "created")),
    )


@register("github")
def _github(raw: RawEvent) -> Normalized:
    """``X-GitHub-Event`` plus the payload's ``action`` (``pull_request.opened``)."""
    event = _text(raw.headers.get("x-github-event")) or DEFAULT_TYPE
    action = _text(_get(raw.payload, "action"))
    return Normalized(type=f"{event}.{action}" if action else event, data=_as_data(raw.payload))


@register("shopify")
def _shopify(raw: RawEvent) -> Normalized:
    """The ``X-Shopify-Topic`` header (``orders/create``); data = the resource."""
    topic = _text(raw.headers.get("x-shopify-topic")) or DEFAULT_TYPE
    return Normalized(type=topic, data=_as_data(raw.payload))


@register("slack")
def _slack(raw: RawEvent) -> Normalized:
    """Events API: ``event.type`` (``message``), data = ``event``; other envelopes (an
    ``app_rate_limited``) by their top-level ``type``, whole but for ``token``: the app's
    verification token, the same in every workspace's events, is not the tenant's."""
    event = _get(raw.payload, "event")
    kind = _text(_get(event, "type")) or _text(_get(raw.payload, "type")) or DEFAULT_TYPE
    envelope = raw.payload
    if isinstance(envelope, Mapping) and "token" in envelope:
        envelope = {name: value for name, value in envelope.items() if name != "token"}
    return Normalized(
        type=kind,
        data=_as_data(event if isinstance(event, Mapping) else envelope),
        occurred_at=_epoch(_get(raw.payload, "event_time")),
    )


@register("xero")
def _xero(raw: RawEvent) -> Normalized:
    """One event of a Xero batch: ``<eventCategory>.<eventType>`` in lower case
    (``invoice.update``); data = the event (the resource is fetched by its ``resourceUrl``);
    occurred at ``eventDateUtc`` (UTC without an offset)."""
    category = _text(_get(raw.payload, "eventCategory"))
    action = _text(_get(raw.payload, "eventType"))
    kind = ".".join(part.lower() for part in (category, action) if part) or DEFAULT_TYPE
    return Normalized(
        type=kind,
        data=_as_data(raw.payload),
        occurred_at=_iso_utc(_get(raw.payload, "eventDateUtc")),
    )


@register("hubspot")
def _hubspot(raw: RawEvent) -> Normalized:
    """One event of a HubSpot batch: ``subscriptionType`` (``contact.creation``); occurred at
    ``occurredAt`` (epoch milliseconds)."""
    occurred = _get(raw.payload, "occurredAt")
    millis = occurred if isinstance(occurred, int) and not isinstance(occurred, bool) else None
    return Normalized(
        type=_text(_get(raw.payload, "subscriptionType")) or DEFAULT_TYPE,
        data=_as_data(raw.payload),
        occurred_at=_epoch(millis / 1000) if millis is not None else None,
    )


@register("webhook")
def _generic(raw: RawEvent) -> Normalized:
    """Generic inbound webhooks: the payload's ``type``; data = the whole payload (the sender
    chose its shape, so nothing is dropped)."""
    kind = _text(_get(raw.payload, "type")) or DEFAULT_TYPE
    return Normalized(type=kind, data=_as_data(raw.payload))
