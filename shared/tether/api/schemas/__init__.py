"""Response bodies as pydantic models: routes build their answers from these, and
``/openapi.json`` is generated from the same classes, so the contract cannot drift from what
the functions send.

What callers see of a record is an explicit allow-list of fields, never a model dump, so a
new secret-bearing field can never leak by default. Times are ISO 8601 with ``Z``
(:data:`UtcTime`); a field that is ``None`` is sent as ``null`` unless its model lists it in
``omitted_when_none`` (then it is left out, as the API has always done for it).

One module per function's bodies (:mod:`.body` holds what they share). The names are loaded
on first use (PEP 562): ``from tether.api.schemas import ConnectionList`` creates the
``connections`` bodies and no other, so a cold function pays for the classes it sends
(creating a model class costs a fraction of a millisecond even when its validator is
deferred), while the OpenAPI document still finds every body here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tether.lazy import lazy_names

if TYPE_CHECKING:
    from tether.api.schemas.body import Body, ErrorBody, ErrorDetail, UtcTime
    from tether.api.schemas.catalog import ProviderDetail, ProviderList, ProviderSummary
    from tether.api.schemas.connect_sessions import (
        ConnectSessionCreated,
        ConnectSessionView,
        EndUserView,
    )
    from tether.api.schemas.connections import (
        AuditEntry,
        AuditTrail,
        ConnectionEvents,
        ConnectionList,
        ConnectionView,
        DeliveryView,
        InboundEventView,
        LastTestView,
        StatusDetailView,
        WebhookUrl,
    )
    from tether.api.schemas.oauth import OAuthStarted
    from tether.api.schemas.settings import (
        NotifySecretView,
        NotifySettingsBody,
        RotatedNotifySecret,
    )
    from tether.api.schemas.tasks import TaskAnswer
    from tether.api.schemas.webhooks import WebhookAccepted, WebhookAnswer, WebhookChallenge

__all__ = [
    "AuditEntry",
    "AuditTrail",
    "Body",
    "ConnectSessionCreated",
    "ConnectSessionView",
    "ConnectionEvents",
    "ConnectionList",
    "ConnectionView",
    "DeliveryView",
    "EndUserView",
    "ErrorBody",
    "ErrorDetail",
    "InboundEventView",
    "LastTestView",
    "NotifySecretView",
    "NotifySettingsBody",
    "OAuthStarted",
    "ProviderDetail",
    "ProviderList",
    "ProviderSummary",
    "RotatedNotifySecret",
    "StatusDetailView",
    "TaskAnswer",
    "UtcTime",
    "WebhookAccepted",
    "WebhookAnswer",
    "WebhookChallenge",
    "WebhookUrl",
]

_HOME = {
    "Body": "body",
    "ErrorBody": "body",
    "ErrorDetail": "body",
    "UtcTime": "body",
    "ProviderDetail": "catalog",
    "ProviderList": "catalog",
    "ProviderSummary": "catalog",
    "ConnectSessionCreated": "connect_sessions",
    "ConnectSessionView": "connect_sessions",
    "EndUserView": "connect_sessions",
    "AuditEntry": "connections",
    "AuditTrail": "connections",
    "ConnectionEvents": "connections",
    "ConnectionList": "connections",
    "ConnectionView": "connections",
    "DeliveryView": "connections",
    "InboundEventView": "connections",
    "LastTestView": "connections",
    "StatusDetailView": "connections",
    "WebhookUrl": "connections",
    "OAuthStarted": "oauth",
    "NotifySecretView": "settings",
    "NotifySettingsBody": "settings",
    "RotatedNotifySecret": "settings",
    "TaskAnswer": "tasks",
    "WebhookAccepted": "webhooks",
    "WebhookAnswer": "webhooks",
    "WebhookChallenge": "webhooks",
}


__getattr__ = lazy_names(__name__, {name: f"{__name__}.{home}" for name, home in _HOME.items()})
