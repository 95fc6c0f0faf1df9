"""The body ``oauth_start`` answers."""

from __future__ import annotations

from tether.api.schemas.body import Body, UtcTime
from tether.api.schemas.connections import WebhookUrl

__all__ = ["OAuthStarted"]


class OAuthStarted(Body):
    """``webhook``: the new connection's own webhook URL, when its provider gives one (the
    same rule as ``POST /connections``), shown this once; the callback stores it on the
    connection it creates."""

    omitted_when_none = frozenset({"webhook"})

    authorization_url: str
    state: str
    expires_at: UtcTime
    webhook: WebhookUrl | None = None
